"""``station devices list|test|capture``: technician tools for the configured devices."""
from __future__ import annotations

import json
import sys

import click

from station.cli.common import Context, ExitCode, emit, emit_rows, fail, handle_errors, json_option, pass_ctx


@click.group()
def devices() -> None:
    """Technician tools for the configured devices."""


@devices.command("list")
@pass_ctx
@handle_errors
def devices_list(ctx: Context) -> None:
    """Every configured device with backend, status and serial; a missing library or device is reported, not fatal."""

    emit_rows(ctx.station().technician.list_devices(),
              lambda row: f"{row['kind']:<12} {row['backend']:<10} {row['status']:<13} {row.get('serial') or ''} "
                          f"{row.get('error') or ''}")


@devices.command("test")
@click.argument("kind", type=click.Choice(["fingerprint", "camera", "card", "power"]))
@click.option("--captures", type=click.IntRange(1, 100), default=5, show_default=True)
@click.option("--inject", "fault", default=None, help="simulated devices: queue this fault first (not_ready, busy, timeout, disconnect)")
@json_option
@pass_ctx
@handle_errors
def devices_test(ctx: Context, kind: str, captures: int, fault: str | None, as_json: bool) -> None:
    """Open a device, capture a few times, report timings and quality (indented JSON; one line with --json). Exit 1
    when every capture failed."""

    report = ctx.station().technician.test_device(kind, captures=captures, fault=fault)
    click.echo(json.dumps(report, indent=None if as_json else 2))
    if report["failures"] == report["captures"]:
        sys.exit(ExitCode.CHECK_FAILED)


@devices.command("capture")
@click.argument("kind", type=click.Choice(["fingerprint", "camera"]))
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="PNG file")
@pass_ctx
@handle_errors
def devices_capture(ctx: Context, kind: str, out: str) -> None:
    """Capture one image to a PNG file (a technician's check of a real device)."""
    if not out.lower().endswith(".png"):
        fail(f"--out {out}: the capture is written as PNG: give a file name ending in .png", ExitCode.USAGE)
    emit(ctx.station().technician.capture_to_file(kind, out))
