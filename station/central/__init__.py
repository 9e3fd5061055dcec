"""The commission's central results database: ``station central merge`` loads the signed files that
``station sync export`` writes at each station, and reports double votes, duplicate registrations and stations that
never reported.

    errors     CentralError and its subclasses (refused files, an unusable database)
    models     the central tables (own DeclarativeBase, every table prefixed ``central_``)
    db         opening the central database: engine, schema migrated on first use, schema-version check
    verify     checking one sync file completely before anything is written: VerifiedExport
    records    the rows of a sync file as frozen dataclasses, validated field by field
    register   the commission's register of stations (station id -> polling station) as the centre holds it
    dialect    the one place that knows PostgreSQL from SQLite: the INSERT builder, COPY staging, the migration lock
    sql        INSERT ... ON CONFLICT for PostgreSQL and SQLite: natural keys instead of read-then-write
    migrations the central schema's own Alembic environment (version table central_alembic_version)
    store      importing one verified file in the caller's transaction (idempotent, natural keys unique)
    findings   what the merged results show: double votes, enrollment duplicates, stations not reported
    merge      the merge of many files, one transaction per file, and its JSON summary
    results_export  the station's side: ``station sync export`` writes one signed file of its results

The central side needs no station configuration, no station key and no roll: only the files, the database URL and,
when the commission countersigns station certificates, the commission's certificate; with the commission's register
of stations (`station roll stations --json`, or run at the commission's home) a file counts only for the polling
station its station is registered at.
"""
