"""From registration to the roll: a centre's pending voters go to the commission in a signed, encrypted file; the
commission searches them 1:N against the master roll (a person registered at two centres is held), admits the others
under a new revision, and the next roll package makes them active voters at the centre."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from station.db.models import Voter
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from station.audit.bundle import held_commission_certificate
from station.audit.identity import CERTIFICATE_FILE, ROLE_CENTRE, ROLE_STATION, signing_request
from station.packages.crypto import (create_commission_certificate, create_commission_key, issue_certificate,
                                     load_commission_certificate, load_commission_key, load_package_key, public_pem)
from station.packages.targets import add_target
from station.registration.dedup import SearchThresholds
from station.registration.transfer import RegistrationsRejected, admit_registrations, export_registrations
from station.roll.store import get_meta
from station.roll.changes import start_revisions
from station.roll.content_hash import roll_content_hash
from station.packages.build import build_package
from station.packages.verify import install_trust
from station.security.users import Principal
from tests.support.stations import ROLL_SEED, build_station

pytestmark = pytest.mark.slow

OFFICER = Principal("clerk", "registration_officer")


def person_data(gender: str = "male") -> dict:
    return {"name_en": "New Voter", "relation": "father", "relative_name_en": "Father", "gender": gender,
            "date_of_birth": "1999-02-03", "address_en": "Bagh"}


@pytest.fixture(scope="module")
def commission(tmp_path_factory, make_database_url):
    st = build_station(tmp_path_factory.mktemp("commission"), make_database_url(), station={"id": "COMMISSION"},
                       enrollment={"face_required": False})
    st.init()
    st.synthesize_roll(10, ROLL_SEED)
    create_commission_key(st.config.keys_dir)
    create_commission_certificate(st.config.keys_dir)  # keys/commission.crt: the anchor `roll admit` holds
    with st.transaction() as s:
        start_revisions(s)
    yield st
    st.close()


def package(commission, station_id: str, base: int | None = None) -> bytes:
    with commission.transaction() as s:
        return build_package(s, commission.cipher, load_commission_key(commission.config.keys_dir), station_id,
                             base=base, log_signer=commission.log_signer).data


def version(st) -> int:
    with st.transaction() as s:
        return int(get_meta(s, "roll_version") or 0)


@pytest.fixture(scope="module")
def centre_factory(tmp_path_factory, make_database_url, commission):
    made = []

    def make(station_id: str, polling_station: str, role: str | None = ROLE_CENTRE):
        st = build_station(tmp_path_factory.mktemp(station_id), make_database_url(),
                           station={"id": station_id, "polling_station": polling_station},
                           enrollment={"face_required": False})
        st.init()
        if role:  # `station identity request` -> `roll add-centre --request` -> `station identity install`
            certify(commission, st, role)
        install_trust(st.config, public_pem(load_commission_key(commission.config.keys_dir).public_key()))
        with commission.transaction() as s:
            add_target(s, station_id, polling_station, load_package_key(st.config.keys_dir).public_key())
        st.packages.import_package(package(commission, station_id))
        made.append(st)
        return st

    yield make
    for st in made:
        st.close()


def certify(commission, st, role: str) -> None:
    keys = commission.config.keys_dir
    request = x509.load_pem_x509_csr(signing_request(st.config.keys_dir, st.config.station.id))
    cert = issue_certificate(load_commission_key(keys), load_commission_certificate(keys), request,
                             st.config.station.id, role)
    (st.config.keys_dir / CERTIFICATE_FILE).write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def register(st, person: str, cnic: str):
    service = st.registration
    view = service.start(OFFICER, cnic, person_data())
    for finger in service.settings.fingers:
        st.steering.present_person_finger(OFFICER, person, finger)
        view = service.capture_finger(OFFICER, view.id, finger)
        while finger in view.missing:
            view = service.capture_finger(OFFICER, view.id, finger)
    return service.submit(OFFICER, view.id)


def commission_recipient(commission) -> bytes:
    return public_pem(load_package_key(commission.config.keys_dir).public_key())


def export(st, recipient_pem: bytes, out):
    """A centre's export, with the dependencies the CLI gives it."""
    return export_registrations(recipient_pem, out, transaction=st.transaction, cipher=st.cipher,
                                signer=st.log_signer, keys_dir=st.config.keys_dir)


def admit(st, data: bytes):
    """The commission's admission, with the dependencies the CLI gives it."""
    config = st.config
    return admit_registrations(data, transaction=st.transaction, cipher=st.cipher, matcher=st.fingerprint_matcher,
                               thresholds=SearchThresholds.from_config(config), signer=st.log_signer,
                               package_key=load_package_key(config.keys_dir),
                               commission_cert=x509.load_pem_x509_certificate(
                                   held_commission_certificate(config).read_bytes()))


