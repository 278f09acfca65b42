"""Peak memory of preparing and fitting an NSD subject at full fsaverage resolution.

Writes an NSD-layout subject with the real fsaverage vertex count (163,842 per hemisphere,
327,684 targets; one (163842, 1, 1, 750) float32 .mgh per hemisphere, the other sessions linked
to it), then for each session count, each in a fresh process: runs ``prepare_nsd``, then fits a
linear encoder from the store with :func:`brainenc.encoders.fit_out_of_core` (random 512-d
features, ``memory="3.5GB"``) and scores it on the test images with
:func:`~brainenc.encoders.score_out_of_core` (each in its own process); prints each step's peak
resident memory (VmHWM), wall time and the store size.

    python benchmarks/nsd_memory.py --sessions 2 4 8 [--dtype float32] [--no-fit]
                                    [--memory 3.5GB] [--workdir DIR]

The claim it checks: peak RSS stays roughly constant as sessions grow (sessions are streamed into
the on-disk store, targets are fitted in blocks), under 4 GB.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PEAK = """
def peak_rss_gb():  # VmHWM: unlike ru_maxrss, it excludes what the parent held before exec
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmHWM:")) / 2**20
"""

CHILD = (
    PEAK
    + """
import json, sys, time
from brainenc.data.nsd import prepare_nsd
data_dir, n, dtype, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
t = time.perf_counter()
path = prepare_nsd(1, "fsaverage", f"1-{n}", data_dir, out=out, dtype=dtype, progress=False)
wall = time.perf_counter() - t
print(json.dumps({"sessions": n, "peak_rss_gb": peak_rss_gb(), "wall_s": wall}))
"""
)

FIT = (
    PEAK
    + """
import json, sys, time
import h5py, numpy as np
from brainenc.encoders import LinearEncoder, fit_out_of_core, score_out_of_core
step, store, out, memory = sys.argv[1:5]
with h5py.File(store, "r") as f:
    ds, train, test = f["responses"], f["train"][()], f["test"][()]
    x = np.random.default_rng(0).standard_normal((ds.shape[0], 512), dtype=np.float32)
    t = time.perf_counter()
    if step == "fit":
        fit_out_of_core(LinearEncoder(nan_targets="ignore"), x[train], ds, out, rows=train,
                        memory=memory)
    else:
        r = score_out_of_core(out, x[test], ds, rows=test, memory=memory)
wall = time.perf_counter() - t
print(json.dumps({"peak_rss_gb": peak_rss_gb(), "wall_s": wall, "n_train": len(train)}))
"""
)


def _run(code: str, *args) -> dict:
    """Run ``code`` in a fresh process; its last stdout line as JSON."""
    res = subprocess.run(
        [sys.executable, "-c", code, *map(str, args)], check=True, capture_output=True, text=True
    )
    return json.loads(res.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sessions", type=int, nargs="+", default=[2, 4, 8])
    p.add_argument("--dtype", choices=["float32", "float16"], default="float32")
    p.add_argument("--workdir", default=None, help="where to write the fixture (deleted after)")
    p.add_argument("--no-fit", action="store_true", help="prepare only")
    p.add_argument("--memory", default="3.5GB", help="the fit's memory budget (default 3.5GB)")
    args = p.parse_args(argv)

    from brainenc.data._fixtures import write_nsd_fixture

    work = Path(args.workdir or tempfile.mkdtemp(prefix="nsd_memory_"))
    try:
        t = time.perf_counter()
        write_nsd_fixture(
            work / "nsd",
            1,
            max(args.sessions),
            spaces=("fsaverage",),
            mesh="fsaverage",
            stimuli=False,
            link_sessions=True,
        )
        print(f"fixture: 2 x (163842, 1, 1, 750) float32 .mgh in {time.perf_counter() - t:.1f} s")
        header = ("sessions", "trials", "peak RSS (GB)", "wall (s)", "store (GB)")
        print("{:>8} {:>7} {:>14} {:>9} {:>11}".format(*header), end="")
        fit_header = ("train", "fit RSS (GB)", "fit (s)", "score RSS (GB)", "score (s)")
        print("" if args.no_fit else " {:>6} {:>13} {:>8} {:>15} {:>10}".format(*fit_header))
        rows = []
        for n in args.sessions:
            out = work / f"store_{n}.h5"
            row = _run(CHILD, work, n, args.dtype, out)
            row["store_gb"] = out.stat().st_size / 1e9
            rows.append(row)
            print(
                f"{n:>8} {n * 750:>7} {row['peak_rss_gb']:>14.2f} {row['wall_s']:>9.1f} "
                f"{row['store_gb']:>11.2f}",
                end="",
            )
            if not args.no_fit:
                enc = work / "enc"
                fit = _run(FIT, "fit", out, enc, args.memory)
                score = _run(FIT, "score", out, enc, args.memory)
                row["fit_rss_gb"] = max(fit["peak_rss_gb"], score["peak_rss_gb"])
                print(
                    f" {fit['n_train']:>6} {fit['peak_rss_gb']:>13.2f} {fit['wall_s']:>8.1f} "
                    f"{score['peak_rss_gb']:>15.2f} {score['wall_s']:>10.1f}",
                    end="",
                )
                shutil.rmtree(work / "enc")
            print()
            out.unlink()
        ratio = rows[-1]["peak_rss_gb"] / rows[0]["peak_rss_gb"]
        print(
            f"peak RSS ratio {rows[-1]['sessions']} vs {rows[0]['sessions']} sessions: "
            f"{ratio:.2f}x (targets 327684, dtype {args.dtype})"
        )
        if not args.no_fit:
            ratio = rows[-1]["fit_rss_gb"] / rows[0]["fit_rss_gb"]
            print(
                f"fit and score peak RSS ratio {rows[-1]['sessions']} vs "
                f"{rows[0]['sessions']} sessions: {ratio:.2f}x"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
