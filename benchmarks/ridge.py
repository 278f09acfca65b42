"""Time and peak memory of brainenc's ridge fit against himalaya, scikit-learn and a bare GEMM.

One run, the same data, the same alphas (``np.logspace(-2, 8, 11)``, one per target), each method
in a fresh process (peak resident memory is that process's VmHWM, data included):

- brainenc: ``LinearEncoder()`` (GCV, the default) and ``LinearEncoder(cv="loo")`` (exact
  leave-one-out);
- himalaya: ``RidgeCV(cv=5, fit_intercept=True, solver_params={"local_alpha": True})`` on its torch
  backend;
- scikit-learn: ``RidgeCV(alpha_per_target=True)`` (efficient leave-one-out, float32 input);
- gemm: ``X.T @ Y`` in torch, the floor of any solver that reads every response once.

The comparison row fits n images x p features -> v targets and scores the held-out images
(Pearson r per target); the scaling rows time brainenc (GCV) and the GEMM only, over v and n.

    python benchmarks/ridge.py [--images 5000] [--features 512] [--targets 20000]
                               [--scale-targets 5000 20000 80000] [--scale-images 2000 5000 10000]
                               [--skip himalaya] [--workdir DIR]

Pass ``--scale-targets 327684`` for the full fsaverage row (about 7 GB of responses at 5,000
images) and ``--scale-targets`` / ``--scale-images`` with no value to skip the scaling rows.
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

import numpy as np

ALPHAS = np.logspace(-2, 8, 11)
N_TEST = 1000
COMPARED = ("brainenc", "brainenc-loo", "himalaya", "sklearn", "gemm")


def make_data(path: Path, n: int, p: int, v: int, n_test: int, seed: int = 0) -> None:
    """Features with a decaying spectrum; targets of mixed SNR (a tenth pure noise), float32."""
    rng = np.random.default_rng(seed)
    spectrum = np.logspace(0, -2, p).astype(np.float32)
    x = rng.standard_normal((n + n_test, p), dtype=np.float32) * spectrum + 1
    w = rng.standard_normal((p, v), dtype=np.float32) * (rng.random(v) > 0.1)
    y = x @ w
    y /= y.std(0) + 1e-6
    y += rng.standard_normal((n + n_test, v), dtype=np.float32) * rng.uniform(0.5, 4, v).astype(
        np.float32
    )
    np.save(path / "x.npy", x)
    np.save(path / "y.npy", y)


def run_method(method: str, path: Path, n: int, out: Path) -> dict:
    """Fit ``method`` on the first ``n`` rows (in this process); return time and peak RSS."""
    import torch
    from himalaya.backend import set_backend
    from himalaya.ridge import RidgeCV as HimalayaRidgeCV
    from sklearn.linear_model import RidgeCV as SklearnRidgeCV

    from brainenc.encoders import LinearEncoder

    x, y = np.load(path / "x.npy"), np.load(path / "y.npy")
    x_train, y_train, x_test = x[:n], y[:n], x[n:]
    backend = set_backend("torch")
    torch.ones(8, 8) @ torch.ones(8, 8)  # start the thread pool before timing
    t = time.perf_counter()
    if method == "gemm":
        torch.from_numpy(x_train).T @ torch.from_numpy(y_train)
        alphas = pred = None
    elif method.startswith("brainenc"):
        cv = "loo" if method == "brainenc-loo" else "gcv"
        model = LinearEncoder(alphas=ALPHAS, cv=cv).fit(x_train, y_train)
        alphas, pred = model.best_alphas_, model.predict(x_test)
    elif method == "himalaya":
        params = {"local_alpha": True, "warn": False}
        model = HimalayaRidgeCV(alphas=ALPHAS, cv=5, fit_intercept=True, solver_params=params)
        model.fit(x_train, y_train)
        alphas = backend.to_numpy(model.best_alphas_)
        pred = backend.to_numpy(model.predict(x_test))
    elif method == "sklearn":
        model = SklearnRidgeCV(alphas=ALPHAS, alpha_per_target=True).fit(x_train, y_train)
        alphas, pred = model.alpha_, model.predict(x_test)
    else:
        raise ValueError(f"unknown method {method!r}; known: {', '.join(COMPARED)}")
    wall = time.perf_counter() - t
    if alphas is not None:
        # snap onto the grid (himalaya gives exp(-log alpha) in float32)
        grid = np.abs(np.log(np.asarray(alphas, np.float64))[:, None] - np.log(ALPHAS)).argmin(1)
        np.save(out / f"{method}_alphas.npy", grid)
        np.save(out / f"{method}_r.npy", _pearson(y[n:], pred))
    return {"method": method, "wall_s": wall, "peak_rss_gb": peak_rss_gb()}


def peak_rss_gb() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, it excludes what the
    parent held before the process replaced its image)."""
    with open("/proc/self/status") as f:
        kb = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    return kb / 2**20


