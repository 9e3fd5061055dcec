"""The configured devices, opened once (``opener.DeviceOpener``), and the technician's tools (``technician``)."""
