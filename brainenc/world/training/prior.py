"""Training the world's diffusion prior (:mod:`brainenc.world.prior`): the autoencoder, then the
latent denoiser on world-clip caption embeddings."""

from __future__ import annotations

import copy
import json
import shutil
import time
from pathlib import Path

import numpy as np
import torch
from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
from diffusers.training_utils import EMAModel, compute_snr
from torch.nn import functional as F
from tqdm.auto import tqdm

from ...data.images import to_tensor
from ...validation import check_cuda
from ..prior import PRIOR_DIR, SCHEDULER_CONFIG, UNET_CONFIG, VAE_CONFIG, prior_pipeline
from ..stimuli import generate_stimuli

TRAIN_SEED = 5_000
CONDITION_DROPOUT = 0.3
MIN_SNR_GAMMA = 5.0  # Min-SNR loss weighting (Hang et al., ICCV 2023): faster convergence
EMA_DECAY = 0.999  # the saved denoiser is the exponential moving average of its weights
RECORD_FILE = "record.json"
"""The training record beside the diffusers files (diffusers ignores it)."""


def _pixels(images: np.ndarray) -> torch.Tensor:
    return to_tensor(images) * 2 - 1


def _configured(defaults: dict, overrides: dict | None) -> tuple[dict, dict]:
    """``defaults`` with ``overrides`` applied, and the keys that differ from the defaults."""
    config = {**defaults, **(overrides or {})}
    return config, {k: v for k, v in config.items() if defaults.get(k) != v}


def _as_saved(config: dict) -> dict:
    """``config`` as a saved model's config reads back (tuples become lists)."""
    return json.loads(json.dumps(config))


class PatchCritic(torch.nn.Module):
    """Real-or-decoded logits for overlapping patches of images in [-1, 1]: a small patch
    discriminator (Isola et al., CVPR 2017), whose judgement sharpens a decoder."""

    def __init__(self, width: int = 32):
        super().__init__()
        act = torch.nn.LeakyReLU(0.2)
        self.net = torch.nn.Sequential(
            torch.nn.Conv2d(3, width, 4, stride=2, padding=1), act,
            torch.nn.Conv2d(width, 2 * width, 4, stride=2, padding=1),
            torch.nn.GroupNorm(8, 2 * width), act,
            torch.nn.Conv2d(2 * width, 2 * width, 3, padding=1),
            torch.nn.GroupNorm(8, 2 * width), act,
            torch.nn.Conv2d(2 * width, 1, 3, padding=1),
        )  # fmt: skip

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)


class AdversarialLoss:
    """A decoder's adversarial term, with the patch critic it is trained against (from scratch,
    alongside the decoder, as latent-diffusion autoencoders are sharpened: Esser et al., CVPR
    2021; Rombach et al., CVPR 2022).

    ``loss(decoded)`` is the decoder's term (``weight`` times the hinge generator loss);
    ``update(real, decoded)`` then trains the critic one step (hinge: real patches above +1,
    decoded ones below -1).
    """

    def __init__(self, weight: float, device: str = "cpu"):
        self.weight = weight
        self.critic = PatchCritic().to(device)
        self.opt = torch.optim.AdamW(self.critic.parameters(), lr=2e-4, betas=(0.5, 0.9))

    def loss(self, decoded: torch.Tensor) -> torch.Tensor:
        return -self.weight * self.critic(decoded).mean()

    def update(self, real: torch.Tensor, decoded: torch.Tensor) -> None:
        real_loss = F.relu(1 - self.critic(real)).mean()
        loss = real_loss + F.relu(1 + self.critic(decoded.detach())).mean()
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()


