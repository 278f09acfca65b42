"""Fixtures shared by every test folder: a small simulated subject of the in-silico world, tiny
diffusion components and a tiny Stable-Diffusion-layout checkpoint, and the study scripts."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

from brainenc.world import WorldSubject, load_world


@pytest.fixture(scope="session")
def world_subject():
    return WorldSubject(1)


@pytest.fixture(scope="session")
def world_data():
    """Subject 1 of the world: 600 training and 200 test images, 3 repeats."""
    return load_world(1, n_train=600, n_test=200)


@pytest.fixture(scope="session")
def tiny_diffusion():
    """Randomly initialised diffusers parts of SD's kinds: 16×16 images, 8×8×4 latents."""
    from diffusers import AutoencoderKL, DPMSolverMultistepScheduler, UNet2DConditionModel

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, layers_per_block=1,
        block_out_channels=(16, 32), norm_num_groups=8, cross_attention_dim=16,
        attention_head_dim=4,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
    )  # fmt: skip
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8, 16),
        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
        norm_num_groups=8, sample_size=16,
    )  # fmt: skip
    scheduler = DPMSolverMultistepScheduler(num_train_timesteps=1000, algorithm_type="dpmsolver++")
    return unet, vae, scheduler


@pytest.fixture(scope="session")
def tiny_stable_diffusion(tiny_diffusion, tmp_path_factory) -> Path:
    """A folder in Stable Diffusion's layout: unet/, vae/, scheduler/, text_encoder/, tokenizer/."""
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    folder = tmp_path_factory.mktemp("tiny_sd")
    unet, vae, scheduler = tiny_diffusion
    unet.save_pretrained(folder / "unet")
    vae.save_pretrained(folder / "vae")
    scheduler.save_pretrained(folder / "scheduler")
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1, "!": 2}
    for c in "abcdefghijklmnopqrstuvwxyz":
        vocab[c], vocab[c + "</w>"] = len(vocab), len(vocab) + 1
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"),
                              pad_token="!", model_max_length=77)  # fmt: skip
    tokenizer.save_pretrained(folder / "tokenizer")
    config = CLIPTextConfig(
        vocab_size=len(vocab), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
        num_attention_heads=2, max_position_embeddings=77, bos_token_id=0, eos_token_id=1,
        pad_token_id=2,
    )  # fmt: skip
    torch.manual_seed(0)
    CLIPTextModel(config).save_pretrained(folder / "text_encoder")
    return folder


ROOT = Path(__file__).parents[1]


def _module_loader(monkeypatch, folder: Path):
    monkeypatch.syspath_prepend(str(folder))

    def _load(name: str):
        spec = importlib.util.spec_from_file_location(name, folder / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return _load


@pytest.fixture
def script(monkeypatch):
    """``script(name)`` -> the module of ``scripts/<name>.py`` (with scripts/ importable)."""
    return _module_loader(monkeypatch, ROOT / "scripts")


@pytest.fixture
def benchmark_module(monkeypatch):
    """``benchmark_module(name)`` -> the module of ``benchmarks/<name>.py`` (with benchmarks/
    importable)."""
    return _module_loader(monkeypatch, ROOT / "benchmarks")
