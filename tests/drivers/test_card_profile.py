"""The cnic-v1 card profile through the in-process simulated reader: genuine cards, each failure with its own error."""
from __future__ import annotations

import sys
import threading

import pytest
from tests.support.card import (CARD_SIM_FIXTURE, FINGERPRINTS, HOLDER, WIFE, face_jpeg, issuer, make_card,
                          resigned_card, trusted)

from drivers import registry
from drivers.base import DeviceStatus
from drivers.card import tlv
from drivers.card.base import CardMonitor, CardRead, CardReader
from drivers.card.errors import (AlteredFile, BadSignature, CardError, CardRemoved, CloneSuspected, MalformedCard,
                                 UnknownIssuer, UnsupportedCard)
from drivers.card.profiles import cnic_v1
from drivers.card.simulated import SimulatedCardReader
from drivers.card.virtual import VirtualCard, VirtualCardFile
from drivers.errors import CaptureTimeout, DeviceError, DeviceNotAvailable, DeviceNotReady


@pytest.fixture
def reader():
    with SimulatedCardReader(CARD_SIM_FIXTURE) as device:
        yield device


def read(reader: SimulatedCardReader, card: bytes, **kw) -> CardRead:
    reader.insert(card)
    return reader.read_card(trusted_issuers=kw.pop("trusted_issuers", trusted()), timeout_s=1, **kw)


def test_genuine_card_reads_and_verifies(reader):
    result = read(reader, make_card())
    assert result.holder == HOLDER
    assert result.holder.name_ur == "محمد علی خان" and result.holder.relative_name_ur == "احمد رضا خان"
    assert result.face_jpeg == face_jpeg()
    assert result.fingerprints == FINGERPRINTS
    assert (result.passive_auth, result.active_auth) == ("ok", "ok")
    assert result.issuer == "CN=NADRA Test Issuer"
    assert result.read_ms > 0 and result.reader == "Simulated CNIC reader 0"
    assert "FMR" not in repr(result) and "face_jpeg" not in repr(result)  # no biometrics in logs or reprs


def test_husband_relation_and_card_without_face(reader):
    key, cert = issuer()
    from drivers.card.virtual import issue_card
    card = issue_card(WIFE, face_jpeg=None, fingerprints=[], issuer_key=key, issuer_cert=cert)
    result = read(reader, card)
    assert result.holder == WIFE and result.holder.relation == "husband" and result.holder.gender == "female"
    assert result.face_jpeg is None and result.fingerprints == ()


def test_several_trusted_issuers_and_the_right_one_is_named(reader):
    result = read(reader, make_card(issuer_name="Issuer B"), trusted_issuers=trusted("Issuer A", "Issuer B"))
    assert result.issuer == "CN=Issuer B"


FAILURES = [
    ("bad-signature", BadSignature, "signature does not verify"),
    ("altered-file", AlteredFile, "DG1 was altered"),
    ("clone", CloneSuspected, "active authentication"),
]


@pytest.mark.parametrize("tamper,error,words", FAILURES)
def test_tampered_cards_fail_with_their_own_error(reader, tamper, error, words):
    with pytest.raises(error, match=words) as info:
        read(reader, make_card(tamper))
    assert isinstance(info.value, CardError) and isinstance(info.value, DeviceError)
    if tamper == "altered-file":
        assert info.value.data_group == "DG1"


def test_unknown_issuer(reader):
    with pytest.raises(UnknownIssuer, match="Rogue Issuer.*not a trusted issuer"):
        read(reader, make_card(issuer_name="Rogue Issuer"))


def test_same_name_other_key_is_not_trusted(reader):
    """An issuer certificate with the trusted name but another key and serial is still unknown."""
    from drivers.card.virtual import make_test_issuer
    _, impostor_cert = make_test_issuer("NADRA Test Issuer")
    with pytest.raises(UnknownIssuer):
        read(reader, make_card(), trusted_issuers=[impostor_cert])


def test_card_pulled_mid_read(reader):
    inserted, removed = [], []
    done = threading.Event()

    class Observer:
        def cards_inserted(self, readers):
            inserted.extend(readers)

        def cards_removed(self, readers):
            removed.extend(readers)
            done.set()

    reader.inject_fault("card_removed")
    assert reader.pending_faults == ["card_removed"]
    reader.insert(make_card())
    reader.add_observer(Observer())
    with pytest.raises(CardRemoved, match="pulled out during the read"):
        reader.read_card(trusted_issuers=trusted(), timeout_s=1)
    assert reader.pending_faults == []
    assert done.wait(5) and removed == ["Simulated CNIC reader 0"]


