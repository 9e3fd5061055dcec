"""The tamper-evident match log: a hash chain of canonical JSON entries, each signed with the station's Ed25519 key.

``chain`` holds the pure format (canonical bytes, hashes, signatures, verification of a sequence of entries) and
needs nothing but ``cryptography``, so that ``station audit verify`` runs on an auditor's laptop with no database and
no configuration. ``log`` appends entries in the caller's transaction; ``bundle`` exports and verifies; ``report``
renders the auditor's HTML report.
"""
