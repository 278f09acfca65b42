"""The world's diffusion prior: a small latent diffusion model of Stable Diffusion's own shape.

An ``AutoencoderKL`` (64×64 RGB ↔ 16×16×4 latents) and a ``UNet2DConditionModel`` that denoises
latents conditioned on a world-clip text embedding (one token of width 128), trained on world
images and their captions with 30% condition dropout (the empty caption). It samples world images
unconditionally (as BrainDiVE does), from a caption, or guided by a brain model.

It is saved as a diffusers ``StableDiffusionPipeline`` folder (``model_index.json``, ``vae/``,
``unet/``, ``scheduler/``), the layout real Stable Diffusion checkpoints have, with no
``text_encoder`` or ``tokenizer``: its text encoder is world-clip's text tower (an open_clip
model, :mod:`brainenc.world.clip`), whose embeddings are passed as ``prompt_embeds``. So it loads
with ``DiffusionPipeline.from_pretrained(PRIOR_DIR, text_encoder=None, tokenizer=None)`` (what
:func:`load_prior` does) and through :meth:`BrainDiVEPipeline.from_pretrained
<brainenc.synthesis.BrainDiVEPipeline.from_pretrained>`. ``record.json`` beside it holds
the training record. :mod:`brainenc.world.training.prior` retrains it (``brainenc world build
--only world-prior``).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from ._checkpoints import WEIGHTS_DIR

if TYPE_CHECKING:
    from diffusers import StableDiffusionPipeline

PRIOR_DIR = WEIGHTS_DIR / "world_prior"
VAE_CONFIG = {
    "in_channels": 3,
    "out_channels": 3,
    "latent_channels": 4,
    "block_out_channels": (16, 32, 32),
    "down_block_types": ("DownEncoderBlock2D",) * 3,
    "up_block_types": ("UpDecoderBlock2D",) * 3,
    "layers_per_block": 1,
    "norm_num_groups": 8,
    "sample_size": 64,
    "mid_block_add_attention": False,
}
UNET_CONFIG = {
    "sample_size": 16,
    "in_channels": 4,
    "out_channels": 4,
    "layers_per_block": 1,
    "block_out_channels": (32, 64, 64),
    "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
    "up_block_types": ("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
    "cross_attention_dim": 128,
    "attention_head_dim": 8,
    "norm_num_groups": 8,
}
SCHEDULER_CONFIG = {  # Stable Diffusion's training schedule
    "num_train_timesteps": 1000,
    "beta_schedule": "scaled_linear",
    "beta_start": 0.00085,
    "beta_end": 0.012,
}


def prior_pipeline(vae, unet, scheduler) -> StableDiffusionPipeline:
    """The prior's parts as a diffusers ``StableDiffusionPipeline`` without text encoder,
    tokenizer or safety checker (condition it with ``prompt_embeds`` from world-clip)."""
    from diffusers import StableDiffusionPipeline

    return StableDiffusionPipeline(
        vae=vae, text_encoder=None, tokenizer=None, unet=unet, scheduler=scheduler,
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )  # fmt: skip


def check_prior(directory=PRIOR_DIR) -> Path:
    """``directory`` as a path, if it holds the prior (diffusers' layout); a clear error if not."""
    directory = Path(directory)
    if not (directory / "model_index.json").is_file():
        if directory.resolve() == PRIOR_DIR.resolve():
            raise FileNotFoundError(
                f"the world diffusion prior is missing ({directory}); build it with "
                "`brainenc world build --only world-prior`"
            )
        raise FileNotFoundError(
            f"{directory} is not a diffusion prior folder (no model_index.json): give a folder "
            "in diffusers' layout, e.g. written by benchmarks/world_prior_gpu.py, or none for "
            "the shipped prior"
        )
    return directory


def load_prior(directory=PRIOR_DIR) -> StableDiffusionPipeline:
    """The shipped prior as a diffusers ``StableDiffusionPipeline`` (CPU, float32, offline).

    Parameters
    ----------
    directory : path-like
        A folder written by :func:`brainenc.world.training.prior.save_prior`.

    Examples
    --------
    >>> from brainenc.features import Backbone
    >>> pipe = load_prior()
    >>> text = Backbone.from_spec("world-clip").embed_text(["a photo of a face"])[:, None]
    >>> images = pipe(prompt_embeds=text, height=64, width=64, output_type="np").images
    """
    from diffusers import DiffusionPipeline
    from diffusers.utils import is_accelerate_available

    directory = check_prior(directory)
    with warnings.catch_warnings():
        # StableDiffusionPipeline advises steps_offset=1 and no clip_sample for SD's schedulers; the
        # prior's DDPM schedule is the one it was trained with, and BrainDiVE reads it as is.
        warnings.filterwarnings(
            "ignore", message="(?s).*(steps_offset|clip_sample)", category=FutureWarning
        )
        return DiffusionPipeline.from_pretrained(
            str(directory), text_encoder=None, tokenizer=None, local_files_only=True,
            low_cpu_mem_usage=is_accelerate_available(),  # said explicitly: no install notice
        )  # fmt: skip
