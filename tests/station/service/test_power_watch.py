"""The battery watch (station/service/power.py): the events' rules on hand-built readings, and the station's answer
on the simulated battery: the match log entry, the backup to the backup disk and the checkpoint, and the officer's
screen."""
import re

import pytest

from drivers.power.base import PowerReading
from station.backup.format import create_backup_key
from station.audit import log as matchlog
from station.service import power
from tests.support.stations import PASSWORDS, build_station


def reading(on_battery: bool, percentage: float | None) -> PowerReading:
    return PowerReading(on_battery=on_battery, battery_present=percentage is not None, percentage=percentage,
                        state="discharging" if on_battery else "charging", time_to_empty_s=None)


@pytest.mark.parametrize("previous, was_low, now, expected, low_after", [
    (None, False, reading(False, 100), [], False),                           # start on mains: nothing to say
    (None, False, reading(True, 80), ["on_battery"], False),                  # start on battery: said once
    (reading(False, 90), False, reading(True, 90), ["on_battery"], False),    # the mains fails
    (reading(True, 26), False, reading(True, 24.9), ["battery_low"], True),   # crosses the level (25)
    (reading(True, 24), True, reading(True, 27), [], True),                   # back above, within the hysteresis
    (reading(True, 24), True, reading(True, 30.5), [], False),                # well above: no longer low
    (reading(True, 31), False, reading(True, 20), ["battery_low"], True),     # ...and low again is said again
    (reading(True, 10), True, reading(False, 10), ["on_mains"], False),       # the mains is back
    (reading(False, 10), False, reading(True, 10), ["on_battery", "battery_low"], True),  # fails on a flat battery
    (None, False, reading(True, None), ["on_battery"], False),                # no charge known: never "low"
])
def test_events_between_readings(previous, was_low, now, expected, low_after):
    assert power.events_between(previous, was_low, now, 25.0) == (expected, low_after)


@pytest.fixture
def station(tmp_path, make_database_url):
    backups = tmp_path / "backup-disk"
    backups.mkdir()
    st = build_station(tmp_path / "home", make_database_url(), backup={"dir": str(backups)})
    st.init()
    create_backup_key(st.config.keys_dir, "a backup passphrase", scrypt_n=2 ** 12)  # the backups' key (cheap cost)
    st.accounts.add_user("officer", PASSWORDS["officer"][1], "polling_officer")
    yield st
    st.close()


def _entries(station, event):
    """The signed bodies of the log's entries of ``event``."""
    with station.transaction() as s:
        return [b for b in matchlog.bodies(s) if b.get("event") == event]


def test_the_mains_failing_then_a_low_battery_are_logged_backed_up_and_checkpointed(station, tmp_path):
    battery = station.devices.open("power")
    station.power.check()
    assert station.power.status().reading.percentage == 100.0 and not station.power.status().warn
    assert _entries(station, "power_event") == []

    battery.set(on_battery=True, percentage=60)
    station.power.check()
    battery.set(percentage=20)
    station.power.check()
    station.power.check()  # nothing new: said once
    battery.set(on_battery=False)
    station.power.check()

    events = _entries(station, "power_event")
    assert [e["outcome"] for e in events] == ["on_battery", "battery_low", "on_mains"]
    assert events[1]["details"]["percentage"] == 20.0
    taken = _entries(station, "backup_taken")
    assert [e["details"]["reason"] for e in taken] == ["power", "power"]  # on battery, and low; not on the mains' return
    assert len(list((tmp_path / "backup-disk").glob("*-power.vsb"))) == 2
    with station.transaction() as s:
        from station.db.models import LogCheckpoint

        reasons = [c.reason for c in s.query(LogCheckpoint).order_by(LogCheckpoint.tree_size)]
    assert reasons.count("power") == 2


def test_an_unreadable_power_source_is_shown_and_serving_goes_on(station):
    battery = station.devices.open("power")
    battery.inject_fault("disconnect")
    station.power.check()
    status = station.power.status()
    assert status.reading is None and "disconnected" in status.error and not status.warn
    station.power.check()
    assert station.power.status().error is None


def test_the_officer_sees_the_battery_and_a_warning_when_it_is_low(station):
    from api import create_app

    client = create_app(station).test_client()
    page = client.get("/").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    client.post("/login", data={"username": "officer", "password": PASSWORDS["officer"][1], "csrf_token": csrf})
    station.power.check()
    page = client.get("/next").get_data(as_text=True)
    assert 'id="battery"' in page and "100%" in page and 'id="power-warning"' not in page

    station.devices.open("power").set(on_battery=True, percentage=12)
    station.power.check()
    page = client.get("/next").get_data(as_text=True)
    assert "12%" in page and 'id="power-warning"' in page and "battery is low" in page
    urdu = client.get("/next?lang=ur").get_data(as_text=True)
    assert "بیٹری کم ہے" in urdu


def test_the_api_pulls_the_simulated_mains_and_reports_the_battery(station):
    from api import create_app

    station.accounts.add_user("tech", PASSWORDS["tech"][1], "technician")
    client = create_app(station).test_client()

    def bearer(user):
        token = client.post("/api/auth/login", json={"username": user, "password": PASSWORDS[user][1]}).json["token"]
        return {"Authorization": f"Bearer {token}"}

    officer, tech = bearer("officer"), bearer("tech")
    before = client.get("/api/power", headers=officer)
    assert before.status_code == 200 and before.json["reading"] is None  # not read yet: the watch is not running
    pulled = client.post("/api/sim/power", json={"on_battery": True, "percentage": 19.5}, headers=tech)
    assert pulled.status_code == 200 and pulled.json["power"]["on_battery"] is True
    now = client.get("/api/power", headers=officer).json
    assert now["reading"]["percentage"] == 19.5 and now["low"] and now["warn"] and now["low_percent"] == 25
    assert [e["outcome"] for e in _entries(station, "power_event")] == ["on_battery", "battery_low"]
    for bad in ({"percentage": 150}, {"on_battery": "yes"}, {"volts": 12}):
        answer = client.post("/api/sim/power", json=bad, headers=tech)
        assert answer.status_code == 400, (bad, answer.json)
    assert client.get("/api/power").status_code == 401
