"""The commission's national runs on Dask distributed (an existing engine; no home-made cluster): the 1:N duplicate
search of a registration drive against the whole master roll, sharded over workers, and the roll packages of every
polling station built in parallel. Nothing here starts a cluster at import.

    cluster   a Dask client from ``--scheduler local|tcp://HOST:PORT`` (a spawn-safe LocalCluster, or a real scheduler)
    dedup     shards of the roll's fingerprint and face indexes held by Dask actors; the scatter-gather search
    packages  ``station roll package --all``: one task per group of stations, each on a worker, signed and encrypted
"""
