"""Benchmarks: each measures and returns a dict the CLI prints as JSON (``station bench ...``, station/cli/bench.py).
Fenced: only ``station.cli``, ``station.runtime`` and tests import this room."""
from station.config import repo_root

SHARED_DATASETS = repo_root().parent / "shared" / "datasets"  # benchmark data beside the repository (not shipped)


def check_synthetic_size(fingers: int, impressions: int, option: str) -> None:
    """Refuse (a usage error naming ``option``) a synthetic set too small to score or too large for one run (``bench
    accuracy --synthetic``, ``calibrate --synthetic``, ``bench policy``)."""
    import click

    from matching.datasets import (SYNTHETIC_MAX_FINGERS, SYNTHETIC_MAX_IMPRESSIONS, SYNTHETIC_MIN, SYNTHETIC_TOO_LARGE,
                                   SYNTHETIC_TOO_SMALL)

    if fingers < SYNTHETIC_MIN or impressions < SYNTHETIC_MIN:
        raise click.BadParameter(f"{SYNTHETIC_TOO_SMALL}, not {fingers}x{impressions}", param_hint=option)
    if fingers > SYNTHETIC_MAX_FINGERS or impressions > SYNTHETIC_MAX_IMPRESSIONS:
        raise click.BadParameter(f"{SYNTHETIC_TOO_LARGE}, not {fingers}x{impressions}"[:160], param_hint=option)
