"""`station central dedup`'s admission: the registration centre's file admitted through
``registration.transfer.admit_registrations`` (the code of `station roll admit`) with the roll's index sharded on a
LocalCluster of two workers. A person registered at a second centre is held with the first CNIC as candidate; a
person in the same file twice is caught after the first is added (the shards are refreshed with the new
references)."""
from __future__ import annotations

from cryptography import x509
from sqlalchemy import select

from station.audit.bundle import held_commission_certificate
from station.cli.sync import central
from station.db.models import Voter
from station.national.cluster import dask_client
from station.national.dedup import ShardedRollIndex
from station.packages.crypto import load_package_key
from station.registration.dedup import SearchThresholds
from station.registration.transfer import admit_registrations
from tests.station.registration.test_registration_transfer import (  # noqa: F401 (fixtures)
    centre_factory, commission, commission_recipient, export, register)

import pytest

pytestmark = pytest.mark.slow


def admit_sharded(st, data: bytes, client):
    config = st.config
    index = ShardedRollIndex(client, st.fingerprint_matcher, shards=2)
    try:
        return admit_registrations(data, transaction=st.transaction, cipher=st.cipher, matcher=st.fingerprint_matcher,
                                   thresholds=SearchThresholds.from_config(config), signer=st.log_signer,
                                   package_key=load_package_key(config.keys_dir),
                                   commission_cert=x509.load_pem_x509_certificate(
                                       held_commission_certificate(config).read_bytes()), index=index), index
    finally:
        index.close()


def test_a_second_centre_duplicate_is_held_by_the_sharded_search(commission, centre_factory, tmp_path):  # noqa: F811
    first = centre_factory("CENTRE-D1", "PS-001")
    assert register(first, "dara", "84011-0000001-1").state == "ENROLLED"
    out1 = tmp_path / "d1.reg"
    export(first, commission_recipient(commission), out1)
    second = centre_factory("CENTRE-D2", "PS-002")
    assert register(second, "dara", "84012-0000003-1").state == "ENROLLED"  # centre 2 never saw dara
    assert register(second, "esha", "84012-0000005-3").state == "ENROLLED"
    out2 = tmp_path / "d2.reg"
    export(second, commission_recipient(commission), out2)
    with dask_client("local", workers=2) as client:
        result, index = admit_sharded(commission, out1.read_bytes(), client)
        assert result.admitted == ["84011-0000001-1"] and result.held == []
        assert len(index) > 0  # the roll's fingerprints were on the shards
        held, _ = admit_sharded(commission, out2.read_bytes(), client)
    assert held.admitted == ["84012-0000005-3"]
    assert [h["cnic"] for h in held.held] == ["84012-0000003-1"]
    assert [c["cnic"] for c in held.held[0]["candidates"]] == ["84011-0000001-1"]
    with commission.transaction() as s:
        assert s.scalar(select(Voter).where(Voter.cnic == "84012-0000003-1")) is None


def test_central_dedup_refuses_an_address_that_is_not_a_scheduler(tmp_path):
    from click.testing import CliRunner

    from tests.support.cli import cli_for

    reg = tmp_path / "x.reg"
    reg.write_bytes(b"x")
    result = CliRunner().invoke(cli_for(central, tmp_path / "home"), ["central", "dedup", str(reg), "--scheduler",
                                                                       "somewhere:8786", "--self-signed-ok"])
    assert result.exit_code == 2 and "tcp://HOST:8786" in result.output, result.output  # a usage error
