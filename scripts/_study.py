"""What the study scripts share: picking a subject (NSD or the in-silico world) from options."""

from __future__ import annotations

import argparse
from pathlib import Path

from brainenc.data import BrainData, default_data_dir, load_nsd
from brainenc.data.world import load_world
from brainenc.encoders import Encoder, load_encoder

#: Where NSD keeps a subject's mean functional image (the background of func1pt8mm maps).
NSD_MEAN = "nsddata/ppdata/subj{subject:02d}/func1pt8mm/mean.nii.gz"


def run_dir_parser(description: str) -> argparse.ArgumentParser:
    """A parser for a script that works on a results folder: RUN_DIR, then the subject options."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", help="results folder with encoder_*/")
    add_data_arguments(parser)
    return parser


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that pick the subject: NSD by default, ``--world`` for the simulated one."""
    group = parser.add_argument_group("subject")
    group.add_argument(
        "--world", action="store_true", help="use a simulated subject of the in-silico world"
    )
    group.add_argument("--subject", type=int, default=1, help="subject number (default 1)")
    group.add_argument(
        "--data-dir",
        default=None,
        help="data folder holding nsd/ (default $BRAINENC_DATA or ~/brainenc_data)",
    )
    group.add_argument(
        "--space", default="fsaverage", help="NSD betas: fsaverage (default) or func1pt8mm"
    )
    group.add_argument("--sessions", default=None, help="NSD sessions, e.g. 1-40 (default: all)")
    group.add_argument(
        "--mesh", default="fsaverage", help="surface of the NSD fsaverage betas (default fsaverage)"
    )
    group.add_argument(
        "--reference",
        default=None,
        help=f"background of func1pt8mm maps (default <data-dir>/nsd/{NSD_MEAN} when present)",
    )
    group.add_argument(
        "--n-train", type=int, default=2000, help="world: training images (default 2000)"
    )
    group.add_argument("--n-test", type=int, default=300, help="world: test images (default 300)")


def load_data(args: argparse.Namespace) -> BrainData:
    """The subject the options name (NSD is prepared on first use, see ``brainenc data``)."""
    if args.world:
        return load_world(args.subject, n_train=args.n_train, n_test=args.n_test)
    extra = {"mesh": args.mesh} if args.space == "fsaverage" else {}
    return load_nsd(args.subject, args.space, args.sessions, args.data_dir, progress=False, **extra)


def nsd_root(args: argparse.Namespace) -> Path:
    return Path(args.data_dir or default_data_dir()).expanduser() / "nsd"


def reference(args: argparse.Namespace) -> Path | None:
    """The background image of volume maps: ``--reference``, else NSD's mean image if present."""
    if args.reference is not None:
        return Path(args.reference)
    if args.world:
        return None
    mean = nsd_root(args) / NSD_MEAN.format(subject=args.subject)
    return mean if mean.is_file() else None


def default_out(args: argparse.Namespace, what: str) -> Path:
    """``brainenc_results/<what>_<dataset>_subjNN``."""
    dataset = "world" if args.world else f"nsd_{args.space}"
    return Path("brainenc_results") / f"{what}_{dataset}_subj{args.subject:02d}"


def encoder_folders(run_dir: Path, chosen: list[str] | None) -> list[Path]:
    """The ``--encoder`` folders, else every ``RUN_DIR/encoder_*/``; an error if there are none."""
    folders = [Path(p) for p in chosen or sorted(run_dir.glob("encoder_*"))]
    if not folders:
        raise SystemExit(
            f"no encoder_*/ folder in {run_dir}; fit one with scripts/fit_nsd_subject.py"
        )
    return folders


def load_fitted(folder: Path, data: BrainData) -> Encoder:
    """The encoder saved in ``folder``, checked to have been fitted to ``data``'s subject."""
    encoder = load_encoder(folder)
    for key in ("dataset", "subject"):
        if key in encoder.metadata_ and encoder.metadata_[key] != data.meta.get(key):
            raise SystemExit(
                f"{folder} was fitted to {key} {encoder.metadata_[key]!r} but the data are "
                f"{key} {data.meta.get(key)!r}; pick the subject it was fitted to"
            )
    return encoder
