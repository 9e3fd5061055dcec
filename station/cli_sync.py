"""``station sync export`` (a station's results as one signed file) and ``station central merge`` (many stations'
files into the commission's central database)."""
from __future__ import annotations

import click


@click.group()
def sync() -> None:
    """Results of this station for the commission."""


@click.group()
def central() -> None:
    """The commission's central results database."""
