"""BrainDiVE: diffusion guided by the gradient of a brain model's predicted activation.

Luo et al., "Brain Diffusion for Visual Exploration", NeurIPS 2023. At every denoising step the
pipeline estimates the clean sample, mixes it with the current latent, decodes that to an image,
scores the image with an :class:`~brainenc.synthesis.objectives.Objective` of a
:class:`~brainenc.encoders.BrainModel`, and shifts the predicted noise along the gradient::

    x0 = (z - sqrt(1 - a) * eps) / sqrt(a)                 a = alphas_cumprod[t]
    s  = sqrt(1 - a) * x0 + (1 - sqrt(1 - a)) * z
    L  = -scale * objective(brain_model, decode(s))
    eps~ = eps + sqrt(1 - a) * dL/dz

and the scheduler steps with ``eps~``. :class:`Guidance` holds the recipe: the paper's
(:data:`PAPER_GUIDANCE`, a fixed ``scale`` on the raw gradient) or a robust one
(:data:`ROBUST_GUIDANCE`) that rescales each image's gradient to the size of its predicted
noise and scores a randomly shifted, mirrored copy of the decoded image.

The components are diffusers objects passed in, as in a diffusers pipeline: any
``UNet2DConditionModel`` / ``UNet2DModel``, any scheduler with ``alphas_cumprod`` (DPM-Solver++
multistep by default), a VAE (latent diffusion) or none (pixel diffusion), and the conditioning
(an empty prompt's embedding by default: no classifier-free guidance, as in the paper).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..data.images import resize_square
from ..features.openclip import hf_hub_cache
from .objectives import Objective, as_objective

AUGMENT_SEED = 1_000_003  # offset of the augmentation streams from the noise seeds
RANK_AUGMENT_SEED = 2 * AUGMENT_SEED  # offset of the streams that augmented scores draw from
MAX_NORMALIZED_SCALE = 20.0  # a normalized step this many times the noise is surely a mistake


@dataclass(frozen=True)
class Guidance:
    """How the brain model's gradient steers the sampler.

    Attributes
    ----------
    scale : float
        The weight of the objective. With ``normalize=False`` (the paper's rule) it multiplies
        the raw gradient: BrainDiVE uses about 130 for Stable Diffusion 2.1 with a CLIP-feature
        encoder. With ``normalize=True`` the shift of the predicted noise has norm
        ``scale * sqrt(1 - a) * ||eps||`` (the paper's ``sqrt(1 - a)`` step factor kept, so
        guidance fades as the image settles); about 0.3 to 2 is useful.
    normalize : bool
        Rescale each image's gradient to the norm of its predicted noise before weighting it.
        Raw gradients differ by orders of magnitude between encoders, ROIs and objectives, and
        between images, so one raw scale is too weak for some and adversarial for others; a
        normalized step pushes every image equally.
    augment : bool
        At every step, score a copy of the decoded image shifted by up to an eighth of its side
        (borders reflected) and mirrored with probability 1/2, a fresh draw each step
        (transformation robustness; Olah et al., "Feature Visualization", Distill 2017). Guidance
        then cannot rely on pixel-exact patterns that move the encoder but not the brain.
    """

    scale: float = 130.0
    normalize: bool = False
    augment: bool = False

    def __post_init__(self):
        if not np.isfinite(self.scale):
            raise ValueError(f"guidance scale must be finite; got {self.scale}")
        if self.normalize and abs(self.scale) > MAX_NORMALIZED_SCALE:
            raise ValueError(
                f"with normalize=True the scale is relative to the predicted noise (about 0.3 to "
                f"2); {self.scale} would swamp it. Give a small scale, or normalize=False for the "
                "paper's raw-gradient scale"
            )

    @classmethod
    def parse(cls, guidance: Guidance | float | None) -> Guidance | None:
        """``None`` or scale 0 → ``None`` (unguided); a number → the paper's rule at that scale."""
        if guidance is None:
            return None
        if not isinstance(guidance, Guidance):
            guidance = cls(scale=float(guidance))
        return None if guidance.scale == 0 else guidance

    @classmethod
    def named(cls, name: str, scale: float | None = None) -> Guidance:
        """A recipe of :data:`GUIDANCE` by name, at its own scale or at ``scale``."""
        if name not in GUIDANCE:
            raise ValueError(f"unknown guidance {name!r}; choose one of {', '.join(GUIDANCE)}")
        return GUIDANCE[name] if scale is None else replace(GUIDANCE[name], scale=scale)


STABLE_DIFFUSION = "stabilityai/stable-diffusion-2-1-base"
"""The checkpoint BrainDiVE samples from, the default diffusion model on real data."""
PAPER_GUIDANCE = Guidance()
"""BrainDiVE as published: the raw gradient at scale 130 (Stable Diffusion 2.1-base)."""
ROBUST_GUIDANCE = Guidance(scale=1.0, normalize=True, augment=True)
"""Normalized, augmented guidance; the world's default (``benchmarks/braindive_world.py``)."""
GUIDANCE = {"paper": PAPER_GUIDANCE, "robust": ROBUST_GUIDANCE}


@dataclass
class SynthesisOutput:
    """Images and their scores.

    Attributes
    ----------
    images : tensor of shape (n, 3, H, W), float in [0, 1]
    scores : array of shape (n,)
        The objective of each final image under the brain model.
    seeds : array of shape (n,)
    guidance : Guidance or None
        ``None`` for unguided samples.
    """

    images: torch.Tensor
    scores: np.ndarray
    seeds: np.ndarray
    guidance: Guidance | None

    def to_uint8(self) -> np.ndarray:
        """Images as ``uint8`` (n, H, W, 3)."""
        return (self.images.clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).cpu().numpy()

    def top(self, n: int, by: np.ndarray | None = None) -> SynthesisOutput:
        """The ``n`` images with the highest scores, best first: BrainDiVE's rerank by the
        brain model (Luo et al., 2023, keep the top 20% of their samples, after NeuroGen).

        ``by`` ranks by other scores of the same images, e.g. another encoder's
        (``pipe.score(objective, out.images, brain_model=other)``); the kept images keep their
        own ``scores``. Unguided samples carry no scores (NaN) until scored, e.g.
        ``replace(out, scores=pipe.score(objective, out.images))``.
        """
        total = len(self.scores)
        if not 1 <= n <= total:
            raise ValueError(f"cannot keep {n} of {total} images; keep 1..{total}")
        if by is not None and np.shape(by) != (total,):
            raise ValueError(f"by holds {np.shape(by)} scores for {total} images; give one each")
        rank = self.scores if by is None else np.asarray(by, dtype=float)
        if np.isnan(rank).any():
            if by is not None:
                raise ValueError("by holds NaN scores; rank by finite scores")
            why = "unguided samples are not scored" if self.guidance is None else "NaN scores"
            raise ValueError(
                f"these images have no scores ({why}); score them first: "
                "replace(output, scores=pipe.score(objective, output.images))"
            )
        order = np.argsort(-rank, kind="stable")[:n]
        return replace(self, images=self.images[torch.from_numpy(order)],
                       scores=self.scores[order], seeds=self.seeds[order])  # fmt: skip


class BrainDiVEPipeline:
    """Encoder-guided diffusion, assembled from swappable components.

    Parameters
    ----------
    unet : diffusers UNet2DConditionModel or UNet2DModel
        The denoiser (predicting noise, ``prediction_type="epsilon"``).
    scheduler : diffusers scheduler
        With ``alphas_cumprod``, ``set_timesteps`` and ``step``.
    brain_model : BrainModel
        Scores decoded images; its gradient guides the sampling.
    vae : diffusers AutoencoderKL, optional
        Latent diffusion when given (decoded images are ``vae.decode(z / scaling_factor)``
        mapped from [-1, 1]); pixel diffusion in [-1, 1] otherwise.
    condition : tensor of shape (1, seq, dim), optional
        ``encoder_hidden_states`` for a conditional UNet (e.g. the empty prompt's text
        embedding); required for a ``UNet2DConditionModel``.

    Attributes
    ----------
    unconditional : tensor or None
        Set by :meth:`with_condition`: the condition classifier-free guidance moves away from.
    text_scale : float
        Set by :meth:`with_condition`: the classifier-free guidance scale.
    """

    def __init__(self, unet, scheduler, brain_model, *, vae=None, condition=None):
        self.unet = unet.eval().requires_grad_(False)
        self.scheduler = scheduler
        self.brain_model = brain_model.eval().requires_grad_(False)
        self.vae = vae.eval().requires_grad_(False) if vae is not None else None
        self.conditional = getattr(unet.config, "cross_attention_dim", None) is not None
        if self.conditional and condition is None:
            raise ValueError(
                "this UNet is text-conditional: pass condition=<embedding of the empty prompt>, "
                "shape (1, seq, cross_attention_dim)"
            )
        self.condition = condition
        self.unconditional, self.text_scale = None, 1.0

    @classmethod
    def from_pretrained(
        cls,
        source: str,
        brain_model,
        *,
        condition: torch.Tensor | None = None,
        device: str = "cpu",
        download: bool = False,
    ) -> BrainDiVEPipeline:
        """Load a diffusers latent-diffusion checkpoint (folder or Hugging Face repo id).

        The UNet, VAE and scheduler come from the ``unet/``, ``vae/`` and ``scheduler/``
        subfolders (the scheduler is rebuilt as DPM-Solver++ multistep from its config). The
        conditioning is the empty prompt's embedding from ``text_encoder/`` + ``tokenizer/``
        when the checkpoint has them (Stable Diffusion), else ``condition`` must be given.
        On CUDA the UNet and VAE run in float16 with attention slicing.

        Parameters
        ----------
        source : str
            A local folder, or a repo id such as ``"stabilityai/stable-diffusion-2-1-base"``.
        download : bool
            Allow downloading a repo id that is not in the Hugging Face cache; by default only
            the cache is read, so an offline machine fails at once with what to do.
        """
        from diffusers import AutoencoderKL, DPMSolverMultistepScheduler, UNet2DConditionModel
        from diffusers.utils import is_accelerate_available

        local = Path(source).expanduser()
        kwargs = {} if local.is_dir() else {"local_files_only": not download}
        where = str(local) if local.is_dir() else source
        dtype = torch.float16 if str(device).startswith("cuda") else torch.float32
        # diffusers' own choice, said explicitly: without accelerate it would print a notice
        # to install it at every load
        models = {"torch_dtype": dtype, "low_cpu_mem_usage": is_accelerate_available(), **kwargs}
        try:
            unet = UNet2DConditionModel.from_pretrained(where, subfolder="unet", **models)
            vae = AutoencoderKL.from_pretrained(where, subfolder="vae", **models)
            scheduler = DPMSolverMultistepScheduler.from_pretrained(
                where, subfolder="scheduler", algorithm_type="dpmsolver++", **kwargs
            )
            if condition is None:
                condition = _prompt_states(where, kwargs, [""])
        except (OSError, ValueError) as e:
            if local.is_dir() or not kwargs.get("local_files_only"):
                raise
            raise FileNotFoundError(
                f"diffusion model {source!r} is not in the Hugging Face cache "
                f"({hf_hub_cache()}) and downloads are off. On a connected machine run "
                f"`hf download {source}` and copy the cache folder here, or pass a local "
                f"folder with unet/, vae/ and scheduler/ (or download=True). ({e})"
            ) from None
        unet, vae = unet.to(device), vae.to(device)
        if dtype == torch.float16:
            unet.set_attention_slice("auto")
        return cls(unet, scheduler, brain_model.to(device), vae=vae,
                   condition=condition.to(device, dtype))  # fmt: skip

    def with_condition(self, condition: torch.Tensor, *, text_scale: float = 1.0):
        """A pipeline of the same models that samples conditioned on ``condition``.

        Parameters
        ----------
        condition : tensor of shape (1, seq, dim)
            E.g. a caption's text embedding.
        text_scale : float
            Classifier-free guidance (Ho & Salimans, 2022) from this pipeline's own condition
            (the empty prompt) towards ``condition``; 1 is plain conditional sampling.
        """
        if not self.conditional:
            raise ValueError("this UNet takes no condition")
        if not text_scale >= 1.0:
            raise ValueError(f"text_scale must be at least 1; got {text_scale}")
        pipe = type(self)(self.unet, self.scheduler, self.brain_model, vae=self.vae,
                          condition=condition.to(self.condition))  # fmt: skip
        if text_scale != 1.0:
            pipe.unconditional, pipe.text_scale = self.condition, float(text_scale)
        return pipe

    @property
    def device(self) -> torch.device:
        return next(self.unet.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        """The UNet's dtype (float16 on CUDA from :meth:`from_pretrained`); latents use it too."""
        return next(self.unet.parameters()).dtype

    def latent_shape(self, height: int, width: int) -> tuple[int, int, int]:
        """Shape (channels, h, w) of the sample the UNet denoises for an image of this size."""
        if self.vae is None:
            return self.unet.config.in_channels, height, width
        factor = 2 ** (len(self.vae.config.block_out_channels) - 1)
        if height % factor or width % factor:
            raise ValueError(
                f"height and width must be multiples of {factor}; got {height}x{width}"
            )
        return self.unet.config.in_channels, height // factor, width // factor

    def decode(self, sample: torch.Tensor) -> torch.Tensor:
        """Denoised sample → image in [0, 1] (differentiable)."""
        if self.vae is not None:
            sample = self.vae.decode(sample / self.vae.config.scaling_factor).sample
        return ((sample + 1) / 2).clamp(0, 1)

    def __call__(
        self,
        objective: Objective | str | int | None,
        *,
        n_images: int = 4,
        seed: int = 0,
        guidance: Guidance | float | None = PAPER_GUIDANCE,
        num_inference_steps: int = 50,
        height: int | None = None,
        width: int | None = None,
        batch_size: int = 4,
        brain_input_size: int | None = None,
        progress: bool = True,
        callback: Callable[[int, int, torch.Tensor], None] | None = None,
    ) -> SynthesisOutput:
        """Sample ``n_images`` guided by ``objective`` (``None``, or no guidance: unguided).

        Image ``i`` starts from the noise of seed ``seed + i`` (and draws its augmentations
        from that seed) whatever the batch size, so a guided and an unguided run with the same
        seeds start from the same noise.

        Parameters
        ----------
        objective : Objective, ROI name or target index, or None
            What to maximise (``-objective`` minimises).
        guidance : Guidance, float or None
            The guidance recipe; a number is the paper's rule at that scale, and ``None`` or
            0 samples unguided (the objective still scores the images).
        height, width : int, optional
            Image size; default the UNet's ``sample_size`` (times the VAE factor).
        brain_input_size : int, optional
            Resize decoded images to this square size before the brain model (the paper: 224);
            by default the brain model's backbone resizes them itself.
        callback : callable, optional
            Called as ``callback(step, timestep, sample)`` after every step.
        """
        guidance = Guidance.parse(guidance)
        objective = as_objective(objective) if objective is not None else None
        factor = 1 if self.vae is None else 2 ** (len(self.vae.config.block_out_channels) - 1)
        height = height or self.unet.config.sample_size * factor
        width = width or self.unet.config.sample_size * factor
        shape = self.latent_shape(height, width)
        seeds = np.arange(seed, seed + n_images)
        images = []
        label = f"{objective.name}, guided" if guidance and objective is not None else "unguided"
        n_batches = -(-n_images // batch_size)
        bar = tqdm(total=n_batches * num_inference_steps, desc=f"synthesis ({label})",
                   unit="step", disable=not progress)  # fmt: skip
        for start in range(0, n_images, batch_size):
            batch_seeds = seeds[start : start + batch_size]
            noise = torch.stack([
                torch.randn(shape, generator=torch.Generator().manual_seed(int(s)))
                for s in batch_seeds
            ]).to(self.device, self.dtype)  # fmt: skip
            # CPU streams, like the noise: the same draws on every device
            generators = [torch.Generator().manual_seed(int(s) + AUGMENT_SEED)
                          for s in batch_seeds]  # fmt: skip
            z = self._sample(noise, objective if guidance else None, guidance, generators,
                             num_inference_steps, brain_input_size, bar, callback)  # fmt: skip
            with torch.no_grad():
                images.append(self.decode(z).float().cpu())
        bar.close()
        images = torch.cat(images)
        return SynthesisOutput(
            images=images,
            scores=self.score(objective, images, brain_input_size=brain_input_size)
            if objective is not None
            else np.full(n_images, np.nan),
            seeds=seeds,
            guidance=guidance if objective is not None else None,
        )

    @torch.no_grad()
    def score(
        self, objective, images: torch.Tensor, *, brain_input_size: int | None = None,
        batch_size: int = 64, brain_model: torch.nn.Module | None = None, augment: int = 0,
        seeds: Sequence[int] | np.ndarray | None = None,
    ) -> np.ndarray:  # fmt: skip
        """The objective of each image under the brain model, (n,).

        Parameters
        ----------
        objective : Objective or str
        images : tensor of shape (n, 3, H, W), float in [0, 1]
        brain_input_size : int, optional
            Resize the images to this side for the brain model.
        batch_size : int
            Images scored at once.
        brain_model : torch.nn.Module, optional
            Another brain model than the guide, already on the pipeline's device.
        augment : int
            0: each image as it is. K > 0: each image's mean objective over K copies shifted
            and mirrored as augmented guidance moves images (:func:`random_shift_flip`), so
            that patterns the brain model reads at one exact position only do not raise the
            score; K passes of the brain model.
        seeds : sequence of int, optional
            With ``augment``, one per image (e.g. ``out.seeds``): image ``i``'s copies are
            drawn from a stream of ``seeds[i]``, so its score does not depend on the batch.
        """
        if isinstance(augment, bool) or not isinstance(augment, int | np.integer) or augment < 0:
            raise ValueError(f"augment must be 0 or more copies; got {augment!r}")
        if augment and (seeds is None or len(seeds) != len(images)):
            got = "no" if seeds is None else len(seeds)
            raise ValueError(
                f"augment={augment} draws each image's copies from its own seed: pass seeds=, "
                f"one per image (e.g. out.seeds); got {got} seeds for {len(images)} images"
            )
        objective = as_objective(objective)
        model = self.brain_model if brain_model is None else brain_model
        generators = [torch.Generator().manual_seed(RANK_AUGMENT_SEED + int(s))
                      for s in (seeds if augment else [])]  # fmt: skip

        def one_pass() -> np.ndarray:
            scores = []
            for i in range(0, len(images), batch_size):
                batch = images[i : i + batch_size].to(self.device)
                if augment:
                    batch = random_shift_flip(batch, generators[i : i + batch_size])
                batch = self._brain_input(batch, brain_input_size, model)
                scores.append(objective(model, batch).float().cpu().numpy())
            return np.concatenate(scores)

        if not augment:
            return one_pass()
        return np.mean([one_pass() for _ in range(augment)], axis=0)

    def _brain_input(self, image: torch.Tensor, size: int | None, model=None) -> torch.Tensor:
        """Decoded images as a brain model (the guide by default) takes them: its dtype,
        optionally resized."""
        weights = next((self.brain_model if model is None else model).parameters(), None)
        image = image.to(weights.dtype if weights is not None else torch.float32)
        return image if size is None else resize_square(image, size)

    def _eps(self, z: torch.Tensor, t) -> torch.Tensor:
        inp = self.scheduler.scale_model_input(z, t)
        if not self.conditional:
            return self.unet(inp, t).sample
        cond = self.condition.to(z.device, z.dtype).expand(len(z), -1, -1)
        if self.unconditional is None:
            return self.unet(inp, t, encoder_hidden_states=cond).sample
        empty = self.unconditional.to(z.device, z.dtype).expand(len(z), -1, -1)
        both = self.unet(torch.cat([inp, inp]), t,
                         encoder_hidden_states=torch.cat([empty, cond])).sample  # fmt: skip
        eps_empty, eps_cond = both.chunk(2)
        return eps_empty + self.text_scale * (eps_cond - eps_empty)

    def _sample(self, z, objective, guidance, generators, steps, brain_size, bar, callback):
        self.scheduler.set_timesteps(steps, device=z.device)
        z = z * self.scheduler.init_noise_sigma
        alphas = self.scheduler.alphas_cumprod.to(z.device)
        for i, t in enumerate(self.scheduler.timesteps):
            if objective is None:
                with torch.no_grad():
                    eps = self._eps(z, t)
            else:
                eps = self._guided_eps(z, t, alphas[t], objective, guidance, generators,
                                       brain_size)  # fmt: skip
            z = self.scheduler.step(eps, t, z).prev_sample
            bar.update(1)
            if callback is not None:
                callback(i, int(t), z)
        return z.detach()

    def _guided_eps(self, z, t, alpha, objective, guidance, generators, brain_size):
        """The predicted noise shifted along the objective's gradient (see the module docstring)."""
        with torch.enable_grad():
            z = z.detach().requires_grad_(True)
            eps = self._eps(z, t)
            beta = torch.sqrt(1 - alpha)
            x0 = (z - beta * eps) / torch.sqrt(alpha)
            s = beta * x0 + (1 - beta) * z
            image = self.decode(s)
            if guidance.augment:
                image = random_shift_flip(image, generators)
            loss = -objective(self.brain_model, self._brain_input(image, brain_size)).sum()
            (grad,) = torch.autograd.grad(loss, z)
        eps = eps.detach()
        if guidance.normalize:
            grad_norm = _norms(grad)
            ratio = torch.where(grad_norm > 0, _norms(eps) / grad_norm, 0.0)  # a flat image: 0
            grad = (grad.float() * ratio).to(grad.dtype)
        return eps + guidance.scale * beta * grad


def _norms(x: torch.Tensor) -> torch.Tensor:
    """The float32 norm of each sample of a batch, shaped to broadcast against it."""
    return x.float().flatten(1).norm(dim=1).view(-1, *[1] * (x.ndim - 1))


def random_shift_flip(images: torch.Tensor, generators: list[torch.Generator]) -> torch.Tensor:
    """Each image shifted by up to 1/8 of its side (reflected border), mirrored half the time.

    Image ``i`` draws from ``generators[i]``; differentiable with respect to ``images``.
    """
    _, _, h, w = images.shape
    pad_h, pad_w = max(1, h // 8), max(1, w // 8)
    padded = torch.nn.functional.pad(images, (pad_w, pad_w, pad_h, pad_h), mode="reflect")
    out = []
    for i, gen in enumerate(generators):
        dy, dx, flip = (int(torch.randint(0, n, (), generator=gen))
                        for n in (2 * pad_h + 1, 2 * pad_w + 1, 2))  # fmt: skip
        crop = padded[i, :, dy : dy + h, dx : dx + w]
        out.append(crop.flip(-1) if flip else crop)
    return torch.stack(out)


def prompt_states(source: str, prompts: list[str], *, download: bool = False) -> torch.Tensor:
    """Text-encoder states of prompts, (n, seq, dim), as a Stable Diffusion checkpoint's UNet
    is conditioned: ``[""]`` is the empty prompt BrainDiVE samples with, a caption gives the
    condition of :meth:`BrainDiVEPipeline.with_condition`.

    Parameters
    ----------
    source : str
        The checkpoint: a local folder or a Hugging Face repo id, with ``text_encoder/`` and
        ``tokenizer/``.
    prompts : list of str
    download : bool
        Allow downloading a repo id that is not cached (only the cache is read by default).
    """
    local = Path(source).expanduser()
    kwargs = {} if local.is_dir() else {"local_files_only": not download}
    return _prompt_states(str(local) if local.is_dir() else source, kwargs, prompts)


def _prompt_states(where: str, kwargs: dict, prompts: list[str]) -> torch.Tensor:
    if Path(where).is_dir() and not (Path(where) / "text_encoder").is_dir():
        raise ValueError(
            f"{where} has no text_encoder/; pass condition=<(1, seq, dim) tensor> (the embedding "
            "the UNet was trained with for an empty prompt)"
        )
    from transformers import CLIPTextModel, CLIPTokenizer

    try:
        tokenizer = CLIPTokenizer.from_pretrained(where, subfolder="tokenizer", **kwargs)
        encoder = CLIPTextModel.from_pretrained(where, subfolder="text_encoder", **kwargs)
    except OSError:
        raise ValueError(
            f"{where} has no text_encoder/ and tokenizer/; pass condition=<(1, seq, dim) tensor> "
            "(the embedding the UNet was trained with for an empty prompt)"
        ) from None
    ids = tokenizer(list(prompts), padding="max_length", max_length=tokenizer.model_max_length,
                    truncation=True, return_tensors="pt").input_ids  # fmt: skip
    with torch.no_grad():
        return encoder(ids)[0]