def test_card_removed_by_hand_mid_read_is_detected(reader):
    card = make_card()
    seen = []

    def pull_on_fourth(apdu: bytes):
        seen.append(apdu)
        if len(seen) == 4:
            reader.remove()
        return original(apdu)

    reader.insert(card)
    chan = reader._connect("Simulated CNIC reader 0")
    original = chan.transmit
    with pytest.raises(CardRemoved):
        cnic_v1.read_card(pull_on_fourth, trusted())


def test_malformed_tlv_in_a_signed_file(reader):
    bad_dg1 = tlv.encode(0x61, tlv.encode(0x80, b"\x01") + b"\x81\x20short")
    with pytest.raises(MalformedCard, match="DG1 is malformed"):
        read(reader, resigned_card({0x0101: bad_dg1}))


def test_malformed_fields_in_a_signed_file(reader):
    fields = tlv.decode_fields(tlv.decode_one(cnic_v1.encode_dg1(HOLDER), 0x61))
    fields[0x87] = b"19841399"  # 13th month
    dg1 = tlv.encode(0x61, b"".join(tlv.encode(t, v) for t, v in fields.items()))
    with pytest.raises(MalformedCard, match="invalid date of birth"):
        read(reader, resigned_card({0x0101: dg1}))


def test_malformed_unsigned_file(reader):
    card = VirtualCardFile.from_bytes(make_card())
    files = {**card.files, cnic_v1.EF_COM: b"\x60\x05\x5C\x04\x61\x75\x63"}  # inner length runs past the end
    with pytest.raises(MalformedCard, match="EF.COM is malformed"):
        read(reader, VirtualCardFile(files=files, private_key_pem=card.private_key_pem).to_bytes())


def test_status_word_other_than_9000(reader):
    reader.inject_fault("status_word")
    with pytest.raises(MalformedCard, match="SW 6F00"):
        read(reader, make_card())


def test_missing_file_names_the_status_word(reader):
    card = VirtualCardFile.from_bytes(make_card())
    files = {fid: data for fid, data in card.files.items() if fid != 0x0101}
    with pytest.raises(MalformedCard, match=r"DG1 could not be selected \(SW 6A82 \(file not found\)\)"):
        read(reader, VirtualCardFile(files=files, private_key_pem=card.private_key_pem).to_bytes())


def test_unsupported_card(reader):
    card = VirtualCardFile.from_bytes(make_card())
    other = VirtualCardFile(files=card.files, private_key_pem=card.private_key_pem, aid=bytes.fromhex("A0000000031010"))
    with pytest.raises(UnsupportedCard, match="not a supported ID card.*A0000002471001.*6A82"):
        read(reader, other.to_bytes())


def test_every_failure_has_its_own_message(reader):
    messages = set()
    cards = [make_card(t) for t, _, _ in FAILURES] + [make_card(issuer_name="Rogue Issuer")]
    for card in cards:
        with pytest.raises(CardError) as info:
            read(reader, card)
        messages.add(str(info.value))
    reader.inject_fault("card_removed")
    with pytest.raises(CardError) as info:
        read(reader, make_card())
    messages.add(str(info.value))
    assert len(messages) == 5 and all(len(m.splitlines()) == 1 for m in messages)


def test_no_card_times_out(reader):
    with pytest.raises(CaptureTimeout, match="no card in the reader"):
        reader.read_card(trusted_issuers=trusted(), timeout_s=0.05)


def test_generic_faults_and_status(reader):
    reader.inject_fault("not_ready")
    assert reader.info().status is DeviceStatus.NOT_READY
    with pytest.raises(DeviceNotReady):
        read(reader, make_card())
    assert reader.info().status is DeviceStatus.READY
    with pytest.raises(ValueError, match="unknown fault"):
        reader.inject_fault("melt")
    reader.inject_fault("timeout", 2)
    reader.inject_fault("none")
    assert reader.pending_faults == []


def test_second_slot_and_card_waiting(reader):
    slot = "Simulated CNIC reader 1"
    threading.Timer(0.05, reader.insert, args=(make_card(face=False),), kwargs={"reader": slot}).start()
    result = reader.read_card(trusted_issuers=trusted(), timeout_s=5, reader=slot)
    assert result.reader == slot and result.face_jpeg is None


def test_faults_from_device_file(tmp_path):
    fixture = tmp_path / "card.toml"
    fixture.write_text(CARD_SIM_FIXTURE.read_text().replace("faults = []", 'faults = [{fault = "card_removed"}]'))
    with SimulatedCardReader(fixture) as device:
        assert device.pending_faults == ["card_removed"]
        assert device.info().serial == "SIM-CARD-0001" and device.info().kind == "card"
        assert device.list_readers() == ["Simulated CNIC reader 0", "Simulated CNIC reader 1"]


