"""The drivers' one error tree.

    DeviceError
     +-- DeviceNotAvailable     unknown backend, vendor library missing, no such device
     +-- DeviceNotReady         the device is present but not ready (warming up, not calibrated)
     +-- DeviceBusy             another capture is in progress
     +-- CaptureTimeout         nothing was presented before the timeout (no finger, no frame)
     +-- DeviceDisconnected     the device went away (before or during a capture)
     +-- DeviceClosed           the driver object was closed
"""
from __future__ import annotations


class DeviceError(Exception):
    """Root of every device failure; the message is meant for the operator."""


class DeviceNotAvailable(DeviceError):
    pass


class DeviceNotReady(DeviceError):
    pass


class DeviceBusy(DeviceError):
    pass


class CaptureTimeout(DeviceError):
    pass


class DeviceDisconnected(DeviceError):
    pass


class DeviceClosed(DeviceError):
    pass
