"""The station with a MOSIP-SBI-style scanner: captures from a registered device verify a voter; a device that is
not in the station's registry is refused with a clear message."""
import pytest

from tests.support.stations import build_station
from drivers.fingerprint.sbi_simulator import SbiDeviceSimulator
from station.errors import DeviceUnavailable


@pytest.fixture
def simulator(station):
    with SbiDeviceSimulator(port=0, cache_dir=station.sim_dir / "fingers") as sim:
        yield sim


def test_registered_sbi_device_verifies_a_voter(station, station_home, simulator, voters, officer, tmp_path):
    from station.simulation.roll import finger_subject
    from station.roll import store as roll

    (tmp_path / "device.pem").write_bytes(simulator.certificate_pem)
    registry = tmp_path / "devices.toml"
    registry.write_text(f'[devices]\n"{simulator.serial}" = "device.pem"\n')
    sbi = build_station(station_home, station.config.database_url,
                        devices={"fingerprint": "mosip-sbi", "fingerprint_registry": str(registry),
                                 "fingerprint_port": simulator.port})
    try:
        voter = voters.take()
        with station.transaction() as s:
            seed = int(roll.get_meta(s, "synthetic_roll_seed"))
        simulator.present(finger_subject(seed, voter.cnic, voter.fingers[0]))
        view = sbi.polling.start_verification(officer, voter.cnic)
        view = sbi.polling.capture_fingerprint(officer, view.id)
        assert view.state == "VERIFIED", view
    finally:
        sbi.close()


def test_unregistered_sbi_device_is_refused(station, station_home, simulator, voters, officer, tmp_path):
    sbi = build_station(station_home, station.config.database_url,
                        devices={"fingerprint": "mosip-sbi", "fingerprint_registry": str(tmp_path / "none.toml"),
                                 "fingerprint_port": simulator.port})
    try:
        view = sbi.polling.start_verification(officer, voters.take().cnic)
        with pytest.raises(DeviceUnavailable, match="not registered"):
            sbi.polling.capture_fingerprint(officer, view.id)
    finally:
        sbi.close()
