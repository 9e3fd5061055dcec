"""Benchmarks: each measures and returns a dict the CLI prints as JSON (``station bench ...``, station/cli/bench.py).
Fenced: only ``station.cli``, ``station.runtime`` and tests import this room."""
from station.config import repo_root

SHARED_DATASETS = repo_root().parent / "shared" / "datasets"  # benchmark data beside the repository (not shipped)
