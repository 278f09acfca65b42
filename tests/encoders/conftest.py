"""Fixtures for the encoder tests: synthetic linear data with known weights and noise."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from brainenc.encoders import LinearEncoder


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
