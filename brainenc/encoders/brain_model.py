"""``BrainModel``: backbone + encoder readout as one differentiable image → targets module."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..features.backbone import spread_over_patches
from .base import FEATURE_TYPES, Encoder


class BrainModel(torch.nn.Module):
    """Predicted brain responses of images, differentiable end to end.

    What synthesis (BrainDiVE) and captioning (BrainSCUBA) consume, whichever encoder is inside.

    Parameters
    ----------
    backbone : torch.nn.Module
        Has the method the readout reads, ``embed(images)`` (pooled features (n, n_features))
        or ``tokens(images)`` (token grids (n, n_tokens, width)), of float images
        (n, 3, H, W) in [0, 1].
    readout : Encoder or torch.nn.Module
        A fitted encoder (its :meth:`~Encoder.to_module` is used, on the backbone output its
        ``feature_type`` names) or a module mapping features to responses (n, n_targets).
    rois : dict of str to bool array of shape (n_targets,), optional
        Named regions of interest over the targets.
    space : Space, optional
        Where the targets live (kept for maps and provenance).
    metadata : dict, optional
        Provenance (backbone spec, encoder, dataset).
    feature_type : {"embed", "tokens"}, optional
        The backbone output a module readout reads (default ``"embed"``); an encoder readout
        declares its own.
    """

    def __init__(self, backbone, readout, rois=None, space=None, metadata=None,
                 feature_type: str | None = None):  # fmt: skip
        super().__init__()
        if isinstance(readout, Encoder):
            if feature_type not in (None, readout.feature_type):
                raise ValueError(
                    f"the {readout.name} encoder reads {readout.feature_type!r} features; "
                    f"feature_type={feature_type!r} contradicts it"
                )
            feature_type = readout.feature_type
        feature_type = feature_type or "embed"
        if feature_type not in FEATURE_TYPES:
            raise ValueError(f"feature_type must be one of {FEATURE_TYPES}; got {feature_type!r}")
        if not callable(getattr(backbone, feature_type, None)):
            raise TypeError(
                f"the readout reads {feature_type!r} features, but the backbone "
                f"({type(backbone).__name__}) has no {feature_type}(images) method"
            )
        self.backbone = backbone
        self.feature_type = feature_type
        self.readout = readout.to_module() if isinstance(readout, Encoder) else readout
        self.rois = {name: _bool_mask(mask, name) for name, mask in (rois or {}).items()}
        self.space = space
        self.metadata = dict(metadata or {})

    @classmethod
    def from_encoder(cls, backbone, encoder: Encoder, data=None) -> BrainModel:
        """Assemble a model from a backbone, a fitted encoder and (optionally) its ``BrainData``.

        ROIs and space come from ``data``; metadata from the encoder (what
        :meth:`Encoder.load` read) plus the encoder kind, the backbone spec and the dataset.
        A backbone whose ``spec`` differs from the ``"backbone"`` the encoder was saved with
        raises ``ValueError``: the encoder's weights only mean something on its own features.
        So does ``data`` of another dataset, subject or space than the encoder's metadata names.
        """
        metadata = {"encoder": encoder.spec, **getattr(encoder, "metadata_", {})}
        spec = getattr(backbone, "spec", None)
        if spec is not None:
            saved = metadata.setdefault("backbone", spec)
            if saved != spec:
                raise ValueError(
                    f"the encoder was fitted on features of backbone {saved!r} but the given "
                    f"backbone is {spec!r}; pass the backbone the encoder was fitted with"
                )
        if data is None:
            return cls(backbone, encoder, metadata=metadata)
        for key in ("dataset", "subject", "space"):
            fitted_on = getattr(encoder, "metadata_", {}).get(key)
            if fitted_on is not None and key in data.meta and data.meta[key] != fitted_on:
                raise ValueError(
                    f"the encoder was fitted on {key} {fitted_on!r} but the data are {key} "
                    f"{data.meta[key]!r}: their targets and ROIs are not the encoder's; pass the "
                    f"BrainData of {key} {fitted_on!r}"
                )
        n_targets = getattr(encoder, "n_targets_", data.n_targets)
        if n_targets != data.n_targets:
            raise ValueError(
                f"the encoder predicts {n_targets} targets but the data have {data.n_targets}; "
                "pass the BrainData the encoder was fitted on"
            )
        metadata.setdefault("data", data.meta)
        return cls(backbone, encoder, rois=data.rois, space=data.space, metadata=metadata)

    @classmethod
    def ensemble(cls, models: Sequence[BrainModel]) -> BrainModel:
        """The mean prediction of brain models of the same targets, e.g. encoders of one subject
        on different backbones.

        Guided synthesis then ascends the mean's gradient, so a change that moves one backbone
        but not the others moves the guide by a fraction only. On the in-silico world this
        saves a guide that one encoder's gradient fools (world-clip's, for bodies), though one
        encoder with BrainDiVE's rerank at a gentle scale does as well or better in most
        regions; ``docs/world.md`` chooses the guide per objective on other seeds.
        ROIs and space come from the first model; every model must have the same ROIs and,
        where both say, the same space.
        """
        models = list(models)
        if len(models) < 2:
            raise ValueError(f"an ensemble needs at least two brain models; got {len(models)}")
        first = models[0]
        for i, model in enumerate(models[1:], start=1):
            if model.rois.keys() != first.rois.keys() or any(
                not np.array_equal(model.rois[name], mask) for name, mask in first.rois.items()
            ):
                raise ValueError(
                    f"brain model {i} has other ROIs than brain model 0; an ensemble averages "
                    "predictions of the same targets (fit every member on the same data)"
                )
            if not _same_space(model.space, first.space):
                theirs, ours = _space_name(model.space), _space_name(first.space)
                if theirs == ours:
                    theirs += " with other vertices, mask or affine"
                raise ValueError(
                    f"brain model {i} predicts targets of space {theirs} but brain model 0 of "
                    f"{ours}; an ensemble averages predictions of the same targets (fit every "
                    "member on the same data)"
                )
        metadata = {"encoder": "ensemble", "members": [m.metadata for m in models]}
        return cls(ImageInput(), _MeanPrediction(models), rois=first.rois, space=first.space,
                   metadata=metadata)  # fmt: skip

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Predicted responses, (n, n_targets), of float images (n, 3, H, W) in [0, 1]."""
        return self.readout(getattr(self.backbone, self.feature_type)(images))

    def roi_activation(self, images: torch.Tensor, roi) -> torch.Tensor:
        """Mean predicted response over the targets of ``roi``, per image.

        Parameters
        ----------
        images : tensor of shape (n, 3, H, W), float in [0, 1]
        roi : str, bool array of shape (n_targets,), or int array of target indices
            A name from ``rois``, a target mask or target indices.

        Returns
        -------
        tensor of shape (n,)
            Differentiable; targets that predict NaN (ignored at fit) are left out of the mean.
        """
        out = self(images)
        index = torch.as_tensor(self.roi_indices(roi, out.shape[1]), device=out.device)
        return out.index_select(1, index).nanmean(1)

    def attention_maps(self, images: torch.Tensor, roi) -> torch.Tensor:
        """Where ``roi`` takes its information from in each image, at the image's resolution.

        For a readout that routes attention over the backbone's token grid (an attention-routing
        encoder): the mean of the ROI's targets' maps (each target's query's heads weighted by
        how much its prediction rests on them), each token's weight spread over its patch.

        Parameters
        ----------
        images : tensor of shape (n, 3, H, W), float in [0, 1]
        roi : str, bool array of shape (n_targets,), or int array of target indices

        Returns
        -------
        tensor of shape (n, H, W)
            Non-negative; each map sums to 1.
        """
        attention = getattr(self.readout, "attention", None)
        if self.feature_type != "tokens" or attention is None:
            kind = self.metadata.get("encoder", type(self.readout).__name__)
            raise TypeError(
                f"this model's readout ({kind}) does not route attention over tokens; "
                "attention maps need a routing encoder"
            )
        tokens = self.backbone.tokens(images)
        weights = attention(tokens, self.roi_indices(roi, self.readout.n_targets))
        return spread_over_patches(weights, images.shape[-2:])

    def roi_indices(self, roi, n_targets: int) -> np.ndarray:
        """Target indices of ``roi`` (a name, a boolean mask or indices), checked."""
        if isinstance(roi, str):
            if roi not in self.rois:
                known = ", ".join(self.rois) or "none"
                raise KeyError(f"unknown ROI {roi!r}; this model has: {known}")
            roi = self.rois[roi]
        if isinstance(roi, torch.Tensor):
            roi = roi.detach().cpu().numpy()
        roi = np.asarray(roi)
        if roi.dtype == bool:
            if roi.shape != (n_targets,):
                raise ValueError(
                    f"ROI mask has shape {roi.shape}; expected ({n_targets},), one per target"
                )
            roi = np.flatnonzero(roi)
        elif roi.ndim != 1 or not np.issubdtype(roi.dtype, np.integer):
            raise ValueError(
                f"roi must be a name, a boolean mask or 1-D integer target indices; got "
                f"{roi.dtype} array of shape {roi.shape}"
            )
        if roi.size == 0:
            raise ValueError("the ROI selects no targets")
        if roi.min() < 0 or roi.max() >= n_targets:
            raise ValueError(
                f"ROI indices must lie in [0, {n_targets}); got {roi.min()}..{roi.max()}"
            )
        return roi.astype(np.int64)


