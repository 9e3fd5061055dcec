"""``station backup create|verify|restore``: consistent, encrypted, signed snapshots of the station."""
from __future__ import annotations

import click


@click.group()
def backup() -> None:
    """Backups of the station's database, keys and log."""
