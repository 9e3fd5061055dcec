"""``station roll package|import|hash``: signed, encrypted roll packages from the commission to its stations."""
from __future__ import annotations

import click


def register(roll_group: click.Group) -> None:
    """Add this module's commands to the ``station roll`` group."""
