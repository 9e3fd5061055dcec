"""Attacks on the station's TLS: a station CA (trusted by the booth's laptops) vouching for an Internet name, a client
that offers only CBC suites under TLS 1.2, a session cookie sent over plain HTTP, no HSTS. A real cheroot server with
the station's TLS context answers them."""
import datetime as dt
import http.client
import ipaddress
import re
import socket
import ssl
import threading

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from station.security import tls
from station.service import serving
from tests.support.stations import PASSWORDS, build_station

CBC_SUITES = "ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA384:ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA"


def _ca(keys):
    return x509.load_pem_x509_certificate((keys / tls.CA_CERT_FILE).read_bytes())


def test_the_station_ca_carries_critical_name_constraints(tmp_path):
    keys = tmp_path / "keys"
    tls.create_station_ca(keys, "AJK-LOC-07", hostnames=["booth-3.example.lan"], ips=["203.0.113.5"])
    ext = _ca(keys).extensions.get_extension_for_class(x509.NameConstraints)
    assert ext.critical
    permitted = ext.value.permitted_subtrees
    dns = {t.value for t in permitted if isinstance(t, x509.DNSName)}
    nets = {t.value for t in permitted if isinstance(t, x509.IPAddress)}
    assert {"localhost", "booth-3.example.lan", *tls.station_hostnames()} == dns
    assert {ipaddress.ip_network(n) for n in ("127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
                                              "fc00::/7", "::1/128", "203.0.113.5/32")} <= nets
    assert not any(net.prefixlen == 0 for net in nets)
    for mode in (keys / tls.CA_CERT_FILE, keys / tls.CA_KEY_FILE):
        assert mode.stat().st_mode & 0o777 == 0o600


def test_a_server_certificate_leaves_out_what_the_ca_may_not_vouch_for(tmp_path):
    keys = tmp_path / "keys"
    tls.create_station_ca(keys, "AJK-LOC-07")
    cert = tls.issue_server_certificate(keys, ["localhost", "nadra.gov.pk"], ["127.0.0.1", "192.168.4.20", "8.8.8.8"])
    assert cert.dns_names == ("localhost",) and cert.ips == ("127.0.0.1", "192.168.4.20")
    assert (keys / tls.SERVER_CERT_FILE).stat().st_mode & 0o777 == 0o600
    with pytest.raises(tls.TlsError, match="may not vouch for nadra.gov.pk, 8.8.8.8"):
        tls.issue_server_certificate(keys, ["nadra.gov.pk"], ["8.8.8.8"])


def _forged_leaf(keys, name: str, path):
    """What a thief of the CA key would do: sign a certificate for an Internet name with it."""
    ca_key = serialization.load_pem_private_key((keys / tls.CA_KEY_FILE).read_bytes(), None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(_ca(keys).subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    path.with_suffix(".crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    path.with_suffix(".key").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                           serialization.PrivateFormat.PKCS8,
                                                           serialization.NoEncryption()))
    return path.with_suffix(".crt"), path.with_suffix(".key")


def _handshake(server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext, server_hostname: str) -> str:
    """One TLS handshake over a socket pair; the client's negotiated version, or the client's SSLError raised."""
    a, b = socket.socketpair()
    errors = []

    def serve():
        try:
            with server_ctx.wrap_socket(b, server_side=True) as s:
                s.recv(1)
        except (ssl.SSLError, OSError) as exc:
            errors.append(exc)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        with client_ctx.wrap_socket(a, server_hostname=server_hostname) as c:
            version = c.version()
            c.sendall(b"x")
        return version
    finally:
        a.close()
        thread.join(10)


def test_a_forged_certificate_for_an_internet_name_does_not_verify(tmp_path):
    keys = tmp_path / "keys"
    tls.create_station_ca(keys, "AJK-LOC-07")
    cert_file, key_file = _forged_leaf(keys, "nadra.gov.pk", tmp_path / "forged")
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert_file, key_file)
    trusting = ssl.create_default_context(cafile=str(keys / tls.CA_CERT_FILE))  # a laptop that trusts the CA
    with pytest.raises(ssl.SSLCertVerificationError, match="(?i)subtree|name constraint"):
        _handshake(server_ctx, trusting, "nadra.gov.pk")
    ok_cert, ok_key = _forged_leaf(keys, "localhost", tmp_path / "ok")  # the same path inside the constraints works
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(ok_cert, ok_key)
    assert _handshake(server_ctx, trusting, "localhost") in ("TLSv1.2", "TLSv1.3")


@pytest.fixture
def https_server(tmp_path, make_database_url):
    from api import create_app

    station = build_station(tmp_path / "home", make_database_url())
    station.init()
    role, password = PASSWORDS["officer"]
    station.accounts.add_user("officer", password, role)
    keys = station.config.keys_dir
    listener = serving.prepare_listener("127.0.0.1", 0, mode="on", keys_dir=keys)
    server = serving.make_server(create_app(station), listener, threads=2, max_request_body_size=16_000_000)
    server.prepare()
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    try:
        yield server.bind_addr[1], keys / tls.CA_CERT_FILE
    finally:
        server.stop()
        thread.join(10)
        station.close()


def _client(ca_file, *, tls12_ciphers: str | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(ca_file))
    if tls12_ciphers:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers(tls12_ciphers)
    return ctx


def test_tls12_offers_aead_suites_only(https_server):
    port, ca_file = https_server
    cbc_only = _client(ca_file, tls12_ciphers=CBC_SUITES)
    with pytest.raises(ssl.SSLError):  # the attacker's client: CBC or nothing
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            cbc_only.wrap_socket(raw, server_hostname="localhost").close()
    for suites in ("ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305"):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with _client(ca_file, tls12_ciphers=suites).wrap_socket(raw, server_hostname="localhost") as conn:
                assert conn.version() == "TLSv1.2" and conn.cipher()[0] == suites
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with _client(ca_file).wrap_socket(raw, server_hostname="localhost") as conn:
            assert conn.version() == "TLSv1.3"


def test_under_tls_the_session_cookie_is_secure_and_hsts_is_sent(https_server):
    port, ca_file = https_server
    conn = http.client.HTTPSConnection("localhost", port, context=_client(ca_file), timeout=10)
    try:
        conn.request("GET", "/api/health")
        r = conn.getresponse()
        r.read()
        assert r.status == 200 and r.getheader("Strict-Transport-Security") == "max-age=31536000"
        conn.request("GET", "/")
        r = conn.getresponse()
        page = r.read().decode()
        assert r.getheader("Strict-Transport-Security")
        cookie = r.getheader("Set-Cookie")
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
        sid = cookie.split(";")[0]
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        body = f"username=officer&password={PASSWORDS['officer'][1]}&csrf_token={csrf}"
        conn.request("POST", "/login", body=body, headers={"Cookie": sid,
                                                            "Content-Type": "application/x-www-form-urlencoded"})
        r = conn.getresponse()
        r.read()
        assert r.status == 302
        signed_in = r.getheader("Set-Cookie")
        assert signed_in.split(";")[0] != sid  # a new id at sign-in
        assert "Secure" in signed_in and "HttpOnly" in signed_in and "SameSite=Strict" in signed_in
    finally:
        conn.close()
