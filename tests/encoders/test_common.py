"""The encoder contract, checked on every registered kind (the toy kinds of conftest included).

Like scikit-learn's ``parametrize_with_checks``: a new kind that is registered gets these checks
with no edit here.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from brainenc.encoders import ENCODERS, BrainModel, Encoder, load_encoder

N_TRAIN, N_TEST, WIDTH, N_TOKENS, N_TARGETS = 60, 20, 6, 5, 4


def _data(encoder: Encoder, seed: int = 0):
    """Features of the encoder's type that predict responses linearly, and those responses."""
    rng = np.random.default_rng(seed)
    n = N_TRAIN + N_TEST
    if encoder.feature_type == "tokens":
        features = rng.standard_normal((n, N_TOKENS, WIDTH)).astype(np.float32)
        pooled = features.mean(1)
    else:
        features = pooled = rng.standard_normal((n, WIDTH)).astype(np.float32)
    responses = pooled @ rng.standard_normal((WIDTH, N_TARGETS)) + 3.0
    responses += 0.1 * rng.standard_normal(responses.shape)
    return features, responses.astype(np.float32)


KINDS = sorted(ENCODERS)


def test_toy_kinds_registered():
    assert {"linear", "in-context", "pca-ridge", "token-mean"} <= set(KINDS)


@pytest.fixture(params=KINDS)
def encoder(request, contract_specs) -> Encoder:
    return Encoder.from_spec(contract_specs.get(request.param, request.param))


def test_estimator_contract(encoder):
    params = encoder.get_params()
    assert params == encoder.get_params(deep=False)
    twin = clone(encoder)
    assert type(twin) is type(encoder) and twin is not encoder
    assert set(twin.get_params()) == set(params)
    first = next(iter(params))
    assert encoder.set_params(**{first: params[first]}) is encoder
    with pytest.raises(ValueError, match="Invalid parameter"):
        encoder.set_params(no_such_parameter=1)
    rebuilt = Encoder.from_spec(encoder.spec)
    assert type(rebuilt) is type(encoder) and rebuilt.spec == encoder.spec


def test_not_fitted(encoder, tmp_path):
    features, _ = _data(encoder)
    assert not encoder.is_fitted
    with pytest.raises(NotFittedError, match="not fitted yet"):
        encoder.predict(features)
    with pytest.raises(NotFittedError, match="not fitted yet"):
        encoder.to_module()
    if not encoder._pretrained:
        with pytest.raises(NotFittedError, match="not fitted yet"):
            encoder.save(tmp_path / "enc")


def test_fit_predict_module_agree(encoder):
    features, responses = _data(encoder)
    train, test = slice(0, N_TRAIN), slice(N_TRAIN, None)
    assert encoder.fit(features[train], responses[train]) is encoder and encoder.is_fitted
    predicted = encoder.predict(features[test])
    assert predicted.shape == (N_TEST, N_TARGETS) and predicted.dtype == np.float32
    r = encoder.score(features[test], responses[test])
    assert r.shape == (N_TARGETS,) and np.all(r > 0.9)  # the responses are linear in features
    with torch.no_grad():
        module_out = encoder.to_module()(torch.as_tensor(features[test])).numpy()
    np.testing.assert_allclose(module_out, predicted, rtol=1e-4, atol=1e-4)
    assert not clone(encoder).is_fitted  # clone copies hyperparameters, never fitted state


def test_feature_weights_are_the_readout_gradient(encoder):
    """What captions read: the gradient of each target's prediction w.r.t. pooled features,
    or a NotImplementedError naming the kind when the readout is not linear in them."""
    features, responses = _data(encoder)
    encoder.fit(features, responses)
    try:
        weights = encoder.feature_weights()
    except NotImplementedError as e:
        assert encoder.name in str(e)
        return
    x = torch.as_tensor(features[:1], dtype=torch.float32).requires_grad_(True)
    module = encoder.to_module()
    gradient = np.stack([torch.autograd.grad(module(x)[0, t], x)[0][0].numpy()
                         for t in range(N_TARGETS)])  # fmt: skip
    assert weights.shape == (N_TARGETS, WIDTH)
    np.testing.assert_allclose(weights, gradient, rtol=1e-4, atol=1e-5)


