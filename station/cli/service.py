"""``station install``, ``station uninstall`` and ``station tls ...``: the station as a system service, and its TLS
(see docs/service.md)."""
from __future__ import annotations

import json

import click

from station.cli.common import Context, emit, handle_errors, json_option, pass_ctx, say


def _echo_report(report, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(report.to_dict()))
        return
    for action in report.actions:
        click.echo(action)
    for note in report.notes:
        click.echo(f"note: {note}", err=True)


@click.command("install")
@click.option("--root", "root", type=click.Path(file_okay=False), default="/", show_default=True,
              help="install into this directory as the machine's root (a staging or test root); / = this machine")
@click.option("--exec", "exec_path", default=None,
              help="the `station` script the unit runs (default: the one next to this Python)")
@click.option("--profile", "service_profile", default="hardware", show_default=True,
              help="the profile the service runs with")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="server.host in /etc/station/station.toml; a non-loopback address is served over HTTPS")
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True)
@click.option("--station-id", default="", help="station.id for /etc/station/station.toml")
@click.option("--polling-station", default="", help="station.polling_station for /etc/station/station.toml")
@click.option("--rw-path", "rw_paths", multiple=True, help="another writable path for the service (a backup disk)")
@click.option("--libfprint", is_flag=True,
              help="the fingerprint reader is a USB reader through libfprint: devices.fingerprint in the site "
                   "settings, and a unit drop-in that lets the service open USB devices and netlink sockets")
@click.option("--package", is_flag=True,
              help="lay out only the files the Debian package ships (used by packaging/build-deb.sh)")
@click.option("--no-init", is_flag=True, help="on /: do not run `station init` as the station user")
@click.option("--enable", is_flag=True, help="on /: systemctl enable --now station.service")
@click.option("--dry-run", is_flag=True, help="print what would be done")
@json_option
@handle_errors
def install(root: str, exec_path: str | None, service_profile: str, host: str, port: int, station_id: str,
            polling_station: str, rw_paths: tuple[str, ...], libfprint: bool, package: bool, no_init: bool,
            enable: bool, dry_run: bool, as_json: bool) -> None:
    """Install the station as a systemd service: system user `station`, /etc/station, /var/lib/station (0700),
    station.service with hardening. As root on /, or into --root DIR (no useradd there)."""
    from station.config import available_profiles
    from station.service.install import (PACKAGE_EXEC, InstallError, ServiceSettings, default_exec_path, install_service)

    if service_profile not in available_profiles():
        raise InstallError(f"unknown profile {service_profile!r}; available: {', '.join(available_profiles())}")
    for path in rw_paths:
        if not path.startswith("/"):
            raise InstallError(f"--rw-path needs an absolute path, not {path!r}")
    exec_path = exec_path or (PACKAGE_EXEC if package else default_exec_path())
    settings = ServiceSettings(exec_path=exec_path, profile=service_profile, host=host, port=port,
                               station_id=station_id, polling_station=polling_station, writable_paths=rw_paths,
                               libfprint=libfprint)
    report = install_service(root, settings, package=package, dry_run=dry_run, initialise=not no_init,
                             enable=enable)
    _echo_report(report, as_json)


@click.command("uninstall")
@click.option("--root", "root", type=click.Path(file_okay=False), default="/", show_default=True)
@click.option("--purge", is_flag=True, help="also delete /var/lib/station: database, keys and match log")
@click.option("--dry-run", is_flag=True, help="print what would be done")
@json_option
@handle_errors
def uninstall(root: str, purge: bool, dry_run: bool, as_json: bool) -> None:
    """Remove the service, its configuration and its user; keep the data unless --purge."""
    from station.service.install import uninstall_service

    _echo_report(uninstall_service(root, purge=purge, dry_run=dry_run), as_json)


@click.group("tls")
def tls_group() -> None:
    """The station CA (made by `station init`) and the HTTPS server certificate."""


@tls_group.command("export-ca")
@click.option("--out", type=click.Path(dir_okay=False), required=True)
@pass_ctx
@handle_errors
def tls_export_ca(ctx: Context, out: str) -> None:
    """Write the station CA certificate (public) for other laptops on the booth's LAN to trust."""
    from station.security import tls

    info = tls.export_ca(ctx.config().keys_dir, out)
    emit({"out": out, "subject": info.subject, "sha256": info.sha256}, f"{out}: {info.subject}, SHA-256 {info.sha256}")
    say("compare this fingerprint with the one the other laptop shows before trusting the file")


@tls_group.command("issue")
@click.option("--hostname", "hostnames", multiple=True, help="another DNS name (besides hostname, FQDN, localhost)")
@click.option("--ip", "ips", multiple=True, help="another IP address (besides the ones found on this machine)")
@pass_ctx
@handle_errors
def tls_issue(ctx: Context, hostnames: tuple[str, ...], ips: tuple[str, ...]) -> None:
    """Issue a new server certificate now (the server also does it at start when names or addresses changed)."""
    from station.security import tls

    config = ctx.config()
    refused = tls.refused_requests(config.keys_dir, hostnames, ips)
    if refused:  # asked for by name: in the certificate, or nothing is issued
        raise tls.TlsError(f"the server certificate cannot hold {'; '.join(refused)}: nothing was issued")
    cert = tls.issue_server_certificate(
        config.keys_dir, tls.station_hostnames([*config.tls.hostnames, *hostnames]),
        [*tls.local_addresses(), *config.tls.ips, *ips], days=config.tls.server_cert_days)
    emit({"certificate": str(cert.cert_file), "names": list(cert.dns_names), "ips": list(cert.ips),
          "not_after": cert.not_after.isoformat()},
         f"{cert.cert_file}: {', '.join(cert.dns_names + cert.ips)}; valid until {cert.not_after.date().isoformat()}")


@tls_group.command("show")
@json_option
@pass_ctx
@handle_errors
def tls_show(ctx: Context, as_json: bool) -> None:
    """The station CA's fingerprint and the server certificate's names and expiry."""
    from cryptography import x509

    from station.security import tls

    keys = ctx.config().keys_dir
    ca = tls.ca_info(keys)
    out = {"ca": str(ca.cert_file), "ca_subject": ca.subject, "ca_sha256": ca.sha256,
           "ca_not_after": ca.not_after.isoformat(), "server": None}
    path = keys / tls.SERVER_CERT_FILE
    if path.is_file():
        cert = x509.load_pem_x509_certificate(path.read_bytes())
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        out["server"] = {"file": str(path), "names": san.get_values_for_type(x509.DNSName),
                         "ips": [str(a) for a in san.get_values_for_type(x509.IPAddress)],
                         "not_after": cert.not_valid_after_utc.isoformat()}
    if as_json:
        click.echo(json.dumps(out))
        return
    click.echo(f"station CA: {ca.subject}\n  SHA-256 {ca.sha256}\n  valid until {out['ca_not_after']}")
    server = out["server"]
    click.echo("server certificate: none yet (issued when `station serve` starts on a LAN address)" if server is None
               else f"server certificate: {', '.join(server['names'] + server['ips'])}\n  valid until "
                    f"{server['not_after']}")