def test_registrations_reach_the_roll_and_a_second_centre_duplicate_is_held(commission, centre_factory, tmp_path):
    centre = centre_factory("CENTRE-1", "PS-001")
    first = [register(centre, "ayesha-brother", "84001-0000001-1"), register(centre, "bilal", "84001-0000003-1")]
    assert [v.state for v in first] == ["ENROLLED", "ENROLLED"]
    out = tmp_path / "centre1.reg"
    summary = export(centre, commission_recipient(commission), out)
    assert summary["registrations"] == 2 and out.stat().st_mode & 0o777 == 0o600

    result = admit(commission, out.read_bytes())
    assert result.station == "CENTRE-1" and sorted(result.admitted) == ["84001-0000001-1", "84001-0000003-1"]
    assert result.held == [] and result.revision is not None
    again = admit(commission, out.read_bytes())
    assert again.admitted == [] and sorted(again.already_on_roll) == sorted(result.admitted)

    centre.packages.import_package(package(commission, "CENTRE-1", base=version(centre)))
    with centre.transaction() as s:
        statuses = dict(s.execute(select(Voter.cnic, Voter.status).where(Voter.cnic.in_(result.admitted))).all())
        centre_hash = roll_content_hash(s, centre.cipher, polling_station="PS-001")
    assert statuses == {c: "active" for c in result.admitted}
    with commission.transaction() as s:
        assert roll_content_hash(s, commission.cipher, polling_station="PS-001") == centre_hash

    other = centre_factory("CENTRE-2", "PS-002")
    twice = register(other, "ayesha-brother", "84002-0000005-1")
    assert twice.state == "ENROLLED", "centre 2 has never seen this person"
    out2 = tmp_path / "centre2.reg"
    export(other, commission_recipient(commission), out2)
    held = admit(commission, out2.read_bytes())
    assert held.admitted == [] and [h["cnic"] for h in held.held] == ["84002-0000005-1"]
    assert [c["cnic"] for c in held.held[0]["candidates"]] == ["84001-0000001-1"]
    with commission.transaction() as s:
        assert s.scalar(select(Voter).where(Voter.cnic == "84002-0000005-1")) is None


def test_an_altered_or_misaddressed_registrations_file_is_refused_before_anything_changes(commission, centre_factory,
                                                                                        tmp_path):
    centre = centre_factory("CENTRE-3", "PS-001")
    register(centre, "chaudhry", "84003-0000007-1")
    out = tmp_path / "centre3.reg"
    export(centre, commission_recipient(commission), out)
    data = out.read_bytes()
    with commission.transaction() as s:
        before = roll_content_hash(s, commission.cipher)
    for position in (30, len(data) // 2, len(data) - 10):
        flipped = bytearray(data)
        flipped[position] ^= 0x01
        with pytest.raises(RegistrationsRejected):
            admit(commission, bytes(flipped))
    with pytest.raises(RegistrationsRejected, match="cut short|signature"):
        admit(commission, data[:-100])
    with pytest.raises(RegistrationsRejected, match="not a registrations file"):
        admit(commission, b"garbage" * 10)
    wrong = tmp_path / "wrong.reg"
    export(centre, public_pem(load_package_key(centre.config.keys_dir).public_key()), wrong)
    with pytest.raises(RegistrationsRejected, match="another commission key"):
        admit(commission, wrong.read_bytes())
    with commission.transaction() as s:
        assert roll_content_hash(s, commission.cipher) == before


def test_registrations_from_a_centre_the_commission_never_certified_are_refused(commission, centre_factory,
                                                                                 tmp_path):
    """Issue 16: a made-up centre signs with a fresh key (self-signed certificate, or one from the attacker's own
    "commission" carried along) and encrypts to the commission's public package key; a certified polling station
    is not a registration centre either. Nothing is admitted."""
    from tests.support.pki import Commission

    with commission.transaction() as s:
        before = roll_content_hash(s, commission.cipher)
    evil = centre_factory("EVIL-CENTRE-99", "PS-001", role=None)  # self-signed
    register(evil, "invented-voter", "84009-0000009-1")
    out = tmp_path / "evil.reg"
    export(evil, commission_recipient(commission), out)
    with pytest.raises(RegistrationsRejected, match="self-signed, not issued by the commission"):
        admit(commission, out.read_bytes())
    fake = Commission()
    request = x509.load_pem_x509_csr(signing_request(evil.config.keys_dir, "EVIL-CENTRE-99"))
    (evil.config.keys_dir / CERTIFICATE_FILE).write_bytes(issue_certificate(
        fake.key, fake.cert, request, "EVIL-CENTRE-99", ROLE_CENTRE).public_bytes(serialization.Encoding.PEM))
    export(evil, commission_recipient(commission), out)
    with pytest.raises(RegistrationsRejected, match="issued by another key"):
        admit(commission, out.read_bytes())
    station = centre_factory("POLLING-7", "PS-001", role=ROLE_STATION)
    register(station, "someone", "84007-0000011-1")
    export(station, commission_recipient(commission), out)
    with pytest.raises(RegistrationsRejected, match="not as 'voter-station registration centre'"):
        admit(commission, out.read_bytes())
    config = commission.config
    with pytest.raises(RegistrationsRejected, match="integrity only"):
        admit_registrations(out.read_bytes(), transaction=commission.transaction, cipher=commission.cipher,
                            matcher=commission.fingerprint_matcher, thresholds=SearchThresholds.from_config(config),
                            signer=commission.log_signer, package_key=load_package_key(config.keys_dir),
                            commission_cert=None)
    with commission.transaction() as s:
        assert roll_content_hash(s, commission.cipher) == before
        assert s.scalar(select(Voter).where(Voter.cnic.in_(["84009-0000009-1", "84007-0000011-1"]))) is None
