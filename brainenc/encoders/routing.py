"""Attention-routing encoder: learned queries cross-attend to a backbone's patch tokens.

After Adeli, Sun & Kriegeskorte, "Transformer brain encoders explain human high-level visual
responses" (2025). The backbone's token grid (frozen) plus a learned position embedding forms
the keys and values; each query, one per group of targets, gathers by cross-attention what its
targets need from wherever it lies in the image; a linear readout maps each query's routed
embedding to each of its targets. Trained with the mean squared error of standardised
responses, AdamW and early stopping on a validation split. The attention weights say, per image,
where each group of targets takes its information from (:meth:`RoutingEncoder.attention`).

Where a target looks. A query's heads divide the work: on the world's composite scenes, one head
of the word region's query reads the word while others read the faces and places that modulate
the region's response. Averaging the heads' maps equally would hide that, so a target's map
weights each head by how much the target's prediction rests on it (:func:`head_importance`:
the change when the head's output is replaced by its mean).

Two additions make a whole-brain fit work, where most targets are noise: each target counts in
the loss by how much of its variance ridge on the mean token explains under cross-validation
(noise targets do not steer the queries or stop training early), and after training each
target's readout is refitted by ridge on its query's routed embeddings, with its own alpha.

Queries and targets. ``queries="clusters"`` (the default) groups targets by k-means on their
training responses (after a PCA of the targets), so every target is modelled, anatomy is not
needed, and targets that respond alike share a query: a category region lands in one or a few
clusters, retinotopic early areas split by visual-field position. ``queries="rois"`` gives one
query per ROI passed to ``fit`` (the paper's choice) and clusters the targets in no ROI.

Besides those, two choices differ from the paper: the queries do not attend to each other (each
query's attention is its own, which keeps its map readable), and the decoder is one
cross-attention and MLP block per layer with pre-normalisation.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from ..validation import (
    check_cuda,
    check_features,
    check_nan_policy,
    check_pair,
    finite_targets,
)
from ._ridge import RidgeCVSolver
from .base import Encoder
from .linear import DEFAULT_ALPHAS

QUERY_MODES = ("clusters", "rois")
N_IMPORTANCE_IMAGES = 1000
"""Training images on which the heads' importance for each target is measured."""
N_PROFILE_COMPONENTS = 32
"""Principal components of the responses over images that describe a target for clustering."""


class RoutingLayer(nn.Module):
    """Queries read the tokens by multi-head cross-attention, then pass through an MLP
    (pre-norm, residual). The attention is written out, with the parameters of
    :class:`torch.nn.MultiheadAttention` (queries, keys and values stacked in ``in_proj``), so
    that each head's output can be read."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.norm = nn.LayerNorm(width)
        self.in_proj = nn.Linear(width, 3 * width)
        self.out_proj = nn.Linear(width, width)
        self.mlp_norm = nn.LayerNorm(width)
        self.mlp = nn.Sequential(
            nn.Linear(width, 2 * width), nn.GELU(), nn.Linear(2 * width, width)
        )
        # initialised as nn.MultiheadAttention is
        nn.init.xavier_uniform_(self.in_proj.weight)
        nn.init.zeros_(self.in_proj.bias)
        nn.init.zeros_(self.out_proj.bias)

    def read(self, queries, tokens) -> tuple[torch.Tensor, torch.Tensor]:
        """Each head's output (n, heads, n_queries, head_width) and attention weights
        (n, heads, n_queries, n_tokens) of ``queries`` (n, n_queries, width) over ``tokens``
        (n, n_tokens, width)."""
        w_q, w_k, w_v = self.in_proj.weight.chunk(3)
        b_q, b_k, b_v = self.in_proj.bias.chunk(3)

        def split(x):  # (n, m, width) -> (n, heads, m, head_width)
            return x.unflatten(-1, (self.heads, -1)).transpose(1, 2)

        q = split(F.linear(self.norm(queries), w_q, b_q))
        k, v = split(F.linear(tokens, w_k, b_k)), split(F.linear(tokens, w_v, b_v))
        weights = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]), -1)
        return weights @ v, weights

    def update(self, queries, heads) -> torch.Tensor:
        """The queries after adding the heads' outputs (as from :meth:`read`) and the MLP."""
        queries = queries + self.out_proj(heads.transpose(1, 2).flatten(2))
        return queries + self.mlp(self.mlp_norm(queries))


