"""Peak memory of preparing an NSD subject at full fsaverage resolution, as sessions grow.

Writes an NSD-layout subject with the real fsaverage vertex count (163,842 per hemisphere,
327,684 targets; one (163842, 1, 1, 750) float32 .mgh per hemisphere, the other sessions linked
to it), then runs ``prepare_nsd`` for each session count in a fresh process and prints its peak
resident memory (ru_maxrss), wall time and store size.

    python benchmarks/nsd_memory.py --sessions 2 4 8 [--dtype float32] [--workdir DIR]

The claim it checks: peak RSS stays roughly constant as sessions grow (sessions are streamed into
the on-disk store), well under 4 GB.
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

CHILD = """
import json, resource, sys, time
from brainenc.data.nsd import prepare_nsd
root, n, dtype, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
t = time.perf_counter()
path = prepare_nsd(root, 1, "fsaverage", f"1-{n}", out=out, dtype=dtype, quiet=True)
wall = time.perf_counter() - t
peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"sessions": n, "peak_rss_gb": peak_kb / 2**20, "wall_s": wall}))
"""


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sessions", type=int, nargs="+", default=[2, 4, 8])
    p.add_argument("--dtype", choices=["float32", "float16"], default="float32")
    p.add_argument("--workdir", default=None, help="where to write the fixture (deleted after)")
    args = p.parse_args(argv)

    from brainenc.data.fixtures import write_nsd_fixture

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
        print("{:>8} {:>7} {:>14} {:>9} {:>11}".format(*header))
        rows = []
        for n in args.sessions:
            out = work / f"store_{n}.h5"
            res = subprocess.run(
                [sys.executable, "-c", CHILD, str(work / "nsd"), str(n), args.dtype, str(out)],
                check=True,
                capture_output=True,
                text=True,
            )
            row = json.loads(res.stdout.strip().splitlines()[-1])
            row["store_gb"] = out.stat().st_size / 1e9
            rows.append(row)
            print(
                f"{n:>8} {n * 750:>7} {row['peak_rss_gb']:>14.2f} {row['wall_s']:>9.1f} "
                f"{row['store_gb']:>11.2f}"
            )
            out.unlink()
        ratio = rows[-1]["peak_rss_gb"] / rows[0]["peak_rss_gb"]
        print(
            f"peak RSS ratio {rows[-1]['sessions']} vs {rows[0]['sessions']} sessions: "
            f"{ratio:.2f}x (targets 327684, dtype {args.dtype})"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