def train_vae(
    *, steps: int = 4000, batch_size: int = 32, n_images: int = 10_000, seed: int = 0,
    config: dict | None = None, adversarial: float = 0.0, device: str = "cpu",
    progress: bool = True,
) -> tuple[AutoencoderKL, dict]:  # fmt: skip
    """Train the autoencoder (L1 + MSE reconstruction, a small KL term); sets its latent scale.

    ``config`` overrides keys of :data:`~brainenc.world.prior.VAE_CONFIG` (e.g. a wider
    ``block_out_channels``; the latent shape stays 4 × 16 × 16 unless the number of blocks
    changes). With ``adversarial`` > 0, the second half of training adds that weight times an
    :class:`AdversarialLoss` (the first half learns to reconstruct alone). Training runs on
    ``device`` and the returned autoencoder is on the CPU.
    """
    check_cuda(device)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    images = generate_stimuli(n_images, TRAIN_SEED + seed).images[:]
    config, changed = _configured(VAE_CONFIG, config)
    vae = AutoencoderKL(**config).to(device)
    opt = torch.optim.AdamW(vae.parameters(), lr=1e-3, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-3, total_steps=steps)
    adversary = AdversarialLoss(adversarial, device) if adversarial else None
    start = time.perf_counter()
    bar = tqdm(range(steps), desc="world prior: vae", disable=not progress)
    for step in bar:
        x = _pixels(images[rng.choice(n_images, batch_size, replace=False)]).to(device)
        posterior = vae.encode(x).latent_dist
        recon = vae.decode(posterior.sample()).sample
        loss = F.l1_loss(recon, x) + F.mse_loss(recon, x) + 1e-6 * posterior.kl().mean()
        sharpen = adversary is not None and step >= steps // 2
        if sharpen:
            loss = loss + adversary.loss(recon)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if sharpen:
            adversary.update(x, recon)
        bar.set_postfix(loss=f"{loss.item():.4f}")
    vae = vae.cpu().eval()
    with torch.no_grad():
        test = _pixels(generate_stimuli(256, TRAIN_SEED + 1_000 + seed).images[:])
        latents = vae.encode(test).latent_dist.mode()
        mse = F.mse_loss(vae.decode(latents).sample, test).item()
    vae.register_to_config(scaling_factor=float(1.0 / latents.std()))
    record = {"steps": steps, "batch_size": batch_size, "heldout_mse": round(mse, 5),
              "train_seconds": round(time.perf_counter() - start, 1)}  # fmt: skip
    if changed:
        record["config"] = changed
    if adversarial:
        record["adversarial"] = adversarial
    record["device"] = device
    return vae, record


def train_unet(
    vae: AutoencoderKL, embed_text, *, steps: int = 10_000, batch_size: int = 32,
    n_images: int = 20_000, lr: float = 5e-4, seed: int = 0, config: dict | None = None,
    device: str = "cpu", progress: bool = True, callback=None, callback_every: int = 250,
    unet: UNet2DConditionModel | None = None,
) -> tuple[UNet2DConditionModel, dict]:  # fmt: skip
    """Train the latent denoiser on world images conditioned on their caption embeddings.

    ``embed_text(list[str]) -> (n, 128)`` is world-clip's text tower; a caption is replaced by
    the empty one with probability :data:`CONDITION_DROPOUT`. The noise-prediction loss is
    Min-SNR weighted (:data:`MIN_SNR_GAMMA`) and the returned denoiser (on the CPU) holds the
    exponential moving average of the weights (:data:`EMA_DECAY`). ``config`` overrides keys
    of :data:`~brainenc.world.prior.UNET_CONFIG` (e.g. a wider ``block_out_channels``);
    training runs on ``device``. ``callback(step, unet)`` runs every ``callback_every`` steps
    with the averaged weights (e.g. to save a checkpoint). ``unet`` continues training that
    denoiser (its moving average starts from its weights; ``config`` must then be None).
    """
    check_cuda(device)
    if unet is not None and config is not None:
        raise ValueError("config= builds a new denoiser; give it or unet=, not both")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    stim = generate_stimuli(n_images, TRAIN_SEED + 2_000 + seed)
    vae = vae.to(device)
    with torch.no_grad():
        latents = torch.cat([
            vae.encode(_pixels(stim.images[i : i + 256]).to(device)).latent_dist.mode()
            for i in range(0, n_images, 256)
        ]) * vae.config.scaling_factor  # fmt: skip
        conds = torch.cat([embed_text(stim.captions[i : i + 512]) for i in range(0, n_images, 512)])
        conds, empty = conds.to(device), embed_text([""]).to(device)
    vae.cpu()
    continued = unet is not None
    if continued:
        unet = copy.deepcopy(unet).train().requires_grad_(True)
        _, changed = _configured(_as_saved(UNET_CONFIG),
                                 _as_saved({k: unet.config[k] for k in UNET_CONFIG}))  # fmt: skip
    else:
        config, changed = _configured(UNET_CONFIG, config)
        unet = UNet2DConditionModel(**config)
    unet = unet.to(device)
    ema = EMAModel(unet.parameters(), decay=EMA_DECAY)
    noise_sched = DDPMScheduler(**SCHEDULER_CONFIG)
    opt = torch.optim.AdamW(unet.parameters(), lr=lr, weight_decay=1e-2)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.05)
    start = time.perf_counter()
    bar = tqdm(range(steps), desc="world prior: unet", disable=not progress)
    for step in bar:
        if callback is not None and step and step % callback_every == 0:
            callback(step, _averaged(unet, ema))
        idx = torch.from_numpy(rng.choice(n_images, batch_size, replace=False)).to(device)
        z0 = latents[idx]
        cond = conds[idx].clone()
        drop = torch.from_numpy(rng.random(batch_size) < CONDITION_DROPOUT).to(device)
        cond[drop] = empty
        noise = torch.randn(z0.shape).to(device)
        t = torch.randint(0, SCHEDULER_CONFIG["num_train_timesteps"], (batch_size,)).to(device)
        pred = unet(
            noise_sched.add_noise(z0, noise, t), t, encoder_hidden_states=cond[:, None]
        ).sample
        snr = compute_snr(noise_sched, t)
        weight = snr.clamp(max=MIN_SNR_GAMMA) / snr
        loss = (weight * F.mse_loss(pred, noise, reduction="none").mean((1, 2, 3))).mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        opt.step()
        sched.step()
        ema.step(unet.parameters())
        bar.set_postfix(loss=f"{loss.item():.4f}")
    record = {"steps": steps, "batch_size": batch_size, "n_images": n_images, "lr": lr,
              "min_snr_gamma": MIN_SNR_GAMMA, "ema_decay": EMA_DECAY,
              "condition_dropout": CONDITION_DROPOUT, "device": device,
              "train_seconds": round(time.perf_counter() - start, 1)}  # fmt: skip
    if changed:
        record["config"] = changed
    if continued:
        record["continued"] = True  # from a given denoiser, not from scratch
    return _averaged(unet, ema), record


