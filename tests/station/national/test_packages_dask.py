"""Roll packages for every station built in parallel on a LocalCluster of two workers (station/national/packages.py)
verify, decrypt and hold what the same packages built one by one hold."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from sqlalchemy import select

from matching.face import ENCODING_FORMAT
from station.bench import dedup as gallery
from station.bench.roll_scale import load_commission
from station.cli.main import main
from station.db.models import MatchLogEntry as LogEntry
from station.national.cluster import dask_client
from station.national.packages import build_all
from station.packages.build import build_package
from station.packages.crypto import create_commission_key, load_commission_key
from station.packages.targets import add_target
from station.packages.verify import open_payload, verify_signature
from station.roll.changes import start_revisions
from station.roll.store import EnrolledTemplate
from station.simulation.roll import build_roll
from tests.support.stations import build_station

pytestmark = pytest.mark.slow


def _content(data: bytes, key, trusted):
    c = open_payload(verify_signature(data, trusted), key)
    return (c.voters, c.references, c.polling_stations, c.roll_hash, c.voter_key)


def test_packages_built_in_parallel_verify_like_those_built_one_by_one(tmp_path, make_database_url):
    bases = gallery.cached_bases(gallery.default_cache_dir())
    roll = build_roll(90, 13)
    codes = [s.code for s in roll.stations]
    rng = np.random.default_rng(1)
    refs = []
    for p, v in enumerate(roll.voters):
        refs += [EnrolledTemplate(v.cnic, "fingerprint", finger, gallery.TEMPLATE_FORMAT, 50,
                                  gallery.impression(bases, 3, p, f, 0)) for f, finger in enumerate(gallery.FINGERS[:2])]
        refs.append(EnrolledTemplate(v.cnic, "face", "face", ENCODING_FORMAT, 180,
                                     rng.standard_normal(128).astype("<f4").tobytes()))
    commission = build_station(tmp_path / "commission", make_database_url(), station={"id": "COMMISSION"})
    commission.init()
    load_commission(commission, dataclasses.replace(roll), refs)
    create_commission_key(commission.config.keys_dir)
    keys = {}
    with commission.transaction() as s:
        start_revisions(s)
        for i in range(6):  # several stations per polling station, as a real scheme's booths-by-station
            station_id = f"ST-{i:03d}"
            keys[station_id] = X25519PrivateKey.generate()
            add_target(s, station_id, codes[i % len(codes)], keys[station_id].public_key())
    signing_key = load_commission_key(commission.config.keys_dir)
    with dask_client("local", workers=2) as client:
        built, wall_s = build_all(client, commission.config, sorted(keys), tmp_path / "out", voter_key=None, crl=None,
                                  group=2)
    assert [b.station for b in built] == sorted(keys) and wall_s > 0
    trusted = signing_key.public_key()
    for b in built:
        parallel = (tmp_path / "out" / f"{b.station}.pkg").read_bytes()
        with commission.transaction() as s:
            serial = build_package(s, commission.cipher, signing_key, b.station).data
        assert parallel != serial  # a fresh package id and nonce each time
        assert _content(parallel, keys[b.station], trusted) == _content(serial, keys[b.station], trusted)
        assert b.summary["voters"] == sum(v.polling_station == b.summary["polling_station"] for v in roll.voters) > 0
    with pytest.raises(Exception):
        _content((tmp_path / "out" / "ST-000.pkg").read_bytes(), keys["ST-001"], trusted)
    commission.close()

    # the command line: `station roll package --all`, one log entry per package written by the caller
    result = CliRunner().invoke(main, ["--profile", "test", "--home", str(commission.config.home), "roll", "package",
                                       "--all", "--out", str(tmp_path / "cli"), "--workers", "2", "--json"],
                                env={"STATION_HOME": None, "STATION_PROFILE": None,
                                     "STATION_DATABASE__URL": commission.config.database_url,
                                     "STATION_STATION__ID": "COMMISSION"})
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.splitlines()[-1])
    assert [f["station"] for f in summary["files"]] == sorted(keys)
    assert summary["voters"] == sum(b.summary["voters"] for b in built) == 3 * len(roll.voters)
    for f in summary["files"]:
        content = _content((tmp_path / "cli" / f"{f['station']}.pkg").read_bytes(), keys[f["station"]], trusted)
        assert len(content[0]) == f["voters"] and content[4] is not None  # the election's voter key travels
    with commission.transaction() as s:
        logged = s.scalars(select(LogEntry.details).where(LogEntry.event == "roll_package")).all()
    assert sorted(json.loads(d)["package_id"] for d in logged) == sorted(f["package_id"] for f in summary["files"])