class RoutingNetwork(nn.Module):
    """Token grid → every target's predicted (standardised) response.

    Parameters
    ----------
    n_tokens, token_width : int
        Shape of one image's backbone tokens.
    query_of_target : int array of shape (n_targets,)
        The query each target reads (0 .. n_queries - 1).
    width, heads, layers : int
        Width of the queries and the projected tokens, attention heads, decoder layers.
    n_queries : int, optional
        Number of queries (default: enough for ``query_of_target``); a query may serve no
        target (training leaves out the targets that do not count).
    """

    def __init__(self, n_tokens: int, token_width: int, query_of_target, width: int = 128,
                 heads: int = 4, layers: int = 1, n_queries: int | None = None):  # fmt: skip
        super().__init__()
        query_of_target = np.asarray(query_of_target, np.int64)
        n_queries = n_queries or int(query_of_target.max()) + 1
        counts = np.bincount(query_of_target, minlength=n_queries)
        order = np.argsort(query_of_target, kind="stable")
        self.bounds = np.concatenate([[0], np.cumsum(counts)]).tolist()
        self.register_buffer("order", torch.as_tensor(order))
        self.register_buffer("inverse", torch.as_tensor(np.argsort(order)))
        self.register_buffer("query_of_target", torch.as_tensor(query_of_target))
        self.token_width = token_width
        self.token_proj = nn.Linear(token_width, width)
        self.position = nn.Parameter(0.02 * torch.randn(n_tokens, width))
        self.queries = nn.Parameter(0.02 * torch.randn(n_queries, width))
        self.layers = nn.ModuleList(RoutingLayer(width, heads) for _ in range(layers))
        # the readout, with targets sorted by query (``order``): query q owns rows bounds[q:q+2]
        self.readout_weight = nn.Parameter(torch.zeros(len(order), width))
        self.readout_bias = nn.Parameter(torch.zeros(len(order)))
        # how much each target's prediction rests on each head of the last layer
        self.register_buffer("head_importance", torch.ones(len(order), heads))

    @property
    def n_queries(self) -> int:
        return self.queries.shape[0]

    @property
    def n_targets(self) -> int:
        return len(self.query_of_target)

    def last_heads(self, tokens: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The queries entering the last layer (n, n_queries, width), and that layer's output
        per head (n, heads, n_queries, head_width) and attention per head
        (n, heads, n_queries, n_tokens), for tokens (n, n_tokens, token_width)."""
        if tokens.ndim != 3 or tokens.shape[1:] != (len(self.position), self.token_width):
            raise ValueError(
                f"the routing encoder reads tokens of shape (n_images, {len(self.position)}, "
                f"{self.token_width}); got {tuple(tokens.shape)}"
            )
        keys = self.token_proj(tokens.to(self.position.dtype)) + self.position
        queries = self.queries.expand(len(tokens), -1, -1)
        for layer in self.layers[:-1]:
            queries = layer.update(queries, layer.read(queries, keys)[0])
        heads, weights = self.layers[-1].read(queries, keys)
        return queries, heads, weights

    def route(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Routed query embeddings (n, n_queries, width) and the last layer's attention per head
        (n, heads, n_queries, n_tokens) of tokens (n, n_tokens, token_width)."""
        queries, heads, weights = self.last_heads(tokens)
        return self.layers[-1].update(queries, heads), weights

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Predicted responses (n, n_targets) of tokens (n, n_tokens, token_width)."""
        return self.readout(self.route(tokens)[0])

    def readout(self, routed: torch.Tensor) -> torch.Tensor:
        """Predicted responses (n, n_targets) of routed query embeddings (n, n_queries, width)."""
        b = self.bounds
        parts = [
            routed[:, q] @ self.readout_weight[b[q] : b[q + 1]].T for q in range(self.n_queries)
        ]
        return (torch.cat(parts, 1) + self.readout_bias)[:, self.inverse]

    def attention(self, tokens: torch.Tensor, targets=None) -> torch.Tensor:
        """Where targets take their information from: attention weights over tokens.

        A target's map is its query's last-layer attention, each head weighted by its share of
        the target's ``head_importance`` (how much the target's prediction rests on it). Without
        ``targets``: each query's map (n, n_queries, n_tokens), heads weighted by their
        importance summed over the query's targets; with targets (indices or a boolean mask):
        the mean of their maps (n, n_tokens).
        """
        if targets is None:
            per_query = self.query_head_shares()
        else:
            targets = self._target_indices(targets)
            shares = _shares(self.head_importance[targets]) / len(targets)
            per_query = self._sum_per_query(shares, targets)
        _, weights = self.route(tokens)
        pattern = "nhqt,qh->nqt" if targets is None else "nhqt,qh->nt"
        return torch.einsum(pattern, weights, per_query.to(weights.dtype))

    def query_head_shares(self) -> torch.Tensor:
        """Each query's head weights (n_queries, heads): shares of the head importance summed
        over the query's targets."""
        return _shares(self._sum_per_query(self.head_importance, slice(None)))

    def _sum_per_query(self, rows: torch.Tensor, targets) -> torch.Tensor:
        """``rows`` (one per target of ``targets``) summed over the targets of each query."""
        total = rows.new_zeros(self.n_queries, rows.shape[1])
        return total.index_add_(0, self.query_of_target[targets], rows)

    def _target_indices(self, targets) -> torch.Tensor:
        targets = torch.as_tensor(np.asarray(targets), device=self.head_importance.device)
        if targets.dtype == torch.bool:
            if targets.shape != (self.n_targets,):
                raise ValueError(f"a target mask has shape {tuple(targets.shape)}; expected "
                                 f"({self.n_targets},)")  # fmt: skip
            targets = targets.nonzero().flatten()
        if targets.numel() == 0:
            raise ValueError("targets selects no target")
        return targets.long()

    def set_readout(self, weight: np.ndarray, bias: np.ndarray) -> None:
        """Set the readout from arrays in target order (weight (n_targets, width))."""
        order = self.order.cpu().numpy()
        with torch.no_grad():
            self.readout_weight.copy_(torch.as_tensor(np.asarray(weight)[order]))
            self.readout_bias.copy_(torch.as_tensor(np.asarray(bias)[order]))

    def routing_parameters(self) -> list[nn.Parameter]:
        """The parameters before the readout (queries, tokens, decoder), in a fixed order."""
        return [p for name, p in self.named_parameters() if not name.startswith("readout_")]


