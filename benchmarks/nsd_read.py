"""Read time of one func1pt8mm ``betas_sessionXX.hdf5`` session: 50 trials at a time vs by chunks.

Writes one session with NSD's layout (int16 ``betas`` of shape (750, Z, Y, X), the 750 trials of
each voxel in one chunk) and reads the brain-mask voxels two ways, in the same process:

- by trials: ``ds[t : t + 50]`` for t = 0, 50, …, 700, as brainenc read it before (every read
  touches every chunk, so each chunk is read 15 times);
- by chunks: :func:`brainenc.data.nsd.read_volume_betas` (slabs of whole chunks along Z, all
  trials: each chunk once).

    python benchmarks/nsd_read.py [--grid 30 30 30] [--workdir DIR]

The default grid holds 27,000 voxels (about 70% of them in the mask); NSD's is 81 x 104 x 83.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import h5py
import nibabel as nib
import numpy as np

from brainenc.data._fixtures import write_nsd_fixture
from brainenc.data.manifest import Manifest
from brainenc.data.nsd import read_volume_betas

TRIALS = 750


def read_by_trials(ds, flat: np.ndarray, grid) -> np.ndarray:
    """The previous reader: 50 trials at a time across the whole volume."""
    out = np.empty((TRIALS, len(flat)), np.float32)
    for t in range(0, TRIALS, 50):
        blk = ds[t : t + 50].transpose(0, 3, 2, 1).reshape(-1, int(np.prod(grid)))
        out[t : t + 50] = blk[:, flat]
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--grid", type=int, nargs=3, default=[30, 30, 30], metavar=("X", "Y", "Z"))
    p.add_argument("--workdir", default=None, help="where to write the session (deleted after)")
    args = p.parse_args(argv)
    grid = tuple(args.grid)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="nsd_read_"))
    try:
        write_nsd_fixture(
            work, 1, 1, spaces=("func1pt8mm",), grid=grid, volume_formats=("hdf5",), stimuli=False
        )
        man = Manifest.load("nsd")
        mask_path = work / man.path("brainmask", "func1pt8mm", subject=1)
        flat = np.flatnonzero(np.asarray(nib.load(str(mask_path)).dataobj).ravel() > 0)
        path = work / man.path("betas", "func1pt8mm", subject=1, session=1)
        times, results = {}, {}
        for name, read in (("by trials", read_by_trials), ("by chunks", read_volume_betas)):
            with h5py.File(path, "r") as f:
                ds = f["betas"]
                t = time.perf_counter()
                results[name] = read(ds, flat, grid)
                times[name] = time.perf_counter() - t
        with h5py.File(path, "r") as f:
            chunks = f["betas"].chunks
        assert np.array_equal(results["by trials"], results["by chunks"])
        size = path.stat().st_size / 1e6
        print(f"session file: {grid} grid, {len(flat)} mask voxels, chunks {chunks}, {size:.0f} MB")
        for name, seconds in times.items():
            print(f"{name:>10}: {seconds:7.2f} s")
        print(f"by chunks is {times['by trials'] / times['by chunks']:.0f}x faster (same values)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
