"""Backbone base class and registry: from_spec, register_backbone, preprocess, defaults."""

from __future__ import annotations

import pytest
import torch

from brainenc.features import BACKBONES, Backbone, GaborPyramid, register_backbone
from brainenc.features import backbone as backbone_module


class ChannelMean(Backbone):
    """Mean of each normalised channel: the smallest backbone there is."""

    def __init__(self, spec: str, scale: float = 1.0):
        super().__init__(spec, embed_dim=3, input_size=8, mean=(0.5,) * 3, std=(0.25,) * 3)
        self.scale = scale

    def embed(self, images):
        return self.preprocess(images).mean((2, 3)) * self.scale


@pytest.fixture
def registry(monkeypatch):
    """A private copy of the registry, so that test registrations do not leak."""
    monkeypatch.setattr(backbone_module, "BACKBONES", dict(BACKBONES))
    return backbone_module.BACKBONES


def test_from_spec_gabor():
    model = Backbone.from_spec("gabor")
    assert isinstance(model, GaborPyramid) and model.spec == "gabor"


def test_unknown_spec_lists_known_backbones():
    with pytest.raises(ValueError, match=r"unknown backbone 'nope'.*known backbones: .*gabor"):
        Backbone.from_spec("nope:ViT/x")
    with pytest.raises(ValueError, match="non-empty"):
        Backbone.from_spec("")


def test_register_and_build_custom_backbone(registry):
    @register_backbone("chanmean")
    def build(spec, **kwargs):
        return ChannelMean(spec, **kwargs)

    model = Backbone.from_spec("chanmean:v1", scale=2.0)
    assert registry["chanmean"] is build
    assert model.spec == "chanmean:v1" and model.scale == 2.0
    images = torch.full((2, 3, 20, 30), 0.75)
    torch.testing.assert_close(model(images), torch.full((2, 3), 2.0))  # (0.75 - 0.5) / 0.25 * 2
    with pytest.raises(NotImplementedError, match="chanmean:v1"):
        model.tokens(images)


def test_register_rejects_duplicates_and_bad_names(registry):
    with pytest.raises(ValueError, match="already registered"):
        register_backbone("gabor")(lambda spec, **kw: None)
    with pytest.raises(ValueError, match="no ':'"):
        register_backbone("a:b")


def test_base_preprocess_resizes_normalises_and_is_differentiable():
    model = ChannelMean("chanmean")
    images = torch.rand(2, 3, 33, 17, requires_grad=True)
    x = model.preprocess(images)
    assert x.shape == (2, 3, 8, 8)
    model.embed(images).sum().backward()
    # a mean over a resized image weighs every pixel: the gradient is positive everywhere
    assert (images.grad > 0).all()


def test_base_embed_is_abstract():
    with pytest.raises(NotImplementedError, match="plain"):
        Backbone("plain", embed_dim=1, input_size=8).embed(torch.rand(1, 3, 8, 8))
    with pytest.raises(ValueError, match="mean and std"):
        Backbone("plain", embed_dim=1, input_size=8, mean=(0.5, 0.5, 0.5))
