"""Power sources: UPower on a (private) system bus with a mock upowerd, and the simulated battery."""
import pytest

from drivers.errors import DeviceNotAvailable, DeviceNotReady
from drivers.power.simulated import SimulatedPowerSource
from drivers.power.upower import UPowerSource
from drivers.registry import open_device
from tests.support.paths import REPO
from tests.support.upower_mock import private_bus, upower_mock

SIM_FIXTURE = REPO / "fixtures" / "devices" / "power-sim.toml"


def test_upower_reads_mains_charge_state_and_time_left(monkeypatch):
    with upower_mock(monkeypatch, on_battery=True) as upower:
        upower.set_battery(41.5, "discharging", time_to_empty_s=5400)
        source = open_device("power", "upower")
        reading = source.read()
        assert (reading.on_battery, reading.battery_present, reading.percentage, reading.state,
                reading.time_to_empty_s) == (True, True, 41.5, "discharging", 5400)
        assert source.info().backend == "upower" and source.info().firmware  # upowerd's version

        upower.set_on_battery(False)  # the mains comes back
        upower.set_battery(42.0, "charging")
        reading = source.read()
        assert (reading.on_battery, reading.state, reading.time_to_empty_s) == (False, "charging", None)
        source.close()


def test_upower_without_a_battery_reports_none_rather_than_zero(monkeypatch):
    with upower_mock(monkeypatch) as upower:
        upower.set_battery(0.0, "charging", present=False)  # a desktop: UPower's display device has no battery
        reading = UPowerSource().read()
        assert not reading.battery_present and reading.percentage is None and not reading.on_battery


def test_upower_absent_is_a_device_error_naming_it(monkeypatch):
    with private_bus() as address:  # a bus with nobody owning org.freedesktop.UPower
        monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", address)
        with pytest.raises(DeviceNotAvailable, match="UPower"):
            UPowerSource()
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/nonexistent/bus")
    with pytest.raises(DeviceNotAvailable, match="D-Bus"):
        UPowerSource()


def test_the_simulated_battery_is_set_from_outside_and_fails_on_a_scripted_fault():
    source = open_device("power", "sim", fixture=str(SIM_FIXTURE))
    first = source.read()
    assert (first.on_battery, first.percentage, first.state) == (False, 100.0, "fully-charged")
    after = source.set(on_battery=True, percentage=18.0)
    assert (after.on_battery, after.percentage, after.state) == (True, 18.0, "discharging")
    assert source.read() == after
    with pytest.raises(ValueError):
        source.set(percentage=101)
    source.inject_fault("not_ready")
    with pytest.raises(DeviceNotReady):
        source.read()
    assert source.read() == after
    assert isinstance(source, SimulatedPowerSource)
