"""A Dask client from the ``--scheduler`` option: ``local`` starts a ``LocalCluster`` of worker processes on this
machine (tests, one machine); ``tcp://HOST:PORT`` connects to a running scheduler, whose workers may be on many
machines (``dask scheduler`` on one, ``dask worker tcp://HOST:8786 --nthreads 1`` on each; every worker needs this
package installed: docs/scaling.md).

Worker processes are started with ``spawn`` (distributed's default, set here explicitly): the CLI's process has
threads (the log, faiss, onnxruntime) and a ``fork`` of it could copy a held lock.
"""
from __future__ import annotations

import contextlib
import logging
from typing import Iterator

log = logging.getLogger(__name__)

LOCAL = "local"


LOCAL_MEMORY_SHARE = 0.9  # of the machine's memory, shared by a local cluster's workers (the rest: the client)


@contextlib.contextmanager
def dask_client(scheduler: str, *, workers: int = 2, threads_per_worker: int = 1,
                memory_limit: str | int | None = None) -> Iterator[object]:
    """A connected ``distributed.Client``; closed (and a local cluster shut down) on exit. A local cluster's workers
    share LOCAL_MEMORY_SHARE of the machine's memory unless ``memory_limit`` says otherwise (Dask's "auto" gives a
    single-threaded worker only its share of the cores' memory: one worker on two cores got half, and a one-worker
    shard of 1,000,000 templates was restarted at 95% of that)."""
    import dask
    from distributed import Client, LocalCluster
    from distributed.system import MEMORY_LIMIT

    if scheduler == LOCAL:
        if memory_limit is None:
            memory_limit = int(MEMORY_LIMIT * LOCAL_MEMORY_SHARE / max(1, workers))
        with dask.config.set({"distributed.worker.multiprocessing-method": "spawn"}):
            cluster = LocalCluster(n_workers=workers, threads_per_worker=threads_per_worker, processes=True,
                                   dashboard_address=":0", memory_limit=memory_limit, silence_logs=logging.WARNING)
        try:
            with Client(cluster) as client:
                yield client
        finally:
            cluster.close()
        return
    check_scheduler(scheduler)
    with Client(scheduler) as client:
        yield client


def check_scheduler(scheduler: str) -> str:
    """``local`` or a scheduler address; ValueError naming both otherwise."""
    if scheduler != LOCAL and not scheduler.startswith(("tcp://", "tls://")):
        raise ValueError(f"{scheduler!r}: use 'local' or a Dask scheduler's address like tcp://HOST:8786")
    return scheduler


def worker_addresses(client) -> list[str]:
    """The connected workers' addresses, sorted (shards are placed round-robin over them)."""
    return sorted(client.scheduler_info()["workers"])