def _averaged(unet: UNet2DConditionModel, ema: EMAModel) -> UNet2DConditionModel:
    """A copy of ``unet`` holding the moving-average weights, in eval mode."""
    averaged = UNet2DConditionModel.from_config(unet.config)
    ema.copy_to(averaged.parameters())
    return averaged.eval()


def save_prior(vae, unet, record: dict, directory=PRIOR_DIR) -> Path:
    """Write the prior as a diffusers folder, atomically: ``model_index.json``, ``vae/``,
    ``unet/``, ``scheduler/`` (:func:`~brainenc.world.prior.prior_pipeline`) and
    ``record.json``."""
    directory = Path(directory)
    tmp = directory.with_name(directory.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    scheduler = DDPMScheduler(**SCHEDULER_CONFIG)
    vae.save_pretrained(tmp / "vae")
    unet.save_pretrained(tmp / "unet")
    scheduler.save_pretrained(tmp / "scheduler")
    # model_index.json only: StableDiffusionPipeline rewrites its scheduler's config in memory
    # (steps_offset, clip_sample), which must not reach the scheduler/ that BrainDiVE reads
    prior_pipeline(vae, unet, copy.deepcopy(scheduler)).save_config(tmp)
    (tmp / RECORD_FILE).write_text(json.dumps(record, indent=1) + "\n")
    shutil.rmtree(directory, ignore_errors=True)
    tmp.rename(directory)
    return directory


def train_world_prior(*, seed: int = 0, device: str = "cpu", progress: bool = True) -> Path:
    """Train the autoencoder, then the denoiser on world-clip caption embeddings, on ``device``;
    save both."""
    from ...features import Backbone

    vae, vae_record = train_vae(seed=seed, device=device, progress=progress)
    clip = Backbone.from_spec("world-clip")
    unet, unet_record = train_unet(
        vae, lambda texts: clip.embed_text(list(texts)), seed=seed, device=device,
        progress=progress,
    )  # fmt: skip
    return save_prior(vae, unet, {"vae": vae_record, "unet": unet_record})
