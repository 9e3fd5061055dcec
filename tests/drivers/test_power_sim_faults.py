"""The simulated battery under scripted faults: a change asked of a faulty device is refused whole (nothing applied),
and the device file's own faults wait for the first reading rather than failing the device's opening."""
import pytest

from drivers.errors import CaptureTimeout, DeviceDisconnected
from drivers.registry import open_device
from tests.support.paths import REPO

SIM_FIXTURE = REPO / "fixtures" / "devices" / "power-sim.toml"


@pytest.mark.parametrize("fault, error", [("disconnect", DeviceDisconnected), ("timeout", CaptureTimeout)])
def test_a_change_under_a_fault_raises_and_changes_nothing(fault, error):
    source = open_device("power", "sim", fixture=str(SIM_FIXTURE))
    before = source.read()
    source.inject_fault(fault, 2)
    for _ in range(2):
        with pytest.raises(error):
            source.set(on_battery=True, percentage=10.0)
    assert source.pending_faults == []
    assert source.read() == before  # still on the mains, full: the refused changes left no trace
    after = source.set(on_battery=True, percentage=10.0)  # the fault is over: the same change now takes
    assert (after.on_battery, after.percentage) == (True, 10.0) and source.read() == after


def test_an_invalid_change_under_a_fault_is_refused_before_the_fault_is_taken():
    source = open_device("power", "sim", fixture=str(SIM_FIXTURE))
    source.inject_fault("disconnect")
    with pytest.raises(ValueError):
        source.set(percentage=150)
    assert source.pending_faults == ["disconnect"]


def test_faults_of_the_device_file_wait_for_the_first_reading(tmp_path):
    fixture = tmp_path / "power-faulty.toml"
    fixture.write_text(SIM_FIXTURE.read_text().replace("faults = []", 'faults = [{fault = "disconnect", count = 1}]')
                       .replace("on_battery = false", "on_battery = true").replace("percentage = 100.0",
                                                                                   "percentage = 55.0"))
    source = open_device("power", "sim", fixture=str(fixture))  # opening reads nothing: no fault taken
    assert source.pending_faults == ["disconnect"]
    with pytest.raises(DeviceDisconnected):
        source.read()
    reading = source.read()
    assert (reading.on_battery, reading.percentage) == (True, 55.0)
