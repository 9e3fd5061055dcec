"""Running one `station` sub-command in-process against a given STATION_HOME (test profile)."""
from __future__ import annotations

from pathlib import Path

import click

from station.cli.main import Context


def cli_for(command: click.Command, home: Path) -> click.Group:
    @click.group()
    @click.pass_context
    def root(c):
        c.obj = Context("test", str(home))

    root.add_command(command)
    return root


def database_env(make_database_url) -> dict[str, str]:
    """The environment that puts a command-line run's station on the PostgreSQL pass's server (a fresh database
    from tests/conftest.py's factory); on the SQLite pass nothing, so the home keeps its own station.db."""
    import os

    if not os.environ.get("STATION_TEST_DATABASE_URL"):
        return {}
    return {"STATION_DATABASE__URL": make_database_url()}
