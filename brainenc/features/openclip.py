"""OpenCLIP backbones: :class:`OpenCLIPBackbone` and the ``"open_clip"`` spec factory.

Spec forms (``Backbone.from_spec``):

- ``open_clip:<model>/<tag>`` -- the pretrained weights ``tag`` of ``model``
  (``open_clip:ViT-B-16/laion2b_s34b_b88k``), read from the Hugging Face cache. brainenc does not
  download weights unless asked (``download=True``): when they are not cached it fails at once
  and says how to provide them, instead of letting the hub client retry for minutes offline.
- ``open_clip:<model>@<path>`` -- weights from a local checkpoint file (a state dict, as
  ``open_clip.create_model(model, pretrained=path)`` reads). Inputs are normalised with the
  OpenAI mean / std, open_clip's default for a bare file. Feature caches key on the file's
  contents too, so a checkpoint overwritten in place gets its features recomputed.
- ``open_clip:<model>`` -- random weights, drawn with seed 0 so that the spec still identifies
  the outputs; for timing and tests.

``model`` is an open_clip architecture name: a built-in one or one added with
:func:`register_model_config`. Any form may end in ``,normalize=false`` for unnormalised
embeddings (see :class:`OpenCLIPBackbone`).

``open_clip`` is imported on first use: it takes seconds to import and most of brainenc does not
need it.
"""

from __future__ import annotations

import difflib
import json
import os
import posixpath
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from .backbone import Backbone, register_backbone

if TYPE_CHECKING:
    from open_clip import CLIP, CustomTextCLIP

_PREFIX = "open_clip:"
_UNNORMALIZED = ",normalize=false"
_CONFIG_KEYS = ("embed_dim", "vision_cfg", "text_cfg")
_RANDOM_INIT_SEED = 0


