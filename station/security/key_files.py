"""The station's private key files: those ``station keys protect`` seals and ``station doctor`` checks, each name
written once, by the module that uses the key. Not here: the TLS server key (never sealed: ``tls``), the web server's
cookie key (never sealed, like the TLS server key, and made by the server, not by init: ``cookie_key``, which doctor
checks on a line of its own), the backup key (already under the backup passphrase: ``backup/format.py``) and the
ID-authority client key (a path in ``authority.client_key``, loaded by ``ssl`` from its file)."""
from __future__ import annotations


def private_key_files() -> tuple[str, ...]:
    from station.audit import identity
    from station.packages import crypto
    from station.security import keys, tls

    return (keys.TEMPLATE_KEY_FILE, identity.SIGNING_KEY_FILE, identity.VOTER_KEY_FILE,
            identity.ELECTION_VOTER_KEY_FILE, crypto.PACKAGE_KEY_FILE, crypto.COMMISSION_KEY_FILE, tls.CA_KEY_FILE)


def init_key_files() -> tuple[str, ...]:
    """The private key files ``station init`` makes (the commission's are made by ``roll commission-init``)."""
    from station.audit import identity
    from station.packages import crypto
    from station.security import keys, tls

    return (keys.TEMPLATE_KEY_FILE, crypto.PACKAGE_KEY_FILE, identity.SIGNING_KEY_FILE, identity.VOTER_KEY_FILE,
            tls.CA_KEY_FILE)