def _shares(importance: torch.Tensor) -> torch.Tensor:
    """Rows of head importances as shares summing to 1 (equal shares for a row of zeros)."""
    total = importance.sum(1, keepdim=True)
    return torch.where(total > 0, importance / total.clamp_min(1e-30), 1.0 / importance.shape[1])


class RoutingEncoder(Encoder):
    """Per-group learned queries route backbone patch tokens to a linear readout per target.

    Parameters
    ----------
    queries : {"clusters", "rois"}
        One query per functional cluster of targets (k-means on their training responses;
        default), or one per ROI given to :meth:`fit` plus clusters of the targets in no ROI.
    n_queries : int
        Number of clusters (with ``queries="rois"``: of the targets outside every ROI).
    width, heads, layers : int
        The decoder: query width, attention heads and cross-attention layers (the paper: 768,
        16 and 1 on a ViT-B backbone).
    lr, weight_decay : float
        AdamW (the paper's learning rate is 5e-4).
    batch_size : int
        Images per step.
    max_epochs, patience : int
        Training stops when the validation loss has not improved for ``patience`` epochs; the
        best epoch's weights are kept.
    validation_fraction : float
        Share of the training images held out for early stopping.
    nan_targets : {"raise", "ignore"}
        Targets with NaN/inf responses: refuse (default), or leave them out (they predict NaN).
    device : {"cpu", "cuda"}
        Where training runs (mixed precision, bfloat16, on CUDA).
    seed : int
        Initialisation, clustering, the validation split and the batch order.

    Attributes
    ----------
    network_ : array of shape (n_parameters,)
        The queries, token projection, position embedding and decoder, flattened.
    coef_ : array of shape (n_targets, width)
    intercept_ : array of shape (n_targets,)
        Each target's readout of its query's routed embedding, in the responses' units.
    query_ : int array of shape (n_targets,)
        The query each target reads.
    head_importance_ : array of shape (n_targets, heads)
        How much each target's prediction rests on each head of the last layer
        (:func:`head_importance`, on up to 1,000 training images); attention maps weight the
        heads by it.
    mean_attention_ : array of shape (n_queries, n_tokens)
        Each query's attention averaged over the training images.
    valid_targets_ : bool array of shape (n_targets,)
    token_width_ : int array of shape ()
        Width of the backbone tokens.
    history_ : array of shape (n_epochs, 2)
        Training and validation loss per epoch (1 = predicting the mean).
    """

    name = "routing"
    feature_type = "tokens"
    _fitted = ("network_", "coef_", "intercept_", "query_", "head_importance_", "mean_attention_",
               "token_width_", "valid_targets_", "history_")  # fmt: skip

    def __init__(
        self,
        queries: str = "clusters",
        n_queries: int = 32,
        width: int = 128,
        heads: int = 4,
        layers: int = 1,
        lr: float = 1e-3,
        weight_decay: float = 0.01,
        batch_size: int = 64,
        max_epochs: int = 100,
        patience: int = 5,
        validation_fraction: float = 0.1,
        nan_targets: str = "raise",
        device: str = "cpu",
        seed: int = 0,
    ):
        self.queries = queries
        self.n_queries = n_queries
        self.width = width
        self.heads = heads
        self.layers = layers
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.nan_targets = nan_targets
        self.device = device
        self.seed = seed

    # ------------------------------------------------------------------ the contract

    def fit(self, features, responses, *, rois=None, progress: bool = False) -> RoutingEncoder:
        """Assign targets to queries, train the routing with the readout, refit the readout.

        Targets count in the training loss by how predictable they are (ridge on the mean
        token, cross-validated), so noise targets do not steer the queries; after training,
        each target's readout is refitted by ridge on its query's routed embeddings (alpha per
        target by generalised cross-validation). See :mod:`brainenc.encoders.routing`.

        Parameters
        ----------
        features : array of shape (n_images, n_tokens, token_width)
            Backbone token grids (``feature_type="tokens"``).
        responses : array of shape (n_images, n_targets)
        rois : dict of str to bool array of shape (n_targets,), optional
            The regions of ``queries="rois"`` (ignored with clusters).
        progress : bool
            A progress bar over epochs with the validation loss.

        Returns
        -------
        self
        """
        self._check_params()
        features, responses = check_pair(
            features, responses, allow_nan_targets=self.nan_targets == "ignore"
        )
        if features.ndim != 3:
            raise ValueError(
                "RoutingEncoder reads token grids (n_images, n_tokens, token_width); got "
                f"features of shape {features.shape}: extract them with feature_type='tokens'"
            )
        n_val = max(1, round(self.validation_fraction * len(features)))
        if len(features) - n_val < 2:
            raise ValueError(f"need at least {n_val + 2} images to train and validate; got "
                             f"{len(features)}")  # fmt: skip
        valid = finite_targets(responses, self.nan_targets)
        rng = np.random.default_rng(self.seed)
        torch.manual_seed(self.seed)
        order = rng.permutation(len(features))
        train, val = order[n_val:], order[:n_val]
        y = np.where(valid, responses, 0.0)
        mean, sd = y[train].mean(0), y[train].std(0)
        sd[sd < 1e-8] = 1.0
        z = ((y - mean) / sd).astype(np.float32)
        query = self._assign_queries(z[train], valid, rois, rng)
        weights = _target_weights(features[train], z[train], valid)
        counted = np.flatnonzero(weights > 0)  # the others add nothing to the loss: left out
        net = RoutingNetwork(features.shape[1], features.shape[2], query[counted], self.width,
                             self.heads, self.layers, n_queries=int(query.max()) + 1)  # fmt: skip
        net = net.to(self.device)
        token_mean = features[train].mean((0, 1))
        token_sd = features[train].std((0, 1))
        token_sd[token_sd < 1e-8] = 1.0
        standard = ((features - token_mean) / token_sd).astype(np.float32)
        history = self._train(net, standard, z[:, counted], weights[counted], train, val, progress)
        _fold_standardisation(net.token_proj, token_mean, token_sd)
        routed, head_attention = _routed(net, features, self.device)
        weight, bias = _ridge_readout(routed, y, query, valid)
        net = self._network(features.shape[1:], net.routing_parameters(), query, weight, bias)
        net = net.to(self.device)
        sample = rng.choice(train, min(len(train), N_IMPORTANCE_IMAGES), replace=False)
        importance = head_importance(net, features[np.sort(sample)])
        net.head_importance.copy_(torch.as_tensor(importance))
        shares = net.query_head_shares().cpu().double().numpy()
        attention = np.einsum("hqt,qh->qt", head_attention, shares).astype(np.float32)
        self.network_ = nn.utils.parameters_to_vector(net.routing_parameters()).detach().cpu()
        self.network_ = self.network_.numpy().astype(np.float32)
        self.coef_ = np.where(valid[:, None], weight, 0.0).astype(np.float32)
        self.intercept_ = np.where(valid, bias, np.nan).astype(np.float32)
        self.query_ = query
        self.head_importance_ = importance.astype(np.float32)
        self.mean_attention_ = attention
        self.valid_targets_ = valid
        self.history_ = np.asarray(history, np.float32).reshape(-1, 2)
        self.token_width_ = np.asarray(features.shape[2])
        self._after_load()
        return self

    def predict(self, features) -> np.ndarray:
        """Predicted responses, shape (n_images, n_targets), float32 (NaN for ignored targets)."""
        module = self.to_module()
        x = self._check_tokens(features)
        with torch.no_grad():
            out = [module(torch.as_tensor(x[i : i + 256])).numpy()
                   for i in range(0, len(x), 256)]  # fmt: skip
        return (
            np.concatenate(out).astype(np.float32)
            if out
            else np.zeros((0, len(self.query_)), np.float32)
        )

    def to_module(self) -> RoutingNetwork:
        """The fitted encoder as a differentiable module (eval mode, float32, CPU), with
        :meth:`RoutingNetwork.attention`."""
        self._check_fitted()
        routing = torch.as_tensor(np.asarray(self.network_, np.float32))
        net = self._network(self.feature_shape_, routing, self.query_, self.coef_,
                            self.intercept_)  # fmt: skip
        net.head_importance.copy_(torch.as_tensor(np.asarray(self.head_importance_, np.float32)))
        return net.eval().requires_grad_(False)

    def _network(self, shape, routing, query, weight, bias) -> RoutingNetwork:
        """A network over every target for token grids of ``shape`` (n_tokens, token_width), with
        the given routing parameters (a flat vector or a list of tensors) and readout."""
        n_tokens, token_width = shape
        net = RoutingNetwork(n_tokens, token_width, query, self.width, self.heads, self.layers)
        flat = routing if torch.is_tensor(routing) else nn.utils.parameters_to_vector(routing)
        wanted = sum(p.numel() for p in net.routing_parameters())
        if flat.numel() != wanted:
            raise ValueError(
                f"network_ has {flat.numel()} parameters but width={self.width}, heads="
                f"{self.heads}, layers={self.layers} over {n_tokens} tokens needs {wanted}"
            )
        nn.utils.vector_to_parameters(flat.detach().cpu(), net.routing_parameters())
        net.set_readout(weight, bias)
        return net

    def attention(self, features, targets=None) -> np.ndarray:
        """Where the queries look: attention weights over tokens, summing to 1 per image.

        Parameters
        ----------
        features : array of shape (n_images, n_tokens, token_width)
        targets : bool array of shape (n_targets,) or int array of target indices, optional
            Give the attention of these targets (e.g. an ROI's mask), the mean of their maps,
            shape (n_images, n_tokens); a target's map weights its query's heads by their
            shares of its ``head_importance_``. Default: every query's map (heads weighted by
            their importance summed over its targets), shape (n_images, n_queries, n_tokens).
        """
        module, x = self.to_module(), self._check_tokens(features)
        with torch.no_grad():
            return module.attention(torch.as_tensor(x), targets).numpy()

    def cortical_maps(self, model: str) -> dict:
        """Where each target's query looks on average over the training images: the centre of
        its attention across the image (left to right, top to bottom) and how concentrated it is
        (:func:`~brainenc.maps.kinds.attention_map`)."""
        from ..maps.kinds import attention_map

        self._check_fitted()
        return {
            f"attention_{what}": attention_map(self.mean_attention_, self.query_, what, model=model)
            for what in ("x", "y", "focus")
        }

    # ------------------------------------------------------------------ helpers

    def _check_params(self) -> None:
        check_nan_policy(self.nan_targets)
        if self.queries not in QUERY_MODES:
            raise ValueError(f"queries must be one of {', '.join(QUERY_MODES)}; got "
                             f"{self.queries!r}")  # fmt: skip
        if int(self.n_queries) < 1:
            raise ValueError(f"n_queries must be at least 1; got {self.n_queries}")
        if self.width % self.heads:
            raise ValueError(f"width ({self.width}) must be a multiple of heads ({self.heads})")
        if not 0 < self.validation_fraction < 1:
            raise ValueError(
                f"validation_fraction must lie in (0, 1); got {self.validation_fraction}"
            )
        check_cuda(self.device)

    def _check_tokens(self, features) -> np.ndarray:
        self._check_fitted()
        x = check_features(features, ndim=3)
        shape = self.feature_shape_
        if x.shape[1:] != shape:
            raise ValueError(
                f"features have token grids of shape {x.shape[1:]} but the encoder was fitted "
                f"on {shape}: use the backbone it was fitted with"
            )
        return x

    def _assign_queries(self, z_train, valid, rois, rng) -> np.ndarray:
        """The query of each target: one per ROI (``queries="rois"``) then functional clusters."""
        n_targets = z_train.shape[1]
        query = np.full(n_targets, -1, np.int64)
        n_fixed = 0
        if self.queries == "rois" and rois:
            for mask in rois.values():
                mask = np.asarray(mask, bool)
                if mask.shape != (n_targets,):
                    raise ValueError(f"an ROI mask has shape {mask.shape}; expected ({n_targets},)")
                free = mask & (query < 0)
                if free.any():
                    query[free] = n_fixed
                    n_fixed += 1
        rest = np.flatnonzero(query < 0)
        if rest.size:
            query[rest] = n_fixed + _cluster_targets(z_train[:, rest], self.n_queries, rng)
        # renumber so that every query serves a target
        return np.unique(query, return_inverse=True)[1].astype(np.int64)

    def _train(self, net, features, z, weights, train, val, progress) -> list:
        device = torch.device(self.device)
        x = torch.as_tensor(features)
        y = torch.as_tensor(z)
        weights = torch.as_tensor(weights / weights.sum(), dtype=torch.float32, device=device)
        optimiser = torch.optim.AdamW(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")
        generator = torch.Generator().manual_seed(self.seed)

        def loss_of(rows, grad: bool):
            total = 0.0
            for start in range(0, len(rows), self.batch_size):
                idx = torch.as_tensor(rows[start : start + self.batch_size])
                xb, yb = x[idx].to(device), y[idx].to(device)
                with torch.set_grad_enabled(grad), autocast:
                    err = (net(xb).float() - yb).square().mean(0) @ weights
                if grad:
                    optimiser.zero_grad(set_to_none=True)
                    err.backward()
                    optimiser.step()
                total += float(err.detach()) * len(idx)
            return total / len(rows)

        history, best, best_state, waited = [], math.inf, None, 0
        bar = tqdm(range(self.max_epochs), desc="routing", unit="epoch", disable=not progress)
        for _ in bar:
            net.train()
            shuffled = train[torch.randperm(len(train), generator=generator).numpy()]
            train_loss = loss_of(shuffled, grad=True)
            net.eval()
            val_loss = loss_of(val, grad=False)
            history.append((train_loss, val_loss))
            bar.set_postfix(train=f"{train_loss:.3f}", validation=f"{val_loss:.3f}")
            if val_loss < best - 1e-4:
                best, best_state, waited = val_loss, copy.deepcopy(net.state_dict()), 0
            else:
                waited += 1
                if waited >= self.patience:
                    break
        bar.close()
        net.load_state_dict(best_state)
        return history

    def _after_load(self) -> None:
        if hasattr(self, "query_") and not hasattr(self, "head_importance_"):
            # an encoder saved without head importances: its heads count equally
            self.head_importance_ = np.ones((len(self.query_), self.heads), np.float32)
        if self.is_fitted:
            self.feature_shape_ = (self.mean_attention_.shape[1], int(self.token_width_))
            self.n_targets_ = len(self.query_)


def _fold_standardisation(projection: nn.Linear, mean, sd) -> None:
    """Make ``projection`` of raw tokens equal its output on tokens standardised with ``mean``
    and ``sd`` (per channel)."""
    with torch.no_grad():
        sd = torch.as_tensor(sd, dtype=projection.weight.dtype, device=projection.weight.device)
        mean = torch.as_tensor(mean, dtype=projection.weight.dtype, device=projection.weight.device)
        projection.weight.div_(sd)
        projection.bias.sub_(projection.weight @ mean)


def _target_weights(features, z, valid) -> np.ndarray:
    """How much each target counts in training: the variance of its standardised responses
    that ridge on the mean token explains under generalised cross-validation (0 for targets
    it cannot predict, and for ignored ones), so that the many noise targets of a whole-brain
    fit do not steer the queries or the early stopping. Uniform when no target is predictable."""
    explained = 1.0 + RidgeCVSolver(features.mean(1), DEFAULT_ALPHAS).solve(z).cv_scores
    weights = np.where(valid, np.clip(explained, 0.0, 1.0), 0.0)
    return weights if weights.sum() > 0 else valid.astype(float)


def _batches(features: np.ndarray, device, size: int = 256):
    for start in range(0, len(features), size):
        yield torch.as_tensor(features[start : start + size], device=device)


def _routed(net: RoutingNetwork, features: np.ndarray, device) -> tuple[np.ndarray, np.ndarray]:
    """Routed embeddings (n, n_queries, width) of every image, and the last layer's attention
    per head averaged over the images (heads, n_queries, n_tokens)."""
    routed, attention = [], 0.0
    net.eval()
    with torch.no_grad():
        for x in _batches(features, device):
            out, weights = net.route(x)
            routed.append(out.float().cpu().numpy())
            attention = attention + weights.double().sum(0).cpu().numpy()
    return np.concatenate(routed), attention / len(features)


def head_importance(net: RoutingNetwork, features: np.ndarray) -> np.ndarray:
    """How much each target's prediction rests on each head of the last routing layer.

    Each head's output is replaced in turn by its mean over ``features`` (mean ablation); a
    head's importance for a target is the mean squared change of the target's prediction over
    ``features``, in the prediction's units squared. :meth:`RoutingNetwork.attention` weights
    a target's heads by their shares of its importance, and a query's heads by their importance
    summed over its targets, so targets whose predictions barely move count little.
    A multi-head query's heads often divide the work, one reading the region's preferred object
    and others the context that modulates it; weighting each head's map by its importance makes
    the attention say where a target's prediction comes from (after the head-importance
    analyses of Michel, Levy & Neubig 2019, "Are sixteen heads really better than one?").

    Returns
    -------
    array of shape (n_targets, heads), float64
    """
    if len(features) == 0:
        raise ValueError("head importance needs at least one image")
    net.eval()
    device = net.position.device
    last = net.layers[-1]
    with torch.no_grad():
        total = 0.0
        for x in _batches(features, device):
            total = total + net.last_heads(x)[1].double().sum(0)
        mean = (total / len(features)).to(net.position.dtype)
        change = torch.zeros(net.n_targets, last.heads, dtype=torch.float64, device=device)
        for x in _batches(features, device):
            queries, heads, _ = net.last_heads(x)  # the layers before the last run once
            full = net.readout(last.update(queries, heads))
            for h in range(last.heads):
                ablated = heads.clone()
                ablated[:, h] = mean[h]
                edited = net.readout(last.update(queries, ablated))
                change[:, h] += (edited - full).double().square().sum(0)
    return change.cpu().numpy() / len(features)


def _ridge_readout(routed, responses, query, valid) -> tuple[np.ndarray, np.ndarray]:
    """Each target's readout refitted by ridge on its query's routed embeddings, with the
    alpha chosen per target by generalised cross-validation: the trained readout fits the noise
    of unreliable targets; ridge shrinks it away."""
    weight = np.zeros((len(query), routed.shape[2]), np.float32)
    bias = np.zeros(len(query), np.float32)
    for q in range(routed.shape[1]):
        targets = np.flatnonzero((query == q) & valid)
        if targets.size:
            fit = RidgeCVSolver(routed[:, q], DEFAULT_ALPHAS).solve(responses[:, targets])
            weight[targets] = fit.coef.T
            bias[targets] = fit.intercept - routed[:, q].mean(0) @ fit.coef
    return weight, bias


def _cluster_targets(z: np.ndarray, n_clusters: int, rng) -> np.ndarray:
    """k-means labels of targets (columns of ``z``, standardised responses over images),
    described by their loadings on the responses' leading principal components."""
    from sklearn.cluster import KMeans
    from sklearn.utils.extmath import randomized_svd

    n_images, n_targets = z.shape
    n_clusters = min(int(n_clusters), n_targets)
    if n_clusters == 1:
        return np.zeros(n_targets, np.int64)
    k = min(N_PROFILE_COMPONENTS, n_images - 1, n_targets)
    seed = int(rng.integers(2**31 - 1))
    _, s, vt = randomized_svd(z - z.mean(1, keepdims=True), k, random_state=seed)
    profile = (vt * s[:, None]).T / np.sqrt(n_images)
    return KMeans(n_clusters, n_init=3, random_state=seed).fit_predict(profile).astype(np.int64)
