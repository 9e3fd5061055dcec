"""``station card issue|emulate|read``: virtual CNIC cards for tests and demos, the card emulator behind vpcd, and a
technician's read of a real card with a report of every check."""
from __future__ import annotations

import json
import sys

import click

from drivers.card.virtual import RESPONSE_STYLES

from station.cli.common import Context, ExitCode, db_ready, emit, handle_errors, json_option, pass_ctx, say
from station.errors import StationError


@click.group()
def card() -> None:
    """CNIC smart cards: virtual cards for tests and demos, the emulator, reading through PC/SC."""


@card.command("issue")
@click.option("--cnic", required=True)
@click.option("--out", "out", type=click.Path(dir_okay=False), required=True)
@click.option("--tamper", type=click.Choice(["bad-signature", "altered-file", "clone"]), default=None)
@pass_ctx
@handle_errors
def card_issue(ctx: Context, cnic: str, out: str, tamper: str | None) -> None:
    """Write a virtual card for a voter of the roll, signed by the test issuing authority."""
    station = ctx.station()
    db_ready(station)
    data = station.steering.voter_card(cnic, tamper)
    with open(out, "wb") as fh:
        fh.write(data)
    emit({"cnic": cnic, "out": out, "tamper": tamper},
         f"virtual card for {cnic}{f' (tampered: {tamper})' if tamper else ''} written to {out}")


@card.command("emulate")
@click.option("--card", "card_file", type=click.Path(exists=True, dir_okay=False), required=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=35963, show_default=True)
@click.option("--response-style", type=click.Choice(RESPONSE_STYLES), default="direct",
              show_default=True, help="how the card hands over response data (ISO 7816-4): directly, by 61xx and "
                                      "GET RESPONSE, or by 6Cxx and a resent command")
@click.option("--json", "as_json", is_flag=True,
              help="once the card is in vpcd's slot, print one JSON document on standard output (card, vpcd "
                   "address, pid); messages go to standard error")
@handle_errors
def card_emulate(card_file: str, host: str, port: int, response_style: str, as_json: bool) -> None:
    """Present a virtual card to pcscd through vsmartcard-vpcd until interrupted (test and demo machines only:
    vpcd accepts cards from the network and must never be installed on a production station)."""
    import os
    import signal
    import threading

    from drivers.card.emulator import CardEmulator
    from drivers.card.virtual import VirtualCardFile, card_fingerprint

    data = open(card_file, "rb").read()
    try:
        VirtualCardFile.from_bytes(data)
    except ValueError as exc:
        raise StationError(f"{card_file}: not a virtual card file ({exc})") from None
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    say(f"card {card_file} joining vpcd at {host}:{port}; Ctrl-C to remove it")
    emulator = CardEmulator(data, host, port, response_style=response_style)
    if as_json:
        document = {"card": card_file, "card_fingerprint": card_fingerprint(data), "vpcd": f"{host}:{port}",
                    "host": host, "port": port, "response_style": response_style, "pid": os.getpid()}

        def announce() -> None:  # once vpcd has taken the card; nothing when it never did (the error says why)
            while not emulator.connected.wait(0.05):
                if emulator.finished.is_set():
                    return
            click.echo(json.dumps(document))
            sys.stdout.flush()

        announcer = threading.Thread(target=announce, name="announce", daemon=True)
        announcer.start()
    try:
        emulator.run(stop)
    except KeyboardInterrupt:
        stop.set()
    finally:
        if as_json:
            announcer.join(5)  # the document of a card vpcd took and already let go is still printed


@card.command("read")
@json_option
@click.option("--reader", default=None, help="PC/SC reader name (default: the first holding a card)")
@click.option("--timeout", "timeout_s", type=click.FloatRange(0.1, 120), default=None)
@pass_ctx
@handle_errors
def card_read(ctx: Context, as_json: bool, reader: str | None, timeout_s: float | None) -> None:
    """Read and verify the card in the first PC/SC reader. Exit 1 with the reason on standard error if any check
    fails."""

    overrides = {"devices": {"card": "pcsc", **({"card_reader": reader} if reader else {})}}
    if timeout_s:
        overrides["card"] = {"read_timeout_s": timeout_s}
    station = ctx.station(**overrides)
    report, error = station.technician.card_report()
    click.echo(json.dumps(report, ensure_ascii=False) if as_json else
               "\n".join(f"{k}: {v}" for k, v in report.items()))
    if error:
        click.echo(f"error: {error}", err=True)
        sys.exit(ExitCode.CHECK_FAILED)
