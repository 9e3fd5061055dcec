"""The LEADER speed path (matching/leader.py): the fused graph gives the float model's minutiae, its cache is built
when absent and written atomically, and ``station bench speed`` prints its JSON (station/bench/speed.py)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from matching import leader as leader_mod
from tests.support.paths import SHARED
from matching.errors import MatcherUnavailable
from matching.leader import (
    LeaderMinutiaeExtractor,
    LeaderParams,
    fuse_leader_graph,
    fused_model,
    fused_model_name,
    packaged_model_path,
)

FVC_SET = SHARED / "datasets" / "fvc2000_db1_b"


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("model-cache")


@pytest.fixture(scope="module")
def built(cache_dir):
    """The fused model, built once for this module into its own cache directory."""
    path = fused_model(packaged_model_path(), cache_dir)
    assert isinstance(path, Path) and path.is_file()
    return path


@pytest.fixture(scope="module")
def synthetic_prints():
    from drivers.fingerprint.synthetic import generate_master, render_impression

    return [render_impression(generate_master(f"speedpath-{k}"), impression=0) for k in range(2)]


def _source_digest() -> str:
    return leader_mod._sha256(packaged_model_path())


@pytest.mark.slow
def test_fused_minutiae_match_the_float_model_on_synthetic_prints(built, cache_dir, synthetic_prints):
    fused = LeaderMinutiaeExtractor(LeaderParams(model_variant="fused", cache_dir=str(cache_dir)))
    plain = LeaderMinutiaeExtractor(LeaderParams(model_variant="float"))
    for image in synthetic_prints:
        a, b = fused.extract(image), plain.extract(image)
        assert len(a) > 5 and abs(len(a) - len(b)) <= 1
        for x, y, theta, kind, q in a:  # every fused minutia has its float twin: same place, direction, type
            d = np.hypot(b[:, 0] - x, b[:, 1] - y)
            k = int(np.argmin(d))
            assert d[k] <= 1.0
            assert abs((b[k, 2] - theta + np.pi) % (2 * np.pi) - np.pi) <= 0.05
            assert b[k, 3] == kind and abs(b[k, 4] - q) <= 0.01
    assert fused.model_source == str(built)  # the cached fused graph, not the packaged one
    assert plain.model_source == str(packaged_model_path())


@pytest.mark.parametrize("height, width", [(320, 320), (224, 288), (64, 96)])
def test_fused_graph_computes_the_packaged_maps_in_fewer_passes(built, height, width):
    """The rewritten graph: no LayerNormalization between transposes, no SpaceToDepth/DepthToSpace emulation of a
    dilated convolution, no Tile/Transpose/Reshape chain for a 2x upsampling (one nearest-neighbour ``Resize``), no
    ``ReduceMean`` across the channels (a 1x1 ``Conv`` averages the squares); its four maps equal the packaged graph's
    on a ridge-like image of any size the network takes (the dilated convolutions' padding depends on the size)."""
    import onnx
    import onnxruntime as ort

    graph = onnx.load(str(built)).graph
    ops = {n.op_type for n in graph.node}
    assert not ops & {"LayerNormalization", "SpaceToDepth", "DepthToSpace", "Tile", "ReduceMean", "Pow"}
    assert {"FastGelu", "Conv", "Resize"} <= ops
    assert sum(n.op_type == "Resize" for n in graph.node) == 11  # the decoders' and heads' upsamplings
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    noise = np.random.default_rng(height + width).normal(0, 5, (height, width))
    image = (128 + 90 * np.sin(0.7 * xx + 0.3 * yy + 0.002 * xx * yy) + noise).astype(np.float32)[None, :, :, None]
    maps = []
    for model in (built, packaged_model_path()):
        options = ort.SessionOptions()
        options.log_severity_level = 3
        session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        maps.append(session.run(None, {session.get_inputs()[0].name: image})[0])
    fused, packaged = maps
    assert fused.shape == packaged.shape == (1, height, width, 4)
    assert np.abs(fused - packaged)[..., [0, 2, 3]].max() < 1e-3  # position, type, quality
    where = packaged[..., 0] > 0.1
    turn = np.abs((fused[..., 1] - packaged[..., 1] + np.pi) % (2 * np.pi) - np.pi)[where]
    assert where.any() and turn.max() < 1e-2  # direction (radians) where a minutia is likely


def test_cache_name_is_keyed_by_the_source_hash_and_rebuilt_when_absent(built, cache_dir):
    assert built.name == fused_model_name(_source_digest())
    first = built.read_bytes()
    built.unlink()
    again = fused_model(packaged_model_path(), cache_dir)
    assert again == built and again.is_file() and again.read_bytes() == first
    assert [p.name for p in cache_dir.iterdir()] == [built.name]  # no temporary file left behind
    assert fused_model(packaged_model_path(), cache_dir) == built  # present: used as is


def test_cache_is_written_atomically(tmp_path, monkeypatch):
    target = tmp_path / "models" / "m.onnx"
    seen = {}
    real_replace = os.replace

    def spying_replace(src, dst):
        seen["src"], seen["dst"] = Path(src), Path(dst)
        seen["target_existed"] = Path(dst).exists()
        seen["src_content"] = Path(src).read_bytes()
        return real_replace(src, dst)

    monkeypatch.setattr(leader_mod.os, "replace", spying_replace)
    leader_mod._atomic_write(target, b"complete model")
    assert target.read_bytes() == b"complete model"
    assert seen["src"].parent == target.parent and seen["src"] != target  # a whole temporary file, then a rename
    assert seen["src_content"] == b"complete model" and seen["target_existed"] is False

    def failing_replace(src, dst):
        raise OSError("disk gone")

    monkeypatch.setattr(leader_mod.os, "replace", failing_replace)
    with pytest.raises(OSError):
        leader_mod._atomic_write(target, b"a new model")
    assert target.read_bytes() == b"complete model"  # the old file untouched
    assert sorted(p.name for p in target.parent.iterdir()) == ["m.onnx"]  # the temporary file removed


def test_unwritable_cache_keeps_the_fused_model_in_memory(tmp_path, synthetic_prints, monkeypatch):
    blocker = tmp_path / "not-a-directory"
    blocker.write_bytes(b"")
    monkeypatch.setattr(leader_mod, "_check_same_outputs", lambda *a, **k: None)  # checked above; keep this quick
    model = fused_model(packaged_model_path(), blocker / "models")
    assert isinstance(model, bytes) and len(model) > 1000
    ex = LeaderMinutiaeExtractor(LeaderParams(cache_dir=str(blocker / "models")))
    assert len(ex.extract(synthetic_prints[0])) > 0 and ex.model_source == "memory"


def test_a_graph_that_cannot_be_fused_falls_back_to_the_packaged_model(tmp_path, synthetic_prints, monkeypatch):
    def refuse(_data):
        raise ValueError("not the expected LEADER export")

    monkeypatch.setattr(leader_mod, "fuse_leader_graph", refuse)
    ex = LeaderMinutiaeExtractor(LeaderParams(cache_dir=str(tmp_path)))
    assert len(ex.extract(synthetic_prints[0])) > 0
    assert ex.model_source == str(packaged_model_path()) and list(tmp_path.iterdir()) == []


def test_fusing_another_graph_is_refused():
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    with pytest.raises(ValueError):
        fuse_leader_graph(helper.make_model(graph).SerializeToString())
    assert onnx  # imported for the helper


def test_unknown_variant_is_refused(synthetic_prints):
    with pytest.raises(MatcherUnavailable):
        LeaderMinutiaeExtractor(LeaderParams(model_variant="int4")).extract(synthetic_prints[0])


def test_nothing_is_built_at_construction(tmp_path):
    ex = LeaderMinutiaeExtractor(LeaderParams(cache_dir=str(tmp_path)))
    assert ex.loads == 0 and ex._session is None and list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_bench_speed_prints_json_with_the_figures(built, cache_dir, monkeypatch):
    from click.testing import CliRunner

    from station.cli.main import main

    assert FVC_SET.is_dir(), f"the FVC2000 DB1_B set is needed at {FVC_SET}"  # a missing set fails, not skips
    monkeypatch.setenv("STATION_MODEL_CACHE", str(cache_dir))
    result = CliRunner().invoke(main, ["bench", "speed", "--dataset", str(FVC_SET), "--limit", "4", "--pairs", "6",
                                       "--json", "--quiet"])
    out = json.loads(result.stdout)
    met = all(all(figures["meets_targets"].values()) for figures in out["sets"].values())
    assert result.exit_code == (0 if met else 1), result.output  # below a target: exit 1 (docs/cli.md)
    assert out["engine"] == "leader_mcc_bozorth3" and out["model"]["variant"] == "fused"
    assert out["model"]["source"] == str(built)
    s = out["sets"][FVC_SET.name]
    assert s["images"] == 4 and s["pairs"] >= 1
    for side in ("engine", "mindtct"):
        assert s["extract_ms"][side]["n"] == 4 and s["extract_ms"][side]["median"] > 0
        assert s["extract_ms"][side]["p95"] >= s["extract_ms"][side]["median"]
    for side in ("engine", "engine_cached", "bozorth3"):
        assert s["compare_ms"][side]["median"] > 0 and s["compare_ms"][side]["p95"] is not None
    assert s["extract_ms"]["ratio_median"] > 0 and s["compare_ms"]["ratio_median"] > 0
    by_pair = s["compare_ms"]["by_pair"]  # the first 4 images are one finger's: every pair is genuine
    for side in ("engine", "engine_reference_cached", "engine_cached", "bozorth3"):
        assert by_pair["genuine"][side]["n"] == s["compare_ms"][side]["n"] == s["pairs"]
        assert by_pair["impostor"][side] == {"n": 0, "median": None, "p95": None}
    assert set(s["meets_targets"]) == {"extract", "compare"}


def test_bench_speed_refuses_a_missing_dataset(tmp_path):
    from click.testing import CliRunner

    from station.cli.main import main

    result = CliRunner().invoke(main, ["bench", "speed", "--dataset", str(tmp_path / "nowhere"), "--json"])
    assert result.exit_code == 2  # a folder that does not exist: usage
