"""NSD's ROIs: which label files a subject has, how their values are named and combined."""

from __future__ import annotations

from pathlib import Path

import numpy as np

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
