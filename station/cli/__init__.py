"""The ``station`` command: one module per command group, assembled once in ``station.cli.main``."""
