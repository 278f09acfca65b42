"""Fixtures for the encoder tests: synthetic linear data with known weights and noise, and two
toy encoder kinds (each one class, registered by being defined) that the contract tests and the
new-kind test run through everything an encoder meets."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from brainenc.encoders import Encoder, LinearEncoder, LinearReadout
from brainenc.validation import check_features, check_pair


@dataclass
class LinearWorld:
    """``responses = features @ weights + offset + noise``, split into train and test rows."""

    features: np.ndarray  # (n_images, n_features), with an offset
    responses: np.ndarray  # (n_images, n_targets), with an offset
    weights: np.ndarray  # (n_features, n_targets); zero for the pure-noise targets
    noise_sd: np.ndarray  # (n_targets,)
    signal_sd: np.ndarray  # (n_targets,)
    train: slice
    test: slice

    def max_r(self) -> np.ndarray:
        """Correlation of the noiseless signal with the noisy responses, per target."""
        return self.signal_sd / np.sqrt(self.signal_sd**2 + self.noise_sd**2)


@pytest.fixture(scope="session")
def world() -> LinearWorld:
    """10 clean targets (SNR 4), 10 noisy ones (SNR 1), 5 pure-noise targets; 25 features."""
    rng = np.random.default_rng(0)
    n_train, n_test, n_features = 600, 400, 25
    n_clean, n_noisy, n_null = 10, 10, 5
    features = rng.standard_normal((n_train + n_test, n_features)) + rng.uniform(5, 50, n_features)
    weights = rng.standard_normal((n_features, n_clean + n_noisy + n_null)) / np.sqrt(n_features)
    weights[:, n_clean + n_noisy :] = 0.0
    signal_sd = np.sqrt((weights**2).sum(0))  # features have unit variance
    noise_sd = np.concatenate(
        [signal_sd[:n_clean] / 4, signal_sd[n_clean : n_clean + n_noisy], np.ones(n_null)]
    )
    centred = features - features.mean(0)
    offset = rng.uniform(-100, 100, weights.shape[1])
    responses = centred @ weights + offset
    responses += rng.standard_normal(responses.shape) * noise_sd
    return LinearWorld(
        features=features.astype(np.float32),
        responses=responses.astype(np.float32),
        weights=weights,
        noise_sd=noise_sd,
        signal_sd=signal_sd,
        train=slice(0, n_train),
        test=slice(n_train, None),
    )


@pytest.fixture(scope="session")
def fitted(world) -> LinearEncoder:
    """A LinearEncoder fitted on the training rows of ``world``."""
    return LinearEncoder().fit(world.features[world.train], world.responses[world.train])


class PCARidgeEncoder(Encoder):
    """A toy kind for the contract tests: ridge on the leading principal components.

    The components are learned before any subject (``pretrain`` on unlabelled image features),
    which makes it the smallest encoder with pretrained weights; ``fit`` learns them from the
    training features when they were not pretrained.
    """

    name = "pca-ridge"
    feature_type = "embed"
    _pretrained = ("components_", "feature_mean_")
    _fitted = ("coef_", "intercept_")

    def __init__(self, n_components: int = 8, alpha: float = 1.0, nan_targets: str = "raise"):
        self.n_components = n_components
        self.alpha = alpha
        self.nan_targets = nan_targets

    def pretrain(self, features) -> PCARidgeEncoder:
        features = check_features(features, ndim=2)
        self.feature_mean_ = features.mean(0)
        _, _, vt = np.linalg.svd(features - self.feature_mean_, full_matrices=False)
        self.components_ = vt[: self.n_components].T.astype(np.float32)
        self.feature_shape_ = (features.shape[1],)
        return self

    def fit(self, features, responses) -> PCARidgeEncoder:
        features, responses = check_pair(features, responses)
        if not hasattr(self, "components_"):
            self.pretrain(features)
        z = (features - self.feature_mean_) @ self.components_
        gram = z.T @ z + self.alpha * np.eye(z.shape[1])
        self.coef_ = np.linalg.solve(gram, z.T @ (responses - responses.mean(0))).astype(np.float32)
        self.intercept_ = responses.mean(0).astype(np.float32)
        return self

    def predict(self, features) -> np.ndarray:
        self._check_fitted()
        z = (check_features(features, ndim=2) - self.feature_mean_) @ self.components_
        return (z @ self.coef_ + self.intercept_).astype(np.float32)

    def to_module(self) -> torch.nn.Module:
        self._check_fitted()
        projection = torch.as_tensor(self.components_ @ self.coef_)
        readout = LinearReadout(projection, self.intercept_, self.feature_mean_)
        return readout

    def _after_load(self) -> None:
        if hasattr(self, "components_"):
            self.feature_shape_ = (self.components_.shape[0],)


class TokenMeanEncoder(Encoder):
    """A toy kind that reads token grids: least squares on the mean token."""

    name = "token-mean"
    feature_type = "tokens"
    _fitted = ("coef_", "intercept_", "x_mean_")

    def __init__(self, alpha: float = 1.0):
        self.alpha = alpha

    def fit(self, features, responses) -> TokenMeanEncoder:
        features, responses = check_pair(features, responses)
        if features.ndim != 3:
            raise ValueError(
                f"token-mean reads token grids (n, n_tokens, width); got {features.shape}"
            )
        pooled = features.mean(1)
        self.x_mean_ = pooled.mean(0).astype(np.float32)
        x = pooled - self.x_mean_
        gram = x.T @ x + self.alpha * np.eye(x.shape[1])
        self.coef_ = np.linalg.solve(gram, x.T @ (responses - responses.mean(0))).astype(np.float32)
        self.intercept_ = responses.mean(0).astype(np.float32)
        self.feature_shape_ = features.shape[1:]
        return self

    def predict(self, features) -> np.ndarray:
        self._check_fitted()
        pooled = check_features(features, ndim=3).mean(1)
        return ((pooled - self.x_mean_) @ self.coef_ + self.intercept_).astype(np.float32)

    def to_module(self) -> torch.nn.Module:
        self._check_fitted()
        return _TokenMean(LinearReadout(self.coef_, self.intercept_, self.x_mean_))

    def _after_load(self) -> None:
        self.feature_shape_ = (1, self.coef_.shape[0])  # any number of tokens


class _TokenMean(torch.nn.Module):
    def __init__(self, readout: LinearReadout):
        super().__init__()
        self.readout = readout

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.readout(tokens.mean(1))


TINY_ARCHITECTURE = {"width": 16, "depth": 1, "heads": 2, "n_registers": 2}


def linear_tasks(n_subjects: int, seed: int, n_images: int = 200, n_targets: int = 40):
    """Meta-training subjects whose targets are random linear functions of 6 features."""
    from brainenc.encoders import MetaSubject

    rng = np.random.default_rng(seed)
    subjects = []
    for i in range(n_subjects):
        x = rng.standard_normal((n_images, 6)).astype(np.float32)
        y = x @ rng.standard_normal((6, n_targets)) + 0.1 * rng.standard_normal(
            (n_images, n_targets)
        )
        subjects.append(MetaSubject(x, (y + 2.0).astype(np.float32), name=f"toy {seed}-{i}"))
    return subjects


@pytest.fixture(scope="session")
def tiny_in_context(tmp_path_factory):
    """A tiny in-context encoder meta-trained (60 steps, seconds) on linear tasks in 6 features."""
    from brainenc.encoders import InContextEncoder, meta_train

    out = tmp_path_factory.mktemp("in_context")
    meta_train(
        linear_tasks(3, seed=0), out, steps=60, batch_size=16, context=(10, 80), n_query=40,
        warmup=10, encoder=InContextEncoder(**TINY_ARCHITECTURE), progress=False,
    )  # fmt: skip
    return out / "model"


@pytest.fixture(scope="session")
def contract_specs(tiny_in_context) -> dict[str, str]:
    """The spec each kind is checked with by test_common: its name, unless its defaults cannot
    fit the 6-feature toy data there (the in-context encoder's shipped model reads world-clip's
    128 features, so it is checked with a tiny model meta-trained on 6), or take long on it (the
    routing encoder is checked with fewer epochs)."""
    arch = ",".join(f"{k}={v}" for k, v in TINY_ARCHITECTURE.items())
    return {
        "in-context": f"in-context:pretrained={json.dumps(str(tiny_in_context))},{arch}",
        "routing": "routing:max_epochs=30",
    }


@pytest.fixture(scope="session")
def toy_tasks():
    """:func:`linear_tasks` and :data:`TINY_ARCHITECTURE`, for the tests (conftest is not
    importable under ``--import-mode=importlib``)."""
    return linear_tasks, TINY_ARCHITECTURE
