"""In-context encoder: a transformer that writes a target's linear readout from a few examples.

After BraInCoRL (Yu et al., "Meta-learning an in-context transformer model of human higher
visual cortex", 2025). Each target (voxel or vertex) is a task: its context is a set of
(image features, response) pairs, one token each, read by a transformer together with a few
learned register tokens; a head turns the transformer's output into that target's readout
(weights over the features and a bias). The transformer is meta-trained across subjects
(:func:`~brainenc.encoders.meta_training.meta_train`); on a new subject ``fit`` runs it once per
target and involves no optimisation.

Two choices differ from the paper:

- features are standardised with the mean and SD of the meta-training images, scaled by
  ``1 / sqrt(n_features)`` so that a feature vector has norm near 1, rather than divided by each
  image's own norm, so the readout is an affine function of the features (which the maps,
  synthesis and ``LinearReadout`` rely on);
- the head does not emit the weights directly: it emits a prior (a weight vector ``w0`` and a
  shrinkage ``lambda``, read from the registers), and the readout is the posterior mean of a
  linear model under the prior ``w ~ N(w0, A A^T / lambda)`` given the context, computed
  exactly: ``w = w0 + A Za^T (Za Za^T + lambda I)^-1 (y - Xc w0)`` with ``Za = Xc A`` on the
  context-centred features ``Xc``. ``A`` (identity at initialisation) is one matrix shared by
  all targets: the population's prior covariance of readouts, learnt across subjects (empirical
  Bayes). With ``w0 = 0`` and ``A = I`` this is ridge regression; what meta-training learns is
  which directions of feature space readouts use, and where to centre the prior and how
  strongly, per target and from its context. A small transformer cannot learn an exact
  regression from a few thousand CPU steps, and does not have to.

Responses are standardised per target on its context, and the readout is scaled back, so a
target's units and offset do not matter.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ..validation import check_features, check_nan_policy, check_pair, finite_targets
from .base import Encoder, load_encoder
from .linear import LinearReadout

LOG_SHRINKAGE = math.log(0.02)
"""The shrinkage is ``k * exp(head + LOG_SHRINKAGE)`` for a context of k images: before training,
ridge with alpha ``0.02 k`` (on features of norm near 1, near the best single alpha on the world
from 30 to 500 images)."""
WORLD_MODEL = "world"
"""Name of the shipped in-context model meta-trained on the in-silico world's subjects (on
world-clip embeddings): ``InContextEncoder(pretrained="world")``."""


class InContextNetwork(nn.Module):
    """The meta-learned transformer: a context set → one linear readout per target.

    Parameters
    ----------
    n_features : int
        Width of the (standardised) image features.
    width, depth, heads : int
        Transformer width, number of layers and attention heads.
    n_registers : int
        Learned register tokens; the prior part of the readout is read from them.
    """

    def __init__(self, n_features: int, width: int = 64, depth: int = 3, heads: int = 4,
                 n_registers: int = 4):  # fmt: skip
        super().__init__()
        self.n_features = n_features
        self.embed = nn.Linear(n_features + 1, width)
        self.registers = nn.Parameter(0.02 * torch.randn(n_registers, width))
        layer = nn.TransformerEncoderLayer(
            width, heads, 4 * width, dropout=0.0, activation="gelu", batch_first=True,
            norm_first=True,
        )  # fmt: skip
        self.blocks = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, n_features + 1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        self.prior_root = nn.Parameter(torch.zeros(n_features, n_features))

    def forward(self, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor | None = None):
        """Readouts of a batch of targets from their contexts.

        Parameters
        ----------
        x : tensor of shape (batch, k, n_features)
            Standardised features of each target's context images.
        y : tensor of shape (batch, k)
            Standardised responses of each target to them (zero at padding).
        mask : bool tensor of shape (batch, k), optional
            Which context tokens are real (``False`` marks padding); all by default.

        Returns
        -------
        weight : tensor of shape (batch, n_features)
        bias : tensor of shape (batch,)
            The readout ``x @ weight + bias`` of standardised responses.
        """
        batch, k, d = x.shape
        if mask is None:
            mask = torch.ones(batch, k, dtype=torch.bool, device=x.device)
        n_registers = self.registers.shape[0]
        maskf = mask.to(x.dtype)
        tokens = torch.cat(
            [self.registers.expand(batch, -1, -1), self.embed(torch.cat([x, y[..., None]], -1))],
            dim=1,
        )
        padding = torch.cat([mask.new_zeros(batch, n_registers), ~mask], dim=1)
        hidden = self.norm(self.blocks(tokens, src_key_padding_mask=padding))
        head = self.head(hidden[:, :n_registers].mean(1)).float()
        prior, log_shrinkage = head[:, :d], head[:, d].clamp(-8.0, 8.0) + LOG_SHRINKAGE
        with torch.autocast(x.device.type, enabled=False):  # the exact part in float32
            return self._posterior_mean(x.float(), y.float(), maskf.float(), prior, log_shrinkage)

    def prior_factor(self) -> torch.Tensor:
        """``A`` of the prior covariance ``A A^T`` shared by all targets (identity at init)."""
        return torch.eye(self.n_features, device=self.prior_root.device) + self.prior_root.float()

    def _posterior_mean(self, x, y, maskf, prior, log_shrinkage):
        """The readout under the prior ``N(prior, A A^T / shrinkage)`` given the centred context."""
        k = x.shape[1]
        factor = self.prior_factor()
        count = maskf.sum(1, keepdim=True).clamp_min(1.0)
        shrinkage = count[:, 0] * torch.exp(log_shrinkage)
        x_mean = (x * maskf[..., None]).sum(1) / count
        y_mean = (y * maskf).sum(1, keepdim=True) / count
        xc = (x - x_mean[:, None]) * maskf[..., None]
        residual = (y - y_mean - torch.einsum("bkd,bd->bk", xc, prior)) * maskf
        xa = xc @ factor
        gram = xa @ xa.transpose(1, 2)
        eye = torch.eye(k, device=x.device, dtype=x.dtype)
        dual = torch.linalg.solve(gram + shrinkage[:, None, None] * eye, residual[..., None])
        weight = prior + torch.einsum("bk,bkd->bd", dual[..., 0], xa) @ factor.T
        return weight, y_mean[:, 0] - (x_mean * weight).sum(1)


class StandardizedReadout(nn.Module):
    """``((x - mean) / scale) @ weight + bias``: an in-context encoder's fitted readout."""

    def __init__(self, weight, bias, feature_mean, feature_scale):
        super().__init__()
        self.register_buffer("feature_mean", torch.as_tensor(feature_mean, dtype=torch.float32))
        self.register_buffer("feature_scale", torch.as_tensor(feature_scale, dtype=torch.float32))
        self.readout = LinearReadout(weight, bias, np.zeros(len(feature_mean), np.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Features (n_images, n_features) → predicted responses (n_images, n_targets)."""
        return self.readout(
            (x.to(self.feature_mean.dtype) - self.feature_mean) / self.feature_scale
        )


class InContextEncoder(Encoder):
    """A voxel's linear readout written by a meta-trained transformer from its examples.

    ``fit(features, responses)`` does no optimisation: for every target, the training images
    and the target's responses form the context, and the transformer emits the readout. The
    transformer and the feature statistics are pretrained arrays (``network_``,
    ``feature_mean_``, ``feature_scale_``), saved and loaded with the encoder; a meta-trained
    model is an unfitted ``InContextEncoder`` directory (:meth:`Encoder.save`).

    Parameters
    ----------
    pretrained : str
        Where the meta-trained weights come from when the encoder has none yet: ``"world"``
        (the model shipped for the in-silico world, on world-clip embeddings) or the path of a
        directory written by :func:`~brainenc.encoders.meta_training.meta_train`. Ignored by an
        encoder that was loaded or meta-trained (it has its weights).
    width, depth, heads, n_registers : int
        Architecture of the transformer (see :class:`InContextNetwork`); they must match the
        pretrained weights.
    max_context : int
        At most this many training images form the context (a random subset, fixed by
        ``seed``, when there are more): attention grows with the square of the context, and
        the model is meta-trained on contexts of up to ``max_context`` images.
    batch_size : int
        Targets per forward pass.
    nan_targets : {"raise", "ignore"}
        Targets with NaN/inf responses: refuse (default), or leave them out (they predict NaN).
    device : {"cpu", "cuda"}
        Where the transformer runs; the readout always ends on the CPU as numpy.
    seed : int
        Picks the context subset when there are more than ``max_context`` images.

    Attributes
    ----------
    network_ : array of shape (n_parameters,)
        The transformer's parameters, flattened in ``parameters()`` order (pretrained).
    feature_mean_, feature_scale_ : arrays of shape (n_features,)
        Feature standardisation of the meta-training images (pretrained).
    coef_ : array of shape (n_features, n_targets)
    intercept_ : array of shape (n_targets,)
        The readout over standardised features, in the responses' units.
    valid_targets_ : bool array of shape (n_targets,)
    context_size_ : int
        Number of images the readouts were written from (as an array of shape ()).
    """

    name = "in-context"
    feature_type = "embed"
    _pretrained = ("network_", "feature_mean_", "feature_scale_")
    _fitted = ("coef_", "intercept_", "valid_targets_", "context_size_")

    def __init__(
        self,
        pretrained: str = WORLD_MODEL,
        width: int = 64,
        depth: int = 3,
        heads: int = 4,
        n_registers: int = 4,
        max_context: int = 500,
        batch_size: int = 256,
        nan_targets: str = "raise",
        device: str = "cpu",
        seed: int = 0,
    ):
        self.pretrained = pretrained
        self.width = width
        self.depth = depth
        self.heads = heads
        self.n_registers = n_registers
        self.max_context = max_context
        self.batch_size = batch_size
        self.nan_targets = nan_targets
        self.device = device
        self.seed = seed

    # ------------------------------------------------------------------ pretrained weights

    def network(self) -> InContextNetwork:
        """The transformer with the pretrained parameters (a new module, in eval mode)."""
        self._ensure_pretrained()
        net = self._new_network(len(self.feature_mean_))
        flat = torch.as_tensor(np.asarray(self.network_, np.float32))
        n = sum(p.numel() for p in net.parameters())
        if flat.numel() != n:
            raise ValueError(
                f"network_ has {flat.numel()} parameters but width={self.width}, depth="
                f"{self.depth}, n_registers={self.n_registers} over {len(self.feature_mean_)} "
                f"features needs {n}: the weights come from another architecture, or from a "
                "brainenc older than the shared prior factor (meta-train them again)"
            )
        nn.utils.vector_to_parameters(flat, net.parameters())
        return net.eval()

    def _new_network(self, n_features: int) -> InContextNetwork:
        return InContextNetwork(n_features, self.width, self.depth, self.heads, self.n_registers)

    def _set_network(self, net: InContextNetwork, feature_mean, feature_scale) -> None:
        """Store ``net``'s parameters and the feature statistics as the pretrained arrays."""
        self.network_ = nn.utils.parameters_to_vector(net.parameters()).detach().cpu().numpy()
        self.feature_mean_ = np.asarray(feature_mean, np.float32)
        self.feature_scale_ = np.asarray(feature_scale, np.float32)
        self._after_load()

    def _ensure_pretrained(self) -> None:
        if self.has_pretrained:
            return
        source = load_encoder(_resolve_pretrained(self.pretrained))
        if not isinstance(source, InContextEncoder) or not source.has_pretrained:
            raise ValueError(f"{self.pretrained!r} is not a meta-trained in-context model")
        mine = self.get_params(deep=False)
        theirs = source.get_params(deep=False)
        differ = [k for k in ("width", "depth", "heads", "n_registers") if mine[k] != theirs[k]]
        if differ:
            raise ValueError(
                f"the pretrained model {self.pretrained!r} has "
                + ", ".join(f"{k}={theirs[k]}" for k in differ)
                + " but this encoder "
                + ", ".join(f"{k}={mine[k]}" for k in differ)
                + f": load it as it is, InContextEncoder.load({str(self.pretrained)!r})"
            )
        for name in self._pretrained:
            setattr(self, name, getattr(source, name))
        self._after_load()

    def standardize(self, features) -> np.ndarray:
        """Features as the transformer reads them: ``(x - feature_mean_) / feature_scale_``."""
        self._ensure_pretrained()
        x = check_features(features, ndim=2)
        if x.shape[1] != len(self.feature_mean_):
            raise ValueError(
                f"features has {x.shape[1]} columns but the in-context model was meta-trained "
                f"on {len(self.feature_mean_)}: use the backbone it was meta-trained with "
                f"(metadata: {getattr(self, 'metadata_', {}).get('backbone', 'unknown')})"
            )
        return ((x - self.feature_mean_) / self.feature_scale_).astype(np.float32)

    # ------------------------------------------------------------------ the contract

    def fit(self, features, responses, *, progress: bool = False) -> InContextEncoder:
        """Write every target's readout from its context: the training images and responses.

        Parameters
        ----------
        features : array of shape (n_images, n_features)
        responses : array of shape (n_images, n_targets)
        progress : bool
            Show a progress bar over the batches of targets.

        Returns
        -------
        self
        """
        check_nan_policy(self.nan_targets)
        features, responses = check_pair(
            features, responses, allow_nan_targets=self.nan_targets == "ignore"
        )
        if features.ndim != 2:
            raise ValueError(
                f"InContextEncoder takes pooled features (n_images, n_features); got "
                f"{features.shape}"
            )
        if self.max_context < 2:
            raise ValueError(f"max_context must be at least 2; got {self.max_context}")
        x = self.standardize(features)
        if len(x) > self.max_context:
            keep = np.sort(np.random.default_rng(self.seed).permutation(len(x))[: self.max_context])
            x, responses = x[keep], responses[keep]
        valid = finite_targets(responses, self.nan_targets)
        n_features, n_targets = x.shape[1], responses.shape[1]
        coef = np.zeros((n_features, n_targets), np.float32)
        intercept = np.full(n_targets, np.nan, np.float32)
        columns = np.flatnonzero(valid)
        net = self.network().to(self.device)
        xt = torch.as_tensor(x, device=self.device)
        blocks = range(0, len(columns), self.batch_size)
        with torch.no_grad():
            for start in tqdm(blocks, desc="in-context", unit="block", disable=not progress):
                cols = columns[start : start + self.batch_size]
                y = torch.as_tensor(responses[:, cols].T, device=self.device, dtype=torch.float32)
                mean, sd = y.mean(1, keepdim=True), y.std(1, keepdim=True).clamp_min(1e-8)
                weight, bias = net(xt.expand(len(cols), -1, -1), (y - mean) / sd)
                coef[:, cols] = (weight * sd).T.cpu().numpy()
                intercept[cols] = (bias[:, None] * sd + mean).squeeze(1).cpu().numpy()
        self.coef_, self.intercept_ = coef, intercept
        self.valid_targets_ = valid
        self.context_size_ = np.asarray(len(x))
        return self

    def predict(self, features) -> np.ndarray:
        """Predicted responses, shape (n_images, n_targets), float32 (NaN for ignored targets)."""
        self._check_fitted()
        return (self.standardize(features) @ self.coef_ + self.intercept_).astype(np.float32)

    def to_module(self) -> StandardizedReadout:
        """The fitted readouts as a differentiable module equal to :meth:`predict`."""
        self._check_fitted()
        return StandardizedReadout(
            self.coef_, self.intercept_, self.feature_mean_, self.feature_scale_
        )

    def feature_weights(self) -> np.ndarray:
        """The emitted readouts over raw features, (n_targets, n_features): ``coef_`` divided
        by the feature scale."""
        self._check_fitted()
        return np.ascontiguousarray((self.coef_ / self.feature_scale_[:, None]).T)

    def _after_load(self) -> None:
        if hasattr(self, "feature_mean_"):
            self.feature_shape_ = (len(self.feature_mean_),)
        if hasattr(self, "coef_"):
            self.n_features_in_, self.n_targets_ = self.coef_.shape


def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and scale that make the features zero-mean with norm near 1 per image.

    ``scale = SD * sqrt(n_features)`` per feature (a constant feature gets SD 1).
    """
    features = np.asarray(features, np.float64)
    sd = features.std(0)
    sd[sd < 1e-8] = 1.0
    return features.mean(0).astype(np.float32), (sd * math.sqrt(features.shape[1])).astype(
        np.float32
    )


def _resolve_pretrained(pretrained) -> Path:
    if pretrained == WORLD_MODEL:
        from ..world._checkpoints import WEIGHTS_DIR

        path = WEIGHTS_DIR / "in_context"
        if not (path / "config.json").is_file():
            raise FileNotFoundError(
                f"the world's in-context model is missing ({path}); rebuild it with "
                "`brainenc world build --only in-context`"
            )
        return path
    path = Path(str(pretrained)).expanduser()
    if not path.exists():
        raise FileNotFoundError(
            f"no meta-trained in-context model at {path}; pass pretrained='world' or the "
            "directory meta_train wrote"
        )
    return path