class ImageInput(torch.nn.Module):
    """A front end that passes images unchanged, for a readout that reads images itself
    (a simulated subject, an ensemble of brain models).

    Not a feature backbone: it has no spec and no fixed embedding size.
    """

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        return images


class _MeanPrediction(torch.nn.Module):
    """The mean of several brain models' predictions of images, (n, n_targets)."""

    def __init__(self, models: Sequence[BrainModel]):
        super().__init__()
        self.models = torch.nn.ModuleList(models)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        predictions = [model(images) for model in self.models]
        shapes = {tuple(p.shape) for p in predictions}
        if len(shapes) > 1:
            raise ValueError(
                f"the ensemble's brain models predict different shapes {sorted(shapes)}; they "
                "must predict the same targets"
            )
        return torch.stack(predictions).mean(0)


def _bool_mask(mask, name: str) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.ndim != 1 or mask.dtype != bool:
        raise ValueError(f"ROI {name!r} must be a 1-D boolean mask; got {mask.dtype} {mask.shape}")
    return mask


def _same_space(a, b) -> bool:
    """Whether two spaces (or ``None``: unknown, compatible with any) name the same targets."""
    if a is None or b is None:
        return True
    return (a.name, a.n_targets) == (b.name, b.n_targets) and all(
        (x is None) == (y is None) and (x is None or np.array_equal(x, y))
        for x, y in ((a.vertices, b.vertices), (a.mask, b.mask), (a.affine, b.affine))
    )


def _space_name(space) -> str:
    return "unknown" if space is None else f"{space.name!r} ({space.n_targets} targets)"
