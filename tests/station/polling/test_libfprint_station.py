"""The station with devices.fingerprint = "libfprint": a print captured through the real libfprint's virtual image
reader (tests/support/fprint_virtual.py) reaches the verification; the enrolled voter's finger verifies, another
person's does not."""
from drivers.fingerprint.simulated import MasterCache
from drivers.fingerprint.synthetic import render_impression
from tests.support.fprint_virtual import virtual_image_reader
from tests.support.stations import build_station


def test_a_capture_through_libfprint_verifies_the_enrolled_voter(station, station_home, voters, officer, monkeypatch):
    from station.roll import store as roll
    from station.simulation.roll import finger_subject

    with station.transaction() as s:
        seed = int(roll.get_meta(s, "synthetic_roll_seed"))
    voter, other = voters.take(), voters.take()
    masters = MasterCache(station.sim_dir / "fingers")  # the synthetic roll's fingers (its references: impression 0)

    def touch(person, impression):
        return render_impression(masters.get(finger_subject(seed, person.cnic, voter.fingers[0])),
                                 impression=impression)

    with virtual_image_reader(monkeypatch) as client:
        lf = build_station(station_home, station.config.database_url,
                           devices={"fingerprint": "libfprint", "fingerprint_libfprint_device": "virtual_image"})
        try:
            view = lf.polling.start_verification(officer, voter.cnic)
            assert view.next_step == "fingerprint"

            client.send_image_later(touch(other, 1), delay_s=0.5)  # the reader opens on the first capture
            view = lf.polling.capture_fingerprint(officer, view.id)
            assert view.state != "VERIFIED" and view.last_attempt.score < view.last_attempt.threshold

            client.send_image_later(touch(voter, 2))
            view = lf.polling.capture_fingerprint(officer, view.id)
            assert view.state == "VERIFIED" and view.decided_by == "fingerprint", view
            assert view.last_attempt.score >= view.last_attempt.threshold
            assert lf.devices.open("fingerprint").info().device_id == "libfprint:virtual_image:0"
        finally:
            lf.close()
