"""Power sources: the laptop's battery and mains, read through UPower (``upower.py``) or simulated (``simulated.py``)."""