def test_save_load_round_trip(encoder, tmp_path):
    features, responses = _data(encoder)
    encoder.fit(features[:N_TRAIN], responses[:N_TRAIN])
    path = encoder.save(tmp_path / "enc", metadata={"backbone": "x"})
    loaded = load_encoder(path)
    assert (
        type(loaded) is type(encoder) and loaded.get_params().keys() == encoder.get_params().keys()
    )
    assert loaded.metadata_ == {"backbone": "x"} and loaded.spec == encoder.spec
    np.testing.assert_array_equal(loaded.predict(features), encoder.predict(features))
    assert type(encoder).load(path).is_fitted


def test_fit_to_directory_equals_fit_then_save(encoder, tmp_path):
    features, responses = _data(encoder)
    rows = np.arange(N_TRAIN)[::-1]  # any order: features follow the rows
    path = clone(encoder).fit_to_directory(features[rows], responses, tmp_path / "enc", rows=rows)
    direct = encoder.fit(features[:N_TRAIN], responses[:N_TRAIN])
    np.testing.assert_allclose(load_encoder(path).predict(features), direct.predict(features),
                               rtol=1e-4, atol=1e-4)  # fmt: skip


def test_nan_policy(encoder):
    features, responses = _data(encoder)
    bad = responses.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        encoder.fit(features, bad)
    bad_features = features.copy()
    bad_features[2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        encoder.fit(bad_features, responses)
    encoder.fit(features, responses)
    with pytest.raises(ValueError, match="NaN"):
        encoder.predict(bad_features)


def test_brain_model_reads_the_declared_features(encoder):
    features, responses = _data(encoder)

    class Backbone(torch.nn.Module):
        """Images (n, 3, H, W) → the toy features, pooled or as tokens."""

        def embed(self, images):
            return images.mean((2, 3))[:, :1].repeat(1, WIDTH)

        def tokens(self, images):
            return self.embed(images)[:, None].repeat(1, N_TOKENS, 1)

    encoder.fit(features, responses)
    images = torch.rand(3, 3, 8, 8)
    backbone = Backbone()
    model = BrainModel(backbone, encoder)
    assert model.feature_type == encoder.feature_type
    with torch.no_grad():
        expected = encoder.predict(getattr(backbone, encoder.feature_type)(images).numpy())
        np.testing.assert_allclose(model(images).numpy(), expected, rtol=1e-4, atol=1e-4)


def test_pretrained_weights_save_and_load_unfitted(tmp_path):
    rng = np.random.default_rng(1)
    bank = rng.standard_normal((200, WIDTH)).astype(np.float32)
    encoder = Encoder.from_spec("pca-ridge:n_components=3").pretrain(bank)
    assert not encoder.is_fitted
    path = encoder.save(tmp_path / "pretrained")
    loaded = load_encoder(path)
    assert not loaded.is_fitted
    np.testing.assert_array_equal(loaded.components_, encoder.components_)
    features, responses = _data(loaded)
    loaded.fit(features, responses)  # fitting keeps the pretrained components
    np.testing.assert_array_equal(loaded.components_, encoder.components_)
    twin = clone(loaded)  # so does cloning (fit_study clones): the fitted arrays stay behind
    np.testing.assert_array_equal(twin.components_, encoder.components_)
    assert not twin.is_fitted


def test_from_spec_errors():
    with pytest.raises(ValueError, match=r"unknown encoder 'ridgey'.*known encoders: .*linear"):
        Encoder.from_spec("ridgey")
    with pytest.raises(ValueError, match="unknown parameter colour; linear takes alphas"):
        Encoder.from_spec("linear:colour=5")
    with pytest.raises(ValueError, match="is not key=value"):
        Encoder.from_spec("linear:5")
    spec = Encoder.from_spec("linear:cv=5,alphas=[1, 10],nan_targets=ignore")
    assert spec.cv == 5 and spec.alphas == [1, 10] and spec.nan_targets == "ignore"


def test_spec_round_trips_any_hyperparameter_values():
    encoder = Encoder.from_spec("linear").set_params(
        alphas=np.array([1.0, 10.0]), nan_targets="ig,nore", n_targets_batch=np.int64(5)
    )
    rebuilt = Encoder.from_spec(encoder.spec)
    assert rebuilt.spec == encoder.spec
    assert rebuilt.alphas == [1.0, 10.0] and rebuilt.nan_targets == "ig,nore"
    assert rebuilt.n_targets_batch == 5
    with pytest.raises(ValueError, match="is a PCARidgeEncoder, not a LinearEncoder"):
        type(encoder).from_spec("pca-ridge")


def test_a_second_kind_with_a_taken_name_is_refused():
    with pytest.raises(TypeError, match="already registered"):

        class Impostor(Encoder):
            name = "linear"