def test_registry_knows_both_backends():
    device = registry.open_device("card", "sim", fixture=CARD_SIM_FIXTURE)
    assert isinstance(device, CardReader) and device.info().device_id == "sim:SIM-CARD-0001"
    device.close()
    assert issubclass(registry.backend_class("card", "pcsc"), CardReader)


def test_missing_pyscard_is_device_not_available(monkeypatch):
    from drivers.card import pcsc
    monkeypatch.setitem(sys.modules, "smartcard", None)
    with pytest.raises(DeviceNotAvailable, match="pyscard is not installed"):
        pcsc.PcscCardReader()


def test_no_pcsc_service_is_device_not_available(monkeypatch):
    from drivers.card import pcsc

    class NoService:
        SCARD_E_NOT_TRANSACTED = 0x80100016
        SCARD_W_REMOVED_CARD = SCARD_E_NO_SMARTCARD = SCARD_W_RESET_CARD = 0x80100069
        SCARD_W_UNPOWERED_CARD = SCARD_W_UNRESPONSIVE_CARD = 0x80100067
        SCARD_E_NO_SERVICE, SCARD_E_SERVICE_STOPPED, SCARD_S_SUCCESS, SCARD_SCOPE_USER = 0x8010001D, 0x8010001E, 0, 0

        @staticmethod
        def SCardEstablishContext(scope):
            return 0x8010001D, 0

    monkeypatch.setattr(pcsc, "_scard", lambda: NoService)
    with pytest.raises(DeviceNotAvailable, match=r"^PC/SC service \(pcscd\) is not running$"):
        pcsc.PcscCardReader()


def test_monitor_reports_differences_from_an_injected_listing():
    present: list[str] = []
    events = []

    class Observer:
        def cards_inserted(self, readers):
            events.append(("in", readers))

        def cards_removed(self, readers):
            events.append(("out", readers))

    monitor = CardMonitor(lambda: present)
    first = Observer()
    monitor.add_observer(first, start_thread=False)
    present.append("A")
    assert monitor.poll_once() == (["A"], [])
    present[:] = ["B"]
    monitor.poll_once()
    late = Observer()
    monitor.add_observer(late, start_thread=False)  # hears the cards already present
    present.clear()
    monitor.poll_once()
    assert events == [("in", ["A"]), ("out", ["A"]), ("in", ["B"]), ("in", ["B"]), ("out", ["B"]), ("out", ["B"])]
    monitor.remove_observer(first)
    monitor.remove_observer(late)
    assert monitor.observers == []


def test_monitors_are_independent():
    """No hidden singleton: two monitors with different listings do not see each other's cards."""
    a, b = CardMonitor(lambda: ["X"]), CardMonitor(lambda: [])
    assert a.poll_once() == (["X"], []) and b.poll_once() == ([], [])


def test_virtual_card_answers_iso_7816_errors():
    card = VirtualCard(make_card(face=False))
    assert card.answer(b"\x80\xA4\x04\x0C") [-2:] == b"\x6E\x00"
    assert card.answer(b"\x00\xCA\x00\x00\x00")[-2:] == b"\x6D\x00"
    assert card.answer(b"\x00\xB0\x00\x00\x10")[-2:] == b"\x69\x86"  # no file selected
    assert card.answer(b"\x00\xA4\x04\x0C\x07" + cnic_v1.AID)[-2:] == b"\x90\x00"
    assert card.answer(b"\x00\xA4\x02\x0C\x02\x01\x1E")[-2:] == b"\x90\x00"
    com = card.card.files[0x011E]
    assert card.answer(b"\x00\xB0\x00\x00\x00") == com + b"\x62\x82"  # short file: end reached
    assert card.answer(bytes([0, 0xB0, 0, len(com), 1]))[-2:] == b"\x6B\x00"
    assert card.answer(b"\x00\x88\x00\x00\x08" + bytes(8) + b"\x00")[-2:] == b"\x90\x00"


def test_card_file_round_trip_and_rejects_garbage():
    raw = make_card(face=False)
    card = VirtualCardFile.from_bytes(raw)
    assert VirtualCardFile.from_bytes(card.to_bytes()) == card
    assert b"PRIVATE KEY" in raw and card.profile == "cnic-v1"
    with pytest.raises(ValueError, match="not a virtual card file"):
        VirtualCardFile.from_bytes(b'{"format": "other"}')
    with pytest.raises(ValueError, match="unknown tamper"):
        make_card("scratched")