class OpenCLIPBackbone(Backbone):
    """A frozen open_clip CLIP as a differentiable image (and text) feature extractor.

    Parameters
    ----------
    model : open_clip.CLIP or open_clip.CustomTextCLIP
        The model. It is frozen in place (``requires_grad_(False)``) and kept in eval mode, also
        when the backbone is put in training mode; gradients still flow to the input images.
    spec : str
        The spec that identifies the model and its weights (the feature-cache key), e.g.
        ``"open_clip:ViT-B-16/laion2b_s34b_b88k"``. ``",normalize=false"`` is appended when
        ``normalize`` is False and the spec does not already end with it.
    tokenizer : callable, optional
        ``list[str] -> LongTensor (n, context_length)`` for :meth:`embed_text`. By default
        ``open_clip.get_tokenizer(<model>)`` for an ``open_clip:`` spec, else open_clip's CLIP
        BPE tokenizer; made on first use at the model's context length.
    normalize : bool
        L2-normalise the embeddings of :meth:`embed` and :meth:`embed_text`, as BrainDiVE and
        BrainSCUBA do.

    Attributes
    ----------
    embed_dim : int
        The joint image-text embedding dimension.
    input_size : int
        The image tower's input side (``model.visual.image_size``); mean and std come from the
        model's preprocessing config (open_clip's OpenAI defaults when it has none).

    Notes
    -----
    :meth:`preprocess` resizes in torch (bilinear, antialiased) rather than with open_clip's PIL
    transform (bicubic resize of the shortest side, then centre crop), so it is differentiable and
    batched; features differ slightly from open_clip's pipeline, and non-square images are
    squashed rather than cropped.
    """

    frozen = ("model",)

    def __init__(
        self,
        model: CLIP | CustomTextCLIP,
        *,
        spec: str,
        tokenizer: Callable[[list[str]], torch.Tensor] | None = None,
        normalize: bool = True,
        weights_file: str | os.PathLike | None = None,
    ):
        import open_clip

        visual = getattr(model, "visual", None)
        if visual is None or not hasattr(model, "encode_text"):
            raise TypeError(
                "model must be an open_clip CLIP or CustomTextCLIP (with .visual and "
                f".encode_text); got {type(model).__name__}"
            )
        height, width = _pair(visual.image_size)
        if height != width:
            raise ValueError(
                f"OpenCLIPBackbone needs a square image tower; {spec!r} takes {height}x{width}"
            )
        cfg = open_clip.get_model_preprocess_cfg(model)
        if not normalize and not spec.endswith(_UNNORMALIZED):
            spec += _UNNORMALIZED
        super().__init__(
            spec=spec,
            embed_dim=_joint_embed_dim(model, height),
            input_size=height,
            mean=cfg.get("mean", open_clip.OPENAI_DATASET_MEAN),
            std=cfg.get("std", open_clip.OPENAI_DATASET_STD),
            weights_file=weights_file,
        )
        self.model = model.requires_grad_(False).eval()
        self.tokenizer = tokenizer
        self.normalize = normalize

    def _model_input(self, images: torch.Tensor) -> torch.Tensor:
        """Preprocessed images in the image tower's parameter dtype."""
        return self.preprocess(images).to(next(self.model.visual.parameters()).dtype)

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """Pooled CLIP image embedding.

        Parameters
        ----------
        images : tensor of shape (n, 3, H, W)
            Float RGB images in [0, 1].

        Returns
        -------
        tensor of shape (n, embed_dim)
            Unit L2 norm when ``normalize`` is True.
        """
        return self.model.encode_image(self._model_input(images), normalize=self.normalize)

    def tokens(self, images: torch.Tensor) -> torch.Tensor:
        """Patch tokens of the ViT's last layer, as open_clip returns them, without CLS.

        The usual configs apply the final LayerNorm (``ln_post``) to them; configs with
        ``final_ln_after_pool`` do not.

        Parameters
        ----------
        images : tensor of shape (n, 3, H, W)
            Float RGB images in [0, 1].

        Returns
        -------
        tensor of shape (n, (input_size // patch_size) ** 2, width)
            Patches in row-major order; ``width`` is the ViT's width (tokens are not projected to
            the joint embedding space).
        """
        from open_clip.transformer import VisionTransformer

        visual = self.model.visual
        if not isinstance(visual, VisionTransformer):
            raise NotImplementedError(
                f"tokens() needs a ViT image tower; {self.spec!r} has a {type(visual).__name__}. "
                "Use embed(), or a ViT model (e.g. open_clip:ViT-B-16/laion2b_s34b_b88k)"
            )
        previous = visual.output_tokens
        visual.output_tokens = True
        try:
            _, tokens = visual(self._model_input(images))
        finally:
            visual.output_tokens = previous
        n_patches = visual.grid_size[0] * visual.grid_size[1]
        if tokens.shape[1] != n_patches:
            raise NotImplementedError(
                f"the image tower of {self.spec!r} returns {tokens.shape[1]} tokens, not its "
                f"{n_patches} patches (attentional pooling or pool_type='none'); use embed()"
            )
        return tokens

    def embed_text(self, texts: Sequence[str]) -> torch.Tensor:
        """CLIP text embedding.

        Parameters
        ----------
        texts : list of str
            One caption or prompt per row.

        Returns
        -------
        tensor of shape (n, embed_dim)
            Unit L2 norm when ``normalize`` is True.
        """
        if isinstance(texts, str):
            raise TypeError("texts must be a list of strings; wrap a single text in a list")
        if self.tokenizer is None:
            self.tokenizer = self._default_tokenizer()
        device = next(self.model.parameters()).device
        ids = self.tokenizer(list(texts)).to(device)
        vocab_size = getattr(self.model, "vocab_size", None)
        if vocab_size is not None and ids.numel() and int(ids.max()) >= vocab_size:
            raise ValueError(
                f"the tokenizer of {self.spec!r} gave token id {int(ids.max())} but the model's "
                f"vocabulary has {vocab_size} entries; pass the model's own tokenizer="
            )
        return self.model.encode_text(ids, normalize=self.normalize)

    def _default_tokenizer(self) -> Callable[[list[str]], torch.Tensor]:
        import open_clip

        name = _parse_spec(self.spec)[0] if self.spec.startswith(_PREFIX) else ""
        return open_clip.get_tokenizer(name, context_length=self.model.context_length)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, normalize={self.normalize}"


