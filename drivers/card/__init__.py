"""Smart-card readers: CNIC cards read and verified through a swappable card profile (see docs/card-profile.md)."""
