"""The station's domain, in rooms (docs/architecture.md): ``runtime`` builds every service from ``config``; the
API and the ``station`` command call them."""
