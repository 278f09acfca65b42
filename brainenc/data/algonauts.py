"""The Algonauts 2023 challenge data reader (NSD-derived, fsaverage challenge vertices).

Layout of one subject (as distributed by the challenge)::

    subjNN/training_split/training_fmri/{lh,rh}_training_fmri.npy   (n_train, n_vertices_hemi)
    subjNN/training_split/training_images/train-0001_nsd-00013.png  (row 1, 0-based 73k id 13)
    subjNN/test_split/test_images/test-0001_nsd-XXXXX.png           (responses withheld)
    subjNN/roi_masks/{lh,rh}.all-vertices_fsaverage_space.npy       (which fsaverage vertices)
    subjNN/roi_masks/{lh,rh}.<class>_challenge_space.npy + mapping_<class>.npy

The public release has no test responses, so the test split is a seeded hold-out of the training
images (or the images whose NSD ids you pass, e.g. NSD's shared 1000); when
``test_split/test_fmri/{lh,rh}_test_fmri.npy`` exist they are used as the test set instead.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from .brain_data import BrainData
from .formats import label_masks
from .images import FileImages
from .manifest import Manifest, dataset_root
from .nsd.rois import add_combined_rois
from .safe_pickle import load_pickled_npy
from .space import SURFACE_VERTICES, Space

ROI_CLASSES = (
    "prf-visualrois",
    "floc-bodies",
    "floc-faces",
    "floc-places",
    "floc-words",
    "streams",
)
_NAME = re.compile(r"^(train|test)-(\d{4,})_nsd-(\d{5})\.png$")


def _images(folder: Path, prefix: str) -> tuple[list[Path], np.ndarray]:
    """Image files sorted by their row number, and their 0-based NSD ids."""
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} does not exist; unpack the Algonauts 2023 data there")
    found = []
    for p in folder.iterdir():
        m = _NAME.match(p.name)
        if m and m.group(1) == prefix:
            found.append((int(m.group(2)), int(m.group(3)), p))
    found.sort()
    rows = [r for r, _, _ in found]
    if rows != list(range(1, len(rows) + 1)):
        gap = next(i + 1 for i, r in enumerate(rows) if r != i + 1) if rows else 1
        raise ValueError(
            f"{folder}: image {prefix}-{gap:04d}_nsd-*.png is missing; expected files numbered "
            f"1..{len(rows)} without gaps"
        )
    return [p for _, _, p in found], np.array([i for _, i, _ in found], np.int64)


def load_algonauts(
    subject: int,
    data_dir=None,
    *,
    test_ids=None,
    test_fraction: float = 0.1,
    seed: int = 0,
    image_size: int | None = None,
) -> BrainData:
    """Load one Algonauts 2023 subject as a ``BrainData``.

    Parameters
    ----------
    subject : int
        1-8.
    data_dir : path-like, optional
        Data folder whose ``algonauts2023/`` holds ``subj01/``, ``subj02/``, ...;
        ``$BRAINENC_DATA`` or ``~/brainenc_data`` by default.
    test_ids : array of int, optional
        0-based NSD ids of the training images to hold out as the test split.
    test_fraction : float
        Hold-out fraction when neither ``test_ids`` nor test responses are given.
    seed : int
        Seed of the hold-out.
    image_size : int, optional
        Side the PNGs are resized to on load (their own size by default).

    Returns
    -------
    BrainData
        Responses (float32, z-scored and repeat-averaged by the organisers) on the challenge
        vertices, left hemisphere first, in ``fsaverage`` space (``space.vertices`` says which
        vertices); ROIs from ``roi_masks``; ``meta["nsd_ids"]`` gives each image's 73k id.
    """
    root = dataset_root(Manifest.load("algonauts2023"), data_dir)
    base = root / f"subj{subject:02d}"
    if not base.is_dir():
        others = sorted(p.name for p in root.glob("subj*")) if root.is_dir() else []
        raise FileNotFoundError(
            f"{base} does not exist (found: {', '.join(others) or 'nothing'}); unpack subject "
            f"{subject} of the Algonauts 2023 data into {root}"
        )
    masks = base / "roi_masks"
    fmri_dir = base / "training_split" / "training_fmri"
    vertices, arrays, n_hemi = [], [], None
    for h, hemi in enumerate(("lh", "rh")):
        allv_path = masks / f"{hemi}.all-vertices_fsaverage_space.npy"
        if not allv_path.exists():
            raise FileNotFoundError(f"{allv_path} is missing; it says which fsaverage vertices")
        allv = np.load(allv_path)
        if n_hemi is None:
            n_hemi = allv.shape[0]
            if n_hemi not in SURFACE_VERTICES.values():
                raise ValueError(
                    f"{allv_path} has {n_hemi} entries; expected an fsaverage-family vertex count "
                    f"({SURFACE_VERTICES['fsaverage']} for fsaverage)"
                )
        elif allv.shape[0] != n_hemi:
            raise ValueError(f"{allv_path} has {allv.shape[0]} entries; the left one has {n_hemi}")
        verts = np.flatnonzero(allv)
        fpath = fmri_dir / f"{hemi}_training_fmri.npy"
        if not fpath.exists():
            raise FileNotFoundError(f"{fpath} is missing; unpack the training fMRI there")
        arr = np.load(fpath, mmap_mode="r")
        if arr.ndim != 2 or arr.shape[1] != len(verts):
            raise ValueError(
                f"{fpath} has shape {arr.shape} but {allv_path.name} selects {len(verts)} "
                "vertices; the files come from different subjects or releases"
            )
        vertices.append(verts + h * n_hemi)
        arrays.append(arr)
    mesh = next(k for k, v in SURFACE_VERTICES.items() if v == n_hemi)
    paths, nsd_ids = _images(base / "training_split" / "training_images", "train")
    if len(paths) != arrays[0].shape[0] or arrays[0].shape[0] != arrays[1].shape[0]:
        raise ValueError(
            f"{base}: {len(paths)} training images but the fMRI arrays have "
            f"{arrays[0].shape[0]} (lh) and {arrays[1].shape[0]} (rh) rows; they must match"
        )
    responses = np.concatenate([np.asarray(a, np.float32) for a in arrays], axis=1)

    test_dir = base / "test_split" / "test_fmri"
    test_files = [test_dir / f"{h}_test_fmri.npy" for h in ("lh", "rh")]
    if all(p.exists() for p in test_files):
        test_paths, test_nsd = _images(base / "test_split" / "test_images", "test")
        test_resp = np.concatenate([np.load(p).astype(np.float32) for p in test_files], axis=1)
        if test_resp.shape != (len(test_paths), responses.shape[1]):
            raise ValueError(
                f"{test_dir}: test responses have shape {test_resp.shape}; expected "
                f"({len(test_paths)}, {responses.shape[1]})"
            )
        test = np.arange(len(paths), len(paths) + len(test_paths))
        responses = np.concatenate([responses, test_resp])
        paths, nsd_ids = paths + test_paths, np.concatenate([nsd_ids, test_nsd])
        split = "challenge test split"
    elif test_ids is not None:
        test = np.flatnonzero(np.isin(nsd_ids, np.asarray(test_ids)))
        split = f"{len(test)} images with the given NSD ids"
    else:
        if not 0 < test_fraction < 1:
            raise ValueError(f"test_fraction must be in (0, 1); got {test_fraction}")
        n_test = max(1, round(test_fraction * len(paths)))
        test = np.sort(np.random.default_rng(seed).choice(len(paths), n_test, replace=False))
        split = f"seeded hold-out of {test_fraction:g} (seed {seed})"
    train = np.setdiff1d(np.arange(len(paths)), test)

    space = Space.surface(mesh, vertices=np.concatenate(vertices))
    rois = {}
    for cls in ROI_CLASSES:
        files = [masks / f"{h}.{cls}_challenge_space.npy" for h in ("lh", "rh")]
        mapping_path = masks / f"mapping_{cls}.npy"
        if not all(p.exists() for p in [*files, mapping_path]):
            continue
        values = np.concatenate([np.load(p) for p in files])
        if values.shape != (space.n_targets,):
            raise ValueError(
                f"{files[0].parent}: {cls} challenge-space masks have {values.shape[0]} entries; "
                f"expected {space.n_targets} (one per challenge vertex)"
            )
        mapping = load_pickled_npy(mapping_path)
        if not isinstance(mapping, dict):
            raise ValueError(
                f"{mapping_path} holds a {type(mapping).__name__}; expected the dict of label "
                "values to ROI names the challenge ships"
            )
        names = {int(k): str(v) for k, v in mapping.items() if int(k) != 0}
        rois.update(label_masks(values, names, group=cls))
    add_combined_rois(rois)

    meta = {
        "dataset": "algonauts2023",
        "subject": subject,
        "space": "fsaverage",
        "split": split,
        "nsd_ids": nsd_ids.tolist(),
        "preprocessing": "z-scored per session and repeat-averaged by the organisers",
    }
    return BrainData(
        responses=responses,
        images=FileImages(paths, size=image_size),
        train=train,
        test=test,
        space=space,
        rois=rois,
        meta=meta,
    )
