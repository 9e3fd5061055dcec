"""Running as a service: the systemd installation (``install``) and the production server (``serving``)."""
