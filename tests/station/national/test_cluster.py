"""``station.national.cluster.dask_client``: a local cluster's workers share the machine's memory (Dask's "auto" gave a
single-threaded worker only its share of the cores' memory, and a one-worker shard of a national roll was restarted
at 95% of half the machine)."""
from __future__ import annotations

import pytest
from distributed.system import MEMORY_LIMIT

from station.national.cluster import dask_client


@pytest.mark.parametrize("workers", [1, 2])
def test_local_workers_share_the_machines_memory(workers):
    with dask_client("local", workers=workers) as client:
        limits = [w["memory_limit"] for w in client.scheduler_info()["workers"].values()]
    assert len(limits) == workers
    assert all(limit == pytest.approx(0.9 * MEMORY_LIMIT / workers, rel=0.01) for limit in limits)


def test_an_explicit_limit_is_kept():
    with dask_client("local", workers=1, memory_limit=2 ** 30) as client:
        assert [w["memory_limit"] for w in client.scheduler_info()["workers"].values()] == [2 ** 30]
