"""``brainenc features`` and ``brainenc fit-store``: a prepared NSD store → cached features →
one linear encoder directory (``brainenc fit`` fits a whole study: see :mod:`brainenc.study`).

Both run as they are under ``torchrun``
(``torchrun --nproc-per-node=N $(which brainenc) fit-store``):
the process group is initialised from the environment (gloo on CPU, nccl on CUDA), ``features``
shards the images across ranks into one cache and ``fit`` shards the targets.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_encoder_commands(subparsers) -> None:
    """Register ``features`` and ``fit-store`` on an argparse subparsers object."""
    features = subparsers.add_parser(
        "features", help="extract a backbone's features of a prepared store's images (cached)"
    )
    _common(features)
    features.set_defaults(func=_features)

    fit = subparsers.add_parser(
        "fit-store", help="fit a linear encoder from a prepared store, out of core, and score it"
    )
    _common(fit)
    fit.add_argument("--out", required=True, help="encoder directory to write")
    fit.add_argument("--memory", default="4GB", help="memory budget of the fit (default 4GB)")
    fit.add_argument("--cv", default="gcv", help="gcv (default), loo or a number of folds")
    fit.set_defaults(func=_fit)


def _common(p) -> None:
    p.add_argument("store", help="a response store (from `brainenc data prepare`)")
    p.add_argument("--backbone", default="gabor", help="backbone spec (default gabor)")
    p.add_argument("--cache-dir", default=None, help="feature cache (default <store dir>/features)")
    p.add_argument("--stimuli", default=None, help="nsd_stimuli.hdf5 (default: in the data dir)")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--batch-size", type=int, default=64, help="images per forward pass")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def _store_features(args: argparse.Namespace):
    """(features of every store row, the store path) for the command's options."""
    from .data.images import HDF5Images
    from .data.manifest import Manifest, default_data_dir
    from .data.store import store_array
    from .distributed import init_from_env
    from .features import Backbone, cached_features

    init_from_env(args.device)
    store = Path(args.store)
    stimuli = args.stimuli or (
        default_data_dir().expanduser() / "nsd" / Manifest.load("nsd").path("stimuli")
    )
    if not Path(stimuli).exists():
        raise SystemExit(f"no stimuli at {stimuli}; download them or pass --stimuli")
    images = HDF5Images(stimuli, "imgBrick", store_array(store, "image_ids"))
    features = cached_features(
        Backbone.from_spec(args.backbone), images, args.cache_dir or store.parent / "features",
        batch_size=args.batch_size, device=args.device, progress=not args.quiet,
    )  # fmt: skip
    return features, store


def _features(args: argparse.Namespace) -> int:
    features, _ = _store_features(args)
    if not args.quiet:
        print(f"features of {args.backbone}: {features.shape[0]} images x {features.shape[1]}")
    return 0


def _fit(args: argparse.Namespace) -> int:
    import h5py
    import numpy as np

    from .distributed import rank_and_world
    from .encoders import LinearEncoder, fit_out_of_core, score_out_of_core

    features, store = _store_features(args)
    cv = int(args.cv) if args.cv.isdigit() else args.cv
    encoder = LinearEncoder(cv=cv, nan_targets="ignore", device=args.device)
    with h5py.File(store, "r") as f:
        train, test = f["train"][()], f["test"][()]
        metadata = {"backbone": args.backbone, "store": str(store)}
        out = fit_out_of_core(
            encoder, features[train], f["responses"], args.out, rows=train, memory=args.memory,
            metadata=metadata, progress=not args.quiet,
        )  # fmt: skip
        if len(test) and rank_and_world()[0] == 0:
            r = score_out_of_core(out, features[test], f["responses"], rows=test)
            print(f"{out}: median test r {np.nanmedian(r):.3f} over {np.isfinite(r).sum()} targets")
    return 0
