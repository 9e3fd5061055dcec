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
