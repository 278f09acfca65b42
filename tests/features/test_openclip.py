"""OpenCLIPBackbone on real open_clip architectures from tiny configs: shapes, normalisation,
tokens, gradients, text, spec forms, the HF cache and its fast offline error."""

from __future__ import annotations

import time

import numpy as np
import open_clip
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from brainenc.data import ArrayImages, to_tensor
from brainenc.features import Backbone, OpenCLIPBackbone, extract_features, register_model_config


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return torch.rand(3, 3, 40, 50, generator=torch.Generator().manual_seed(0))


def _random_clip(name: str, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return open_clip.create_model(name)


def test_embed_shape_and_unit_norm(tiny_clip, images):
    assert (tiny_clip.embed_dim, tiny_clip.input_size) == (32, 32)
    emb = tiny_clip.embed(images)
    assert emb.shape == (3, 32)
    torch.testing.assert_close(emb.norm(dim=1), torch.ones(3))
    assert not torch.allclose(emb[0], emb[1])


def test_unnormalized_spec_and_kwarg(tiny_clip, images):
    raw = Backbone.from_spec("open_clip:tiny-test,normalize=false")
    assert raw.spec == "open_clip:tiny-test,normalize=false" and not raw.normalize
    emb = raw.embed(images)
    assert not torch.allclose(emb.norm(dim=1), torch.ones(3))
    torch.testing.assert_close(F.normalize(emb, dim=-1), tiny_clip.embed(images))
    direct = OpenCLIPBackbone(raw.model, spec="open_clip:tiny-test", normalize=False)
    assert direct.spec == raw.spec  # the spec names the outputs: the cache must not mix them
    with pytest.raises(ValueError, match="contradicts"):
        Backbone.from_spec("open_clip:tiny-test,normalize=false", normalize=True)


def test_preprocess_uses_the_model_mean_and_std(tiny_clip):
    grey = torch.full((1, 3, 64, 64), 0.5)
    mean = torch.tensor(open_clip.OPENAI_DATASET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(open_clip.OPENAI_DATASET_STD).view(1, 3, 1, 1)
    out = tiny_clip.preprocess(grey)
    assert out.shape == (1, 3, 32, 32)
    torch.testing.assert_close(out, ((0.5 - mean) / std).expand(1, 3, 32, 32))


@pytest.mark.parametrize(("name", "n_tokens"), [("tiny-test", 16), ("tiny-test-48", 36)])
def test_token_count_is_patches_without_cls(tiny_clip_configs, images, name, n_tokens):
    backbone = Backbone.from_spec(f"open_clip:{name}")
    tokens = backbone.tokens(images)
    assert tokens.shape == (3, n_tokens, 64)
    assert backbone.model.visual.output_tokens is False  # restored
    assert backbone.embed(images).shape == (3, 32)


def test_tokens_need_a_vit(tiny_clip_configs, images):
    resnet = Backbone.from_spec("open_clip:tiny-test-rn")
    assert resnet.embed(images).shape == (3, 32)
    with pytest.raises(NotImplementedError, match=r"ViT image tower.*ModifiedResNet"):
        resnet.tokens(images)


def test_frozen_but_differentiable_in_the_image(tiny_clip, images):
    assert not any(p.requires_grad for p in tiny_clip.parameters())
    tiny_clip.train()
    try:
        assert tiny_clip.training and not tiny_clip.model.training
    finally:
        tiny_clip.eval()
    for method in (tiny_clip.embed, tiny_clip.tokens):
        x = images.clone().requires_grad_(True)
        method(x).square().sum().backward()
        assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_embed_text(tiny_clip):
    emb = tiny_clip.embed_text(["a photo of a face", "a photo of a house"])
    assert emb.shape == (2, 32)
    torch.testing.assert_close(emb.norm(dim=1), torch.ones(2))
    assert not torch.allclose(emb[0], emb[1])
    with pytest.raises(TypeError, match="list of strings"):
        tiny_clip.embed_text("a face")


def test_embed_text_with_a_custom_tokenizer(tiny_clip):
    def tokenize(texts):
        return torch.tensor([[1, 5 + len(t), 9] + [0] * 13 for t in texts])

    custom = OpenCLIPBackbone(tiny_clip.model, spec="open_clip:tiny-test", tokenizer=tokenize)
    torch.testing.assert_close(
        custom.embed_text(["ab", "abc"]),
        F.normalize(tiny_clip.model.encode_text(tokenize(["ab", "abc"])), dim=-1),
    )
    too_big = OpenCLIPBackbone(
        tiny_clip.model, spec="open_clip:tiny-test", tokenizer=lambda t: torch.full((1, 16), 60000)
    )
    with pytest.raises(ValueError, match=r"token id 60000.*49408"):
        too_big.embed_text(["x"])


def test_random_init_is_seeded_and_leaves_the_global_rng_alone(tiny_clip, images):
    torch.manual_seed(7)
    expected = torch.rand(2)
    torch.manual_seed(7)
    again = Backbone.from_spec("open_clip:tiny-test")
    torch.testing.assert_close(torch.rand(2), expected)
    torch.testing.assert_close(again.embed(images), tiny_clip.embed(images))


def test_local_checkpoint_loads_those_weights(tiny_clip, images, tmp_path):
    model = _random_clip("tiny-test", seed=123)
    path = tmp_path / "weights.pt"
    torch.save(model.state_dict(), path)
    loaded = Backbone.from_spec(f"open_clip:tiny-test@{path}")
    assert loaded.weights_file == path and tiny_clip.weights_file is None
    reference = OpenCLIPBackbone(model, spec="reference")
    torch.testing.assert_close(loaded.embed(images), reference.embed(images), rtol=0, atol=0)
    assert not torch.allclose(loaded.embed(images), tiny_clip.embed(images))
    with pytest.raises(FileNotFoundError, match=r"no checkpoint file at /no/such/file.pt"):
        Backbone.from_spec("open_clip:tiny-test@/no/such/file.pt")


def test_pretrained_tag_is_read_from_the_hf_cache(tiny_clip_configs, images, tmp_path, monkeypatch):
    model = _random_clip("tiny-test", seed=5)
    snapshot = tmp_path / "hub" / "models--org--tiny" / "snapshots" / ("a" * 40)
    snapshot.mkdir(parents=True)
    save_file(model.state_dict(), snapshot / "open_clip_model.safetensors")
    (tmp_path / "hub" / "models--org--tiny" / "refs").mkdir()
    (tmp_path / "hub" / "models--org--tiny" / "refs" / "main").write_text("a" * 40)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    cfg = {"hf_hub": "org/tiny/", "mean": (0.5, 0.5, 0.5), "std": (0.25, 0.25, 0.25)}
    monkeypatch.setitem(open_clip.pretrained._PRETRAINED, "tiny-test", {"fake": cfg})
    backbone = Backbone.from_spec("open_clip:tiny-test/fake")
    assert backbone.weights_file.samefile(snapshot / "open_clip_model.safetensors")
    torch.testing.assert_close(backbone.mean.flatten(), torch.full((3,), 0.5))
    torch.testing.assert_close(backbone.std.flatten(), torch.full((3,), 0.25))
    model.visual.preprocess_cfg = {"mean": cfg["mean"], "std": cfg["std"]}
    reference = OpenCLIPBackbone(model, spec="reference")
    torch.testing.assert_close(backbone.embed(images), reference.embed(images), rtol=0, atol=0)


@pytest.mark.parametrize("variable", ["HF_HOME", "HF_HUB_CACHE"])
def test_missing_pretrained_weights_fail_fast(tmp_path, monkeypatch, variable):
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv(variable, str(tmp_path))
    cache = tmp_path / "hub" if variable == "HF_HOME" else tmp_path
    start = time.perf_counter()
    with pytest.raises(FileNotFoundError) as error:
        Backbone.from_spec("open_clip:ViT-B-16/laion2b_s34b_b88k")
    assert time.perf_counter() - start < 5
    message = str(error.value)
    for part in (
        "'ViT-B-16'",
        "'laion2b_s34b_b88k'",
        f"cache {cache} ",
        "hf download laion/CLIP-ViT-B-16-laion2B-s34B-b88K",
        "open_clip:ViT-B-16@/path/to/",
    ):
        assert part in message


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("open_clip:tiny-tset", "unknown open_clip model 'tiny-tset'.*tiny-test"),
        ("open_clip:ViT-B-16/no-such-tag", "unknown pretrained tag.*laion2b_s34b_b88k"),
        ("open_clip:", "bad open_clip spec"),
        ("open_clip:ViT-B-16/x@/a/b", "bad open_clip spec"),
    ],
)
def test_bad_specs_raise(tiny_clip_configs, spec, match):
    with pytest.raises(ValueError, match=match):
        Backbone.from_spec(spec)


def test_register_model_config_checks_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"missing.json"):
        register_model_config(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"embed_dim": 8}')
    with pytest.raises(ValueError, match="lacks vision_cfg, text_cfg"):
        register_model_config(bad)


def test_extract_features_with_open_clip(tiny_clip):
    array = np.random.default_rng(1).integers(0, 256, size=(5, 36, 36, 3), dtype=np.uint8)
    tokens = extract_features(tiny_clip, ArrayImages(array), feature_type="tokens", batch_size=2)
    with torch.no_grad():
        direct = tiny_clip.tokens(to_tensor(array)).numpy()
    np.testing.assert_allclose(tokens, direct, rtol=1e-5, atol=1e-6)
