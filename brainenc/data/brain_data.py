"""``BrainData``: one subject's responses, stimuli, split, ROIs and noise ceiling."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from ..validation import check_indices
from .images import ImageSet
from .space import Space


@dataclass
class BrainData:
    """One subject's responses to a set of images; what every reader returns.

    Parameters
    ----------
    responses : array of shape (n_images, n_targets)
        Response of each target to each image, averaged over that image's repeats. A numpy array
        or an ``h5py.Dataset`` (read in row blocks, never whole).
    images : ImageSet
        The stimuli, row ``i`` of ``responses`` being the response to ``images[i]``.
    train, test : int arrays
        Disjoint indices of the training and test images.
    space : Space
        Where the targets live (surface vertices or volume voxels).
    rois : dict of str to bool array of shape (n_targets,)
        Named regions of interest.
    noise_ceiling : array of shape (n_targets,), optional
        Fraction of the variance of the repeat-averaged test responses that is stimulus-driven
        (0-1); see :func:`brainenc.metrics.noise_ceiling`.
    repeats : array of shape (n_repeats, len(test), n_targets), optional
        Single-trial responses to the test images (NaN for a missing repeat).
    meta : dict
        JSON-friendly provenance (dataset, subject, preprocessing); written into every artifact.
    truth : dict of str to array
        Ground truth when it is known (simulated subjects), e.g. ``"noise_ceiling"``.
    """

    responses: object
    images: ImageSet
    train: np.ndarray
    test: np.ndarray
    space: Space
    rois: dict[str, np.ndarray] = field(default_factory=dict)
    noise_ceiling: np.ndarray | None = None
    repeats: np.ndarray | None = None
    meta: dict = field(default_factory=dict)
    truth: Mapping[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self):
        shape = getattr(self.responses, "shape", None)
        if shape is None or len(shape) != 2:
            raise ValueError(f"responses must be 2-D (n_images, n_targets); got shape {shape}")
        n_images, n_targets = shape
        if len(self.images) != n_images:
            raise ValueError(
                f"responses has {n_images} rows but there are {len(self.images)} images; "
                "both must index the same images"
            )
        if self.space.n_targets != n_targets:
            raise ValueError(
                f"responses has {n_targets} targets but space {self.space.name!r} has "
                f"{self.space.n_targets}"
            )
        self.train = check_indices(self.train, n_images, "train")
        self.test = check_indices(self.test, n_images, "test")
        overlap = np.intersect1d(self.train, self.test)
        if overlap.size:
            raise ValueError(f"train and test share {overlap.size} images; they must be disjoint")
        rois = {}
        for name, mask in self.rois.items():
            mask = np.asarray(mask)
            if mask.shape != (n_targets,) or mask.dtype != bool:
                raise ValueError(
                    f"ROI {name!r} must be a boolean mask of shape ({n_targets},); got "
                    f"{mask.dtype} {mask.shape}"
                )
            rois[name] = mask
        self.rois = rois
        if self.noise_ceiling is not None:
            self.noise_ceiling = np.asarray(self.noise_ceiling, dtype=np.float64)
            if self.noise_ceiling.shape != (n_targets,):
                raise ValueError(
                    f"noise_ceiling has shape {self.noise_ceiling.shape}; expected ({n_targets},)"
                )
        if self.repeats is not None:
            expected = (len(self.test), n_targets)
            if self.repeats.ndim != 3 or self.repeats.shape[1:] != expected:
                raise ValueError(
                    f"repeats has shape {self.repeats.shape}; expected (n_repeats, "
                    f"{expected[0]}, {expected[1]}) for {len(self.test)} test images"
                )

    @property
    def n_images(self) -> int:
        return self.responses.shape[0]

    @property
    def n_targets(self) -> int:
        return self.responses.shape[1]

    def roi(self, name: str) -> np.ndarray:
        """Boolean target mask of the ROI ``name``; a clear error for an unknown name."""
        try:
            return self.rois[name]
        except KeyError:
            known = ", ".join(self.rois) or "none"
            raise KeyError(f"unknown ROI {name!r}; this dataset has: {known}") from None

    def rows(self, indices) -> np.ndarray:
        """Responses of the given images as a float32 array ``(len(indices), n_targets)``.

        Reads in sorted order, so it is efficient for an on-disk (HDF5) ``responses``.
        """
        indices = np.asarray(indices, dtype=np.int64)
        order = np.argsort(indices, kind="stable")
        block = np.asarray(self.responses[indices[order]], dtype=np.float32)
        out = np.empty_like(block)
        out[order] = block
        return out

    def describe(self) -> str:
        """One line: dataset, subject, images, targets, split, ROIs."""
        who = " ".join(str(self.meta[k]) for k in ("dataset", "subject") if k in self.meta)
        return (
            f"{who or 'BrainData'}: {self.n_images} images ({len(self.train)} train, "
            f"{len(self.test)} test), {self.n_targets} targets in {self.space.name}, "
            f"{len(self.rois)} ROIs"
        )
