"""The link to the national ID authority (NADRA in Pakistan): a client interface with backends chosen by name, a
simulated authority for tests and demos, and (with station/authority_checks.py) the station's policy around it.

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
    simulator.py    the simulated authority service (``station authority simulate``); pki.py its throw-away CA
    setup.py        demo: link a station to the simulator

See docs/authority.md.
"""
