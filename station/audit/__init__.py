"""The tamper-evident match log: a hash chain of canonical JSON entries, each signed with the station's Ed25519 key.

``chain`` holds the pure format (canonical bytes, hashes, signatures, verification of a sequence of entries) and
needs nothing but ``cryptography``, so that ``station audit verify`` runs on an auditor's laptop with no database and
no configuration. ``log`` appends entries in the caller's transaction; ``bundle`` exports and verifies; ``report``
renders the auditor's HTML report.

Beside the chain, the log is an RFC 9162 Merkle tree over the same signed bodies (docs/audit-log.md): ``merkle`` (the
RFC's algorithms, pure), ``note`` (checkpoints as C2SP signed notes), ``merkle_verify`` (the observer's offline check
of proofs and checkpoints, no database), ``witness`` (cosigning), ``qr`` (a checkpoint as a PNG QR code),
``transparency`` (the station's checkpoints and proofs) and ``schedule`` (checkpoints while serving).
"""
