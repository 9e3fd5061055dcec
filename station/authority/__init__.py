"""The link to the national ID authority (NADRA in Pakistan): a client interface with backends chosen by name, and
the station's policy around it (checks.py). The simulated authority for tests and demos is
station/simulation/authority.py.

    checks.py       AuthorityChecks: the service the flow consults (decision support, never a gate), queue flusher

    base.py         AuthorityClient: cnic_status, confirm_demographics, verify_fingerprint, roll_updates (templates)
    registry.py     BACKENDS {"none", "http"} + the ``station.authority`` entry points; open_client(settings)
    http_client.py  HTTPS with mutual TLS, one deadline per request
    none.py         no link; a link whose configuration is broken (every check "link down")
    protocol.py     the wire format and the check of a signed answer (shared with the simulator)
    results.py      frozen results (CnicStatus, DemographicResult, BiometricResult, RollUpdateList, SignedAnswer)
    errors.py       the error tree (AuthorityUnavailable, AuthorityTimeout, AuthorityResponseInvalid, ...)
    settings.py     AuthoritySettings, from the configuration's [authority] section
    log_entries.py  match log entries (answers with their signatures; what happened when there was none)
    queue.py        the queue of checks made while the link was down (table authority_queue)
    notes.py        what the officer sees (AuthorityNote on the VerificationView)
    roll_updates.py roll packages fetched through the link, imported with the checks of a manual import
    pki.py          a throw-away CA and TLS certificates for the simulated authority (tests and demos)
    setup.py        demo: link a station to the simulator (the caller names the simulator's public key file)

See docs/authority.md.
"""
