"""Roll packages: the commission's signed, encrypted roll for one station (docs/roll-packages.md).

    build.py      the commission builds a package (full, or a delta since a version) for a registered station
    verify.py     the station checks it: trusted key, signature, header, target, version order, decryption
    importing.py  the station imports it: PackageImporter verifies, applies in one transaction, logs roll_import
    apply.py      the bulk apply of a verified package's content (insert, update in place, remove)
    format.py     the file's sections and the payload inside the encryption; PackageRejected
    crypto.py     keys (commission signing, station package key), sealing and signing
    targets.py    the commission's registry of stations that receive packages
"""