def _pearson(y: np.ndarray, pred: np.ndarray) -> np.ndarray:
    y = y - y.mean(0)
    pred = pred - pred.mean(0)
    return (y * pred).sum(0) / np.sqrt((y**2).sum(0) * (pred**2).sum(0))


def _child(method: str, path: Path, n: int, out: Path) -> dict:
    res = subprocess.run(
        [sys.executable, __file__, "--child", method, str(path), str(n), str(out)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(res.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--images", type=int, default=5000)
    p.add_argument("--features", type=int, default=512)
    p.add_argument("--targets", type=int, default=20000)
    p.add_argument("--scale-targets", type=int, nargs="*", default=[5000, 20000, 80000])
    p.add_argument("--scale-images", type=int, nargs="*", default=[2000, 5000, 10000])
    p.add_argument("--skip", nargs="*", default=[], choices=COMPARED)
    p.add_argument("--workdir", default=None, help="where to write the data (deleted after)")
    p.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        method, path, n, out = args.child
        print(json.dumps(run_method(method, Path(path), int(n), Path(out))))
        return

    work = Path(args.workdir or tempfile.mkdtemp(prefix="ridge_bench_"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        n, v = args.images, args.targets
        print(f"comparison: {n} images x {args.features} features -> {v} targets, float32, ")
        print(f"{len(ALPHAS)} alphas {ALPHAS[0]:g}..{ALPHAS[-1]:g}; r on {N_TEST} held-out images")
        make_data(work, n, args.features, v, N_TEST)
        rows = {m: _child(m, work, n, work) for m in COMPARED if m not in args.skip}
        _print_comparison(rows, work)

        print("\nscaling (brainenc GCV vs gemm):")
        print(
            f"{'images':>7} {'targets':>8} {'brainenc (s)':>13} {'gemm (s)':>9} "
            f"{'ratio':>6} {'peak RSS (GB)':>14} {'data (GB)':>10}"
        )
        sizes = [(n, t) for t in args.scale_targets] + [
            (i, v) for i in args.scale_images if i != n or v not in args.scale_targets
        ]
        for n_images, n_targets in sizes:
            make_data(work, n_images, args.features, n_targets, 0, seed=1)
            fit = _child("brainenc", work, n_images, work)
            gemm = _child("gemm", work, n_images, work)
            data_gb = n_images * (n_targets + args.features) * 4 / 1e9
            print(
                f"{n_images:>7} {n_targets:>8} {fit['wall_s']:>13.2f} {gemm['wall_s']:>9.2f} "
                f"{fit['wall_s'] / gemm['wall_s']:>6.1f} {fit['peak_rss_gb']:>14.2f} "
                f"{data_gb:>10.2f}"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _print_comparison(rows: dict, work: Path) -> None:
    print(f"{'method':>13} {'wall (s)':>9} {'peak RSS (GB)':>14} {'mean r':>7}")
    for m, row in rows.items():
        r = np.load(work / f"{m}_r.npy") if m != "gemm" else None
        mean_r = f"{np.nanmean(r):>7.4f}" if r is not None else f"{'':>7}"
        print(f"{m:>13} {row['wall_s']:>9.2f} {row['peak_rss_gb']:>14.2f} {mean_r}")
    if "brainenc" not in rows:
        return
    ours = rows["brainenc"]["wall_s"]
    refs = [m for m in ("himalaya", "sklearn") if m in rows]
    if refs:
        fastest = min(refs, key=lambda m: rows[m]["wall_s"])
        print(
            f"brainenc is {rows[fastest]['wall_s'] / ours:.1f}x faster than {fastest} "
            "(the faster reference)"
        )
    if "gemm" in rows:
        print(f"brainenc takes {ours / rows['gemm']['wall_s']:.1f}x the bare GEMM")
    for m in ("brainenc", "brainenc-loo", "himalaya"):
        if m in rows and "sklearn" in rows:
            a, b = np.load(work / f"{m}_alphas.npy"), np.load(work / "sklearn_alphas.npy")
            ra, rb = np.load(work / f"{m}_r.npy"), np.load(work / "sklearn_r.npy")
            print(
                f"{m} vs sklearn: same alpha {np.mean(a == b):.2%}, within one grid step "
                f"{np.mean(np.abs(a - b) <= 1):.2%}; held-out r max |diff| "
                f"{np.nanmax(np.abs(ra - rb)):.4f}, mean diff {np.nanmean(ra - rb):+.5f}"
            )


if __name__ == "__main__":
    main()