def register_model_config(path: str | os.PathLike) -> list[str]:
    """Register open_clip model configs beside the built-in ones (``open_clip.add_model_config``).

    Parameters
    ----------
    path : path-like
        A ``<name>.json`` config or a folder of them. Each config holds ``embed_dim``,
        ``vision_cfg`` and ``text_cfg`` as open_clip's own configs do; its file stem becomes
        the model name (usable in ``open_clip:<name>`` specs and ``open_clip.create_model``).

    Returns
    -------
    list of str
        The registered model names.
    """
    import open_clip

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no open_clip model config at {path}")
    files = sorted(path.glob("*.json")) if path.is_dir() else [path]
    if not files or any(f.suffix != ".json" for f in files):
        raise ValueError(f"{path} is not a .json model config nor a folder holding some")
    for file in files:
        try:
            cfg = json.loads(file.read_text())
        except json.JSONDecodeError as e:
            raise ValueError(f"open_clip model config {file} is not valid JSON: {e}") from None
        missing = [k for k in _CONFIG_KEYS if k not in cfg]
        if missing:
            raise ValueError(
                f"open_clip model config {file} lacks {', '.join(missing)}; a config needs "
                f"{', '.join(_CONFIG_KEYS)}"
            )
    open_clip.add_model_config(path)
    return [f.stem for f in files]


def hf_hub_cache() -> Path:
    """The Hugging Face hub cache folder, from the environment as ``huggingface_hub`` reads it.

    ``HF_HUB_CACHE``, else ``$HF_HOME/hub``, else ``$XDG_CACHE_HOME/huggingface/hub``, else
    ``~/.cache/huggingface/hub``. Read at each call, so that changing the variables takes effect.
    """
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    cache_home = os.environ.get("XDG_CACHE_HOME") or "~/.cache"
    hf_home = os.environ.get("HF_HOME") or os.path.join(cache_home, "huggingface")
    return Path(hf_home).expanduser() / "hub"


def _pair(size: int | Sequence[int]) -> tuple[int, int]:
    return (int(size), int(size)) if isinstance(size, int) else (int(size[0]), int(size[1]))


def _joint_embed_dim(model: torch.nn.Module, image_size: int) -> int:
    """``model.visual.output_dim``, or the width of one blank image's embedding (timm towers)."""
    dim = getattr(model.visual, "output_dim", None)
    if dim is not None:
        return int(dim)
    param = next(model.visual.parameters())
    with torch.no_grad():
        blank = torch.zeros(1, 3, image_size, image_size, dtype=param.dtype, device=param.device)
        return int(model.encode_image(blank).shape[-1])


def _parse_spec(spec: str) -> tuple[str, str | None, str | None, bool]:
    """``open_clip:<model>[/<tag> | @<path>][,normalize=false]`` -> (model, tag, path, normalize)"""
    details = spec.removeprefix(_PREFIX)
    normalize = not details.endswith(_UNNORMALIZED)
    details = details.removesuffix(_UNNORMALIZED)
    name, at, path = details.partition("@")
    name, slash, tag = name.partition("/")
    if not name or (at and not path) or (slash and not tag) or (at and slash):
        raise ValueError(
            f"bad open_clip spec {spec!r}; expected open_clip:<model>, open_clip:<model>/<tag> "
            "or open_clip:<model>@<checkpoint path>, optionally ending in ,normalize=false"
        )
    return name, tag or None, path or None, normalize


def _check_model_name(name: str, spec: str) -> None:
    import open_clip

    known = open_clip.list_models()
    if name in known:
        return
    close = difflib.get_close_matches(name, known, n=5, cutoff=0.5) or known[:5]
    raise ValueError(
        f"unknown open_clip model {name!r} in spec {spec!r}; known models include "
        f"{', '.join(close)} (open_clip.list_models() has all {len(known)}). Register a custom "
        "architecture with brainenc.features.register_model_config(path)"
    )


