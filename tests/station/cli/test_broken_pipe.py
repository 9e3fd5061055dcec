"""A command whose reader stops reading (``station roll list | head -1``) ends quietly with 141 (128 + SIGPIPE, as a
shell reports a tool killed by it), not "error: Broken pipe" and the REFUSED code of a station that refused."""
from __future__ import annotations

import subprocess
import sys

from station.cli.common import ExitCode

LOUD = """
import click
from station.cli.common import user_errors
with user_errors():
    for n in range(200000):
        click.echo(f"voter {n} " + "x" * 60)
"""


def test_a_reader_that_stops_reading_ends_the_command_quietly():
    pipeline = subprocess.run(["bash", "-o", "pipefail", "-c", f'"{sys.executable}" -c \'{LOUD}\' | head -1'],
                              capture_output=True, text=True, timeout=120)
    assert pipeline.stdout == "voter 0 " + "x" * 60 + "\n"
    assert pipeline.stderr == "" and pipeline.returncode == ExitCode.BROKEN_PIPE == 141
