"""NSD's ROIs: which label files a subject has, reading them, naming and combining their values."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..formats import label_masks, read_ctab, read_surface_map
from ..manifest import HEMISPHERES

#: ROI label files read per subject (their colour tables name the values).
SUBJECT_LABELS = ("prf-visualrois", "floc-faces", "floc-bodies", "floc-places", "floc-words")
#: Bilateral ROIs built from the ctab names when all their parts exist.
COMBINED_ROIS = {
    "V1": ("V1v", "V1d"),
    "V2": ("V2v", "V2d"),
    "V3": ("V3v", "V3d"),
    "FFA": ("FFA-1", "FFA-2"),
    "FBA": ("FBA-1", "FBA-2"),
    "VWFA": ("VWFA-1", "VWFA-2"),
}
#: Label files without a colour table of their own.
BUILTIN_CTABS = {"nsdgeneral": {1: "nsdgeneral"}}


def add_combined_rois(rois: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Add the unions of :data:`COMBINED_ROIS` whose parts are all present (in place)."""
    for name, parts in COMBINED_ROIS.items():
        if name not in rois and all(p in rois for p in parts):
            rois[name] = np.logical_or.reduce([rois[p] for p in parts])
    return rois


def label_files(root, manifest, subject, space, nsdgeneral, atlases) -> list[Path]:
    """The ROI, colour-table and transform files a preparation reads besides the betas."""

    def at(key, **fields):
        return manifest.local_path(root, key, space, subject=subject, **fields)

    def ctab(label):
        return manifest.local_path(root, "ctab", subject=subject, label=label)

    files = []
    for label in SUBJECT_LABELS:
        files.append(ctab(label))
        if space == "fsaverage":
            files += [at("labels", hemi=h, label=label) for h in HEMISPHERES.values()]
        else:
            files.append(at("rois", label=label))
    if space != "fsaverage":
        extra = [at("rois", label="nsdgeneral")] if nsdgeneral else []
        return [at("brainmask"), *extra, *files]
    for atlas in dict.fromkeys([*atlases, *(["nsdgeneral"] if nsdgeneral else [])]):
        files += [at("atlas", hemi=h, label=atlas) for h in HEMISPHERES.values()]
        if atlas not in BUILTIN_CTABS:
            files.append(ctab(atlas))
    return files + [at("transform", hemi=h) for h in HEMISPHERES.values()]


def read_surface_rois(path, ctab, select, n_hemi: int, atlases) -> dict[str, np.ndarray]:
    """The ROIs of fsaverage targets: the fsaverage atlases, then the subject's labels.

    The subject's labels are defined on its native surface; NSD's ``white-to-fsaverage``
    transform (1-based native vertex of each fsaverage vertex) carries them over.

    Parameters
    ----------
    path : callable
        ``path(key, **fields)``: the local path of a manifest entry of the subject.
    ctab : callable
        ``ctab(label)``: the path of a label file's colour table.
    select : callable
        Joins the per-hemisphere arrays (left first) into the targets' array.
    n_hemi : int
        fsaverage vertices per hemisphere.
    atlases : sequence of str
        fsaverage atlases to read.
    """
    rois = {}
    for atlas in atlases:
        names = BUILTIN_CTABS.get(atlas) or read_ctab(ctab(atlas))
        values = select(
            [
                read_surface_map(path("atlas", hemi=h, label=atlas), n_hemi)
                for h in HEMISPHERES.values()
            ]
        )
        rois.update(label_masks(values, names, group=atlas if len(names) > 1 else None))
    for label in SUBJECT_LABELS:
        names = read_ctab(ctab(label))
        per_hemi = []
        for h in HEMISPHERES.values():
            native = read_surface_map(path("labels", hemi=h, label=label))
            tpath = path("transform", hemi=h)
            idx = read_surface_map(tpath, n_hemi).astype(np.int64)
            if idx.min() < 1 or idx.max() > native.shape[0]:
                raise ValueError(
                    f"{tpath} points to native vertices in [{idx.min()}, {idx.max()}] but "
                    f"{h}.{label}.mgz has {native.shape[0]}; the transform and the label "
                    "belong to different subjects"
                )
            per_hemi.append(native[idx - 1])
        rois.update(label_masks(select(per_hemi), names, group=label))
    return add_combined_rois(rois)


def read_volume_rois(path, ctab, volume, flat: np.ndarray) -> dict[str, np.ndarray]:
    """The ROIs of func1pt8mm targets: nsdgeneral (when present), then the subject's labels.

    Parameters
    ----------
    path, ctab : callable
        As in :func:`read_surface_rois`.
    volume : callable
        ``volume(path)``: a volume of the subject's grid.
    flat : array of shape (n_targets,)
        C-order indices of the targets' voxels.
    """
    rois = {}
    for label in ("nsdgeneral", *SUBJECT_LABELS):
        file = path("rois", label=label)
        if label == "nsdgeneral" and not file.exists():
            continue
        names = BUILTIN_CTABS.get(label) or read_ctab(ctab(label))
        values = volume(file).ravel()[flat]
        rois.update(label_masks(values, names, group=label if len(names) > 1 else None))
    return add_combined_rois(rois)
