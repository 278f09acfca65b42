"""A ClipCap-style captioner: an image embedding in, a caption out.

After Mokady, Hertz & Bermano, "ClipCap: CLIP prefix for image captioning" (2021), as BrainSCUBA
uses it: a small MLP maps an embedding to ``prefix_length`` input embeddings of a causal language
model (GPT-2 architecture, through ``transformers``), which writes the caption after them;
decoding is beam search (5 beams in BrainSCUBA). The language model is trained along with the
prefix MLP here (ClipCap's fine-tuned variant).

A captioner directory holds ``captioner.json`` (embedding width, prefix length, provenance),
``prefix.safetensors``, ``lm/`` (``save_pretrained``) and ``tokenizer/`` (a fast tokenizer's
``tokenizer.json``, which loads offline).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from ..files import read_json

CONFIG_FILE = "captioner.json"
FORMAT_VERSION = 1
PREFIX_LENGTH = 10
"""Prefix tokens per embedding, as in ClipCap and BrainSCUBA."""
BEAMS = 5
"""Beam width of :meth:`Captioner.caption` (BrainSCUBA's)."""


class Captioner(nn.Module):
    """Prefix MLP + causal language model: embeddings (n, embed_dim) → captions.

    Parameters
    ----------
    lm : transformers.PreTrainedModel
        A causal language model (e.g. ``GPT2LMHeadModel``).
    tokenizer : transformers.PreTrainedTokenizerFast
        Its tokenizer; needs an end-of-text token (``eos_token``).
    embed_dim : int
        Width of the image embeddings it reads.
    prefix_length : int
        Language-model input embeddings made from each image embedding.
    metadata : dict, optional
        Provenance (the backbone spec whose embeddings it reads, the training record).
    """

    def __init__(self, lm, tokenizer, embed_dim: int, prefix_length: int = PREFIX_LENGTH,
                 metadata: dict | None = None):  # fmt: skip
        super().__init__()
        if tokenizer.eos_token_id is None:
            raise ValueError("the captioner's tokenizer needs an end-of-text token (eos_token)")
        if getattr(lm.config, "loss_type", None) is None:  # say it, or transformers warns
            lm.config.loss_type = "ForCausalLM"
        self.lm = lm
        self.tokenizer = tokenizer
        self.embed_dim = int(embed_dim)
        self.prefix_length = int(prefix_length)
        self.metadata = dict(metadata or {})
        width = lm.get_input_embeddings().embedding_dim
        hidden = width * self.prefix_length // 2
        self.prefix = nn.Sequential(
            nn.Linear(self.embed_dim, hidden), nn.Tanh(), nn.Linear(hidden, width * prefix_length)
        )

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def prefix_embeddings(self, embeddings: torch.Tensor) -> torch.Tensor:
        """The language model's input prefix, (n, prefix_length, width), of embeddings (n, d)."""
        embeddings = torch.as_tensor(embeddings, dtype=torch.float32, device=self.device)
        if embeddings.ndim != 2 or embeddings.shape[1] != self.embed_dim:
            raise ValueError(
                f"embeddings must have shape (n, {self.embed_dim}); got {tuple(embeddings.shape)}. "
                "Give embeddings of the backbone the captioner was trained on"
            )
        if not torch.isfinite(embeddings).all():
            raise ValueError("embeddings contain NaN or inf; caption only finite embeddings")
        return self.prefix(embeddings).view(len(embeddings), self.prefix_length, -1)

    def loss(self, embeddings: torch.Tensor, captions: Sequence[str]) -> torch.Tensor:
        """Mean next-token cross-entropy of ``captions`` (each ended by end-of-text) given the
        prefixes of ``embeddings`` (teacher forcing)."""
        if len(captions) != len(embeddings):
            raise ValueError(f"{len(embeddings)} embeddings but {len(captions)} captions")
        ids, mask = self._encode(captions)
        prefix = self.prefix_embeddings(embeddings)
        tokens = self.lm.get_input_embeddings()(ids)
        n = len(ids)
        inputs = torch.cat([prefix, tokens.to(prefix.dtype)], 1)
        attention = torch.cat([mask.new_ones(n, self.prefix_length), mask], 1)
        labels = torch.cat([ids.new_full((n, self.prefix_length), -100),
                            ids.masked_fill(mask == 0, -100)], 1)  # fmt: skip
        return self.lm(inputs_embeds=inputs, attention_mask=attention, labels=labels).loss

    def _encode(self, captions: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        eos = self.tokenizer.eos_token_id
        rows = [[*self.tokenizer(c, add_special_tokens=False).input_ids, eos] for c in captions]
        length = max(len(r) for r in rows)
        ids = torch.full((len(rows), length), eos, dtype=torch.long)
        mask = torch.zeros((len(rows), length), dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = torch.tensor(row)
            mask[i, : len(row)] = 1
        return ids.to(self.device), mask.to(self.device)

    @torch.no_grad()
    def caption(self, embeddings, *, beams: int = BEAMS, max_tokens: int = 24,
                batch_size: int = 64) -> list[str]:  # fmt: skip
        """One caption per embedding, by beam search.

        Parameters
        ----------
        embeddings : array of shape (n, embed_dim)
        beams : int
            Beam width (1 is greedy decoding).
        max_tokens : int
            Longest caption, in tokens.
        batch_size : int
            Embeddings decoded at once.

        Returns
        -------
        list of str
        """
        from transformers.utils import logging

        if beams < 1 or max_tokens < 1 or batch_size < 1:
            raise ValueError("beams, max_tokens and batch_size must be at least 1")
        embeddings = np.asarray(embeddings, dtype=np.float32)
        eos = self.tokenizer.eos_token_id
        was_training, verbosity = self.training, logging.get_verbosity()
        self.eval()
        logging.set_verbosity_error()  # generate's advice on padding does not apply to prefixes
        captions = []
        try:
            for start in range(0, len(embeddings), batch_size):
                prefix = self.prefix_embeddings(embeddings[start : start + batch_size])
                attention = torch.ones(prefix.shape[:2], dtype=torch.long, device=self.device)
                out = self.lm.generate(
                    inputs_embeds=prefix, attention_mask=attention, num_beams=beams,
                    max_new_tokens=max_tokens, do_sample=False, eos_token_id=eos,
                    pad_token_id=eos, early_stopping=True,
                )  # fmt: skip
                texts = self.tokenizer.batch_decode(out, skip_special_tokens=True)
                captions += [t.strip() for t in texts]
        finally:
            self.train(was_training)
            logging.set_verbosity(verbosity)
        return captions

    def save(self, directory) -> Path:
        """Write the captioner directory (atomically: a complete directory or none)."""
        directory = Path(directory)
        directory.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
        try:
            config = {"format_version": FORMAT_VERSION, "embed_dim": self.embed_dim,
                      "prefix_length": self.prefix_length, "metadata": self.metadata}  # fmt: skip
            (tmp / CONFIG_FILE).write_text(json.dumps(config, indent=1) + "\n")
            state = {k: v.detach().cpu().contiguous() for k, v in self.prefix.state_dict().items()}
            save_file(state, str(tmp / "prefix.safetensors"))
            self.lm.save_pretrained(tmp / "lm")
            self.tokenizer.save_pretrained(tmp / "tokenizer")
            if directory.exists():
                shutil.rmtree(directory)
            os.replace(tmp, directory)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return directory

    @classmethod
    def load(cls, directory, *, device: str = "cpu") -> Captioner:
        """A captioner directory written by :meth:`save` (offline; eval mode)."""
        from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast

        directory = Path(directory).expanduser()
        config_file = directory / CONFIG_FILE
        if not config_file.is_file():
            raise FileNotFoundError(
                f"{directory} is not a captioner directory (no {CONFIG_FILE}); train one with "
                "scripts/train_captioner.py, or use 'world' for the world's"
            )
        config = read_json(config_file, "write the captioner again")
        if config.get("format_version") != FORMAT_VERSION:
            raise ValueError(
                f"{config_file} has format version {config.get('format_version')!r}; this "
                f"brainenc reads version {FORMAT_VERSION}. Retrain or re-save the captioner"
            )
        from transformers.utils import logging

        bars = logging.is_progress_bar_enabled()
        logging.disable_progress_bar()  # a bar for reading a few MB from disk is noise
        try:
            lm = AutoModelForCausalLM.from_pretrained(directory / "lm", local_files_only=True)
        finally:
            if bars:
                logging.enable_progress_bar()
        tokenizer = PreTrainedTokenizerFast.from_pretrained(directory / "tokenizer",
                                                            local_files_only=True)  # fmt: skip
        captioner = cls(lm, tokenizer, config["embed_dim"], config["prefix_length"],
                        config.get("metadata"))  # fmt: skip
        captioner.prefix.load_state_dict(load_file(str(directory / "prefix.safetensors")))
        return captioner.to(device).eval()


def language_model(source: str, *, download: bool = False):
    """A pretrained causal LM and its tokenizer from a folder or a Hugging Face repo id.

    Only the Hugging Face cache is read unless ``download``, so an offline machine fails at once
    with what to do instead of retrying.
    """
    from huggingface_hub.constants import HF_HUB_CACHE
    from transformers import AutoModelForCausalLM, AutoTokenizer

    local = Path(source).expanduser()
    where = str(local) if local.is_dir() else source
    kwargs = {} if local.is_dir() else {"local_files_only": not download}
    try:
        lm = AutoModelForCausalLM.from_pretrained(where, **kwargs)
        tokenizer = AutoTokenizer.from_pretrained(where, use_fast=True, **kwargs)
    except (OSError, ValueError) as e:
        if local.is_dir() or download:
            raise
        raise FileNotFoundError(
            f"language model {source!r} is not in the Hugging Face cache ({HF_HUB_CACHE}) and "
            f"downloads are off. On a connected machine run `hf download {source}` and copy the "
            "cache folder here, or pass a local folder (or download=True)"
        ) from e
    return lm, tokenizer
