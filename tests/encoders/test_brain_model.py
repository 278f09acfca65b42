"""BrainModel: backbone + readout as one differentiable image → targets module."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brainenc.data import ArrayImages, BrainData, Space
from brainenc.encoders import BrainModel, LinearEncoder, load_encoder


class TinyBackbone(torch.nn.Module):
    """A conv layer and 2×2 average pooling: images (n, 3, H, W) → features (n, 32)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.adaptive_avg_pool2d(torch.relu(self.conv(images)), 2).flatten(1)


N_TARGETS = 12
ROIS = {"FFA": np.arange(N_TARGETS) < 4, "PPA": np.arange(N_TARGETS) >= 8}


@pytest.fixture(scope="module")
def model_and_images():
    rng = np.random.default_rng(1)
    images = torch.from_numpy(rng.uniform(size=(80, 3, 16, 16)).astype(np.float32))
    backbone = TinyBackbone()
    with torch.no_grad():
        feats = backbone.embed(images).numpy()
    responses = feats @ rng.standard_normal((32, N_TARGETS)) + rng.normal(size=(80, N_TARGETS))
    encoder = LinearEncoder(alphas=[0.1, 1.0, 10.0], cv=3).fit(feats, responses)
    return BrainModel(backbone, encoder, rois=ROIS), images, encoder


def test_forward_matches_encoder(model_and_images):
    model, images, encoder = model_and_images
    with torch.no_grad():
        out = model(images[:5])
        feats = model.backbone.embed(images[:5]).numpy()
    np.testing.assert_allclose(out.numpy(), encoder.predict(feats), rtol=1e-5, atol=1e-5)


def test_roi_activation_is_mean_over_roi(model_and_images):
    model, images, _ = model_and_images
    with torch.no_grad():
        out = model(images[:5])
        for name, mask in ROIS.items():
            expected = out[:, torch.from_numpy(mask)].mean(1)
            torch.testing.assert_close(model.roi_activation(images[:5], name), expected)
        idx = np.array([1, 5, 9])
        torch.testing.assert_close(model.roi_activation(images[:5], idx), out[:, idx].mean(1))
        torch.testing.assert_close(model.roi_activation(images[:5], ROIS["PPA"]), expected)


def test_roi_errors(model_and_images):
    model, images, _ = model_and_images
    with pytest.raises(KeyError, match="unknown ROI 'V1'; this model has: FFA, PPA"):
        model.roi_activation(images[:2], "V1")
    with pytest.raises(ValueError, match=r"expected \(12,\)"):
        model.roi_activation(images[:2], np.ones(5, bool))
    with pytest.raises(ValueError, match="must lie in"):
        model.roi_activation(images[:2], np.array([3, 12]))
    with pytest.raises(TypeError, match="embed"):
        BrainModel(torch.nn.Linear(3, 3), model.readout)


def test_gradient_reaches_image(model_and_images):
    model, images, _ = model_and_images
    image = images[:1].clone().requires_grad_(True)
    model.roi_activation(image, "FFA").sum().backward()
    assert image.grad is not None and image.grad.shape == image.shape
    assert torch.isfinite(image.grad).all() and image.grad.abs().sum() > 0


def test_from_encoder_takes_rois_and_space(model_and_images):
    model, images, encoder = model_and_images
    space = Space.surface("fsaverage5", vertices=np.arange(N_TARGETS))
    data = BrainData(
        responses=np.zeros((80, N_TARGETS), np.float32),
        images=ArrayImages(np.zeros((80, 16, 16, 3), np.uint8)),
        train=np.arange(60),
        test=np.arange(60, 80),
        space=space,
        rois=ROIS,
        meta={"dataset": "world", "subject": 1},
    )
    built = BrainModel.from_encoder(model.backbone, encoder, data)
    assert built.space is space and set(built.rois) == {"FFA", "PPA"}
    assert built.metadata["encoder"] == encoder.spec == "linear:alphas=[0.1, 1.0, 10.0],cv=3"
    assert built.metadata["data"]["subject"] == 1
    with torch.no_grad():
        torch.testing.assert_close(built(images[:3]), model(images[:3]))
    with pytest.raises(ValueError, match="predicts 12 targets but the data have 3"):
        BrainModel.from_encoder(model.backbone, encoder, _with_targets(data, 3))


def test_from_encoder_checks_backbone_spec(tmp_path, model_and_images):
    model, _, encoder = model_and_images
    backbone = model.backbone
    backbone.spec = "gabor"
    try:
        loaded = load_encoder(encoder.save(tmp_path / "enc", metadata={"backbone": "gabor"}))
        assert BrainModel.from_encoder(backbone, loaded).metadata["backbone"] == "gabor"
        backbone.spec = "world-clip"
        with pytest.raises(ValueError, match="fitted on features of backbone 'gabor'"):
            BrainModel.from_encoder(backbone, loaded)
    finally:
        del backbone.spec


def _with_targets(data: BrainData, n: int) -> BrainData:
    return BrainData(
        responses=np.zeros((data.n_images, n), np.float32),
        images=data.images,
        train=data.train,
        test=data.test,
        space=Space.surface("fsaverage5", vertices=np.arange(n)),
    )


def test_ensemble_averages_members_and_passes_gradients(model_and_images):
    model, images, _ = model_and_images
    rng = np.random.default_rng(2)
    other = BrainModel(TinyBackbone(), torch.nn.Linear(32, N_TARGETS), rois=ROIS)
    ensemble = BrainModel.ensemble([model, other])
    with torch.no_grad():
        expected = (model(images[:5]) + other(images[:5])) / 2
        torch.testing.assert_close(ensemble(images[:5]), expected)
        torch.testing.assert_close(
            ensemble.roi_activation(images[:5], "FFA"), expected[:, :4].mean(1)
        )
    assert ensemble.rois.keys() == ROIS.keys() and ensemble.metadata["encoder"] == "ensemble"
    image = torch.from_numpy(rng.uniform(size=(1, 3, 16, 16)).astype(np.float32))
    image.requires_grad_(True)
    ensemble.roi_activation(image, "PPA").sum().backward()
    assert torch.isfinite(image.grad).all() and image.grad.abs().sum() > 0


def test_ensemble_refuses_other_rois_and_targets(model_and_images):
    model, images, _ = model_and_images
    with pytest.raises(ValueError, match="at least two"):
        BrainModel.ensemble([model])
    moved = BrainModel(TinyBackbone(), model.readout, rois={"FFA": ROIS["PPA"], "PPA": ROIS["FFA"]})
    with pytest.raises(ValueError, match="other ROIs than brain model 0"):
        BrainModel.ensemble([model, moved])
    surface = Space.surface("fsaverage5", vertices=np.arange(N_TARGETS))
    shifted = Space.surface("fsaverage5", vertices=np.arange(N_TARGETS) + 1)
    on = [BrainModel(TinyBackbone(), model.readout, rois=ROIS, space=s) for s in (surface, shifted)]
    with pytest.raises(ValueError, match=r"space 'fsaverage5' \(12 targets\) with other vertices"):
        BrainModel.ensemble(on)
    assert BrainModel.ensemble([on[0], model]).space is surface  # an unknown space is compatible
    fewer = BrainModel(TinyBackbone(), torch.nn.Linear(32, N_TARGETS - 1), rois={})
    mixed = BrainModel.ensemble([BrainModel(TinyBackbone(), model.readout), fewer])
    with pytest.raises(ValueError, match="predict different shapes"):
        mixed(images[:2])