def _weight_files(filename: str) -> list[str]:
    """The safetensors twin of ``filename`` (which open_clip prefers), then ``filename``."""
    if filename == "open_clip_pytorch_model.bin":
        return ["open_clip_model.safetensors", filename]
    if filename.endswith((".bin", ".pth")):
        return [filename[:-4] + ".safetensors", filename]
    return [filename]


def _create_pretrained(name: str, tag: str, download: bool) -> tuple[torch.nn.Module, str | None]:
    """``name`` with the weights of ``tag`` from the HF cache (or the hub if ``download``).

    Returns the model and the weights file it was read from.
    """
    import open_clip
    from huggingface_hub import try_to_load_from_cache

    cfg = open_clip.get_pretrained_cfg(name, tag)
    if not cfg:
        tags = open_clip.list_pretrained_tags_by_model(name)
        raise ValueError(
            f"unknown pretrained tag {tag!r} for open_clip model {name!r}; known tags: "
            f"{', '.join(tags) or 'none'}. For other weights use open_clip:{name}@/path/to/weights"
        )
    cache = hf_hub_cache()
    repo_id, filename = posixpath.split(cfg["hf_hub"])  # "org/repo/" means the default file
    filename = filename or "open_clip_pytorch_model.bin"
    if download:
        model = open_clip.create_model(name, pretrained=tag, cache_dir=str(cache))
        for candidate in _weight_files(filename):  # the file it read, now cached
            found = try_to_load_from_cache(repo_id, candidate, cache_dir=cache)
            if isinstance(found, str):
                return model, found
        return model, None
    for candidate in _weight_files(filename):
        found = try_to_load_from_cache(repo_id, candidate, cache_dir=cache)
        if isinstance(found, str):
            model = open_clip.create_model(
                name,
                pretrained=found,
                force_preprocess_cfg=cfg,
                force_quick_gelu=cfg.get("quick_gelu", False),
            )
            return model, found
    folder = "models--" + repo_id.replace("/", "--")
    raise FileNotFoundError(
        f"weights of open_clip model {name!r} with tag {tag!r} are not in the Hugging Face cache "
        f"{cache} (looked for {' or '.join(_weight_files(filename))} of {repo_id}), and brainenc "
        "does not download unless asked. To provide them: on a connected machine run "
        f"`hf download {repo_id} {filename}` (`huggingface-cli download` in older "
        f"huggingface_hub) and copy its cache folder {folder} into {cache} (the cache is "
        "HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub); or use a local file: "
        f"'open_clip:{name}@/path/to/{filename}'; or, online, pass download=True to "
        "Backbone.from_spec"
    )


@register_backbone("open_clip")
def _build_open_clip(spec: str, *, download: bool = False, **kwargs) -> OpenCLIPBackbone:
    """Build an :class:`OpenCLIPBackbone` from an ``open_clip:`` spec (see the module docstring).

    ``download=True`` lets open_clip fetch pretrained weights missing from the HF cache; other
    keyword arguments go to :class:`OpenCLIPBackbone` (``tokenizer``, ``normalize``).
    """
    import open_clip

    name, tag, path, normalize = _parse_spec(spec)
    if not normalize and kwargs.get("normalize", False):
        raise ValueError(f"normalize=True contradicts spec {spec!r}")
    kwargs.setdefault("normalize", normalize)
    _check_model_name(name, spec)
    if path is not None:
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"no checkpoint file at {path} (from spec {spec!r}); give the path of an open_clip "
                "state dict (e.g. open_clip_pytorch_model.bin or a .safetensors file)"
            )
        model = open_clip.create_model(name, pretrained=path)
        kwargs.setdefault("weights_file", path)
    elif tag is not None:
        model, found = _create_pretrained(name, tag, download)
        kwargs.setdefault("weights_file", found)
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(_RANDOM_INIT_SEED)
            model = open_clip.create_model(name)
    return OpenCLIPBackbone(model, spec=spec, **kwargs)
