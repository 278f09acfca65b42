"""Scoring and saving synthesized images: judged category, true activation, image grids.

A *judge* is any callable that names the class of each image: ``judge(images) -> list[str]`` for
float images (n, 3, H, W) in [0, 1]. On the world the headline judge is the world's own
independent classifier (:func:`brainenc.world.load_judge`), never the backbone that the
guided encoder reads; :func:`zero_shot_judge` turns a CLIP backbone into a judge for real data.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from ..files import write_atomically

# BrainDiVE's five categories for zero-shot scoring, which are also the world's.
from ..world.stimuli import CATEGORIES
from .braindive import PAPER_GUIDANCE, Guidance, SynthesisOutput

RUNS = ("guided", "unguided")
_ROW_LABEL_WIDTH = 80  # pixels left of a grid for its row labels
_TITLE_LINE = 18  # pixels per line of a grid's title
_SCALE = 2  # a synthesis grid shows images at twice their size
Judge = Callable[[torch.Tensor], list[str]]


@torch.no_grad()
def zero_shot(images: torch.Tensor, backbone, classes: list[str], template="a photo of a {}"):
    """Zero-shot class of each image with a CLIP backbone (``embed`` + ``embed_text``).

    Returns
    -------
    labels : int array of shape (n,)
        Index into ``classes``.
    probs : array of shape (n, len(classes))
        Softmax over classes of the scaled cosine similarities (scale 100, as CLIP).
    """
    image = torch.nn.functional.normalize(backbone.embed(images), dim=-1)
    text = torch.nn.functional.normalize(backbone.embed_text([template.format(c) for c in classes]),
                                         dim=-1)  # fmt: skip
    probs = (100 * image @ text.T).softmax(-1).cpu().numpy()
    return probs.argmax(1), probs


def zero_shot_judge(backbone, classes=CATEGORIES) -> Judge:
    """A judge that names each image's zero-shot class among ``classes`` with a CLIP backbone.

    It has no "none" answer: every image gets one of ``classes``.
    """

    def judge(images: torch.Tensor) -> list[str]:
        labels, _ = zero_shot(images.to(_device(backbone)), backbone, list(classes))
        return [classes[k] for k in labels]

    return judge


def image_grid(
    images: np.ndarray,
    captions: list[str],
    *,
    columns: int = 8,
    scale: int = 2,
    title: str | None = None,
    row_labels: list[str] | None = None,
) -> Image.Image:
    """A PIL image of images in a grid, each with its caption below.

    Parameters
    ----------
    images : uint8 array of shape (n, H, W, 3)
    captions : list of str
        One per image; lines split at ``"\\n"``.
    columns : int
        Images per row.
    scale : int
        Each image is shown ``scale`` times its size (nearest neighbour: no invented detail).
    title : str, optional
        Lines (split at ``"\\n"``) above the grid.
    row_labels : list of str, optional
        One per row, in a column on the left.
    """
    n, h, w, _ = images.shape
    rows = -(-n // columns)
    font = ImageFont.load_default(size=10)
    lines = max(c.count("\n") + 1 for c in captions) if captions else 0
    cell_h = h * scale + 12 * lines + 4
    left = _ROW_LABEL_WIDTH if row_labels else 0
    top = (_TITLE_LINE * (title.count("\n") + 1) + 8) if title else 0
    grid = Image.new("RGB", (left + columns * w * scale, top + rows * cell_h), "white")
    draw = ImageDraw.Draw(grid)
    if title:
        big = ImageFont.load_default(size=_TITLE_LINE - 4)
        draw.multiline_text((left + 2, 4), title, fill="black", font=big, spacing=4)
    for row, label in enumerate(row_labels or ()):
        draw.text((4, top + row * cell_h + h * scale // 2), label, fill="black",
                  font=ImageFont.load_default(size=14), anchor="lm")  # fmt: skip
    for i, (image, caption) in enumerate(zip(images, captions, strict=True)):
        x, y = left + (i % columns) * w * scale, top + (i // columns) * cell_h
        grid.paste(Image.fromarray(image).resize((w * scale, h * scale), Image.NEAREST), (x, y))
        draw.multiline_text((x + 2, y + h * scale + 2), caption, fill="black", font=font,
                            spacing=2)  # fmt: skip
    return grid


def save_synthesis(
    directory, name: str, grid: Image.Image, record: dict,
    images: dict[str, np.ndarray] | None = None,
) -> tuple[Path, Path]:  # fmt: skip
    """Write ``<name>.png`` (the grid) and ``<name>.json`` (scores) into ``directory``.

    With ``images`` (run name → ``uint8`` array (n, H, W, 3)), also writes each run's batch as
    ``<name>/<run>.npy`` and every image as ``<name>/<run>_<i>.png``, so that other tools can
    score them.
    """
    directory = Path(directory)
    for run, batch in (images or {}).items():
        folder = directory / name
        write_atomically(folder / f"{run}.npy", lambda tmp, b=batch: _save_npy(tmp, b))
        for i, image in enumerate(batch):
            save = lambda tmp, im=image: Image.fromarray(im).save(tmp, format="PNG")  # noqa: E731
            write_atomically(folder / f"{run}_{i:03d}.png", save)
    text = json.dumps(record, indent=1)
    return (
        write_atomically(directory / f"{name}.png", lambda tmp: grid.save(tmp, format="PNG")),
        write_atomically(directory / f"{name}.json", lambda tmp: tmp.write_text(text)),
    )


def _save_npy(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as f:  # a file object: np.save would add ".npy" to a path
        np.save(f, array)


def compare_with_unguided(
    pipe,
    objective,
    *,
    n_images: int = 16,
    seed: int = 0,
    guidance: Guidance | float = PAPER_GUIDANCE,
    num_inference_steps: int = 50,
    brain_input_size: int | None = None,
    judges: dict[str, Judge] | None = None,
    truth=None,
    unguided: SynthesisOutput | None = None,
    oversample: int = 1,
    ranker: torch.nn.Module | None = None,
    rank_augment: int = 0,
    batch_size: int = 4,
    progress: bool = True,
) -> tuple[dict, dict[str, np.ndarray]]:
    """Guided samples of ``objective`` and same-seed unguided ones, scored side by side.

    Parameters
    ----------
    pipe : BrainDiVEPipeline
    objective : Objective
    guidance : Guidance or float
        The guided run's recipe (a number: the paper's rule at that scale).
    judges : dict of str to callable, optional
        Each names the class of every image (see the module docstring); the first is the
        headline.
    truth : BrainModel, optional
        A second model to score the images with, e.g. a simulated subject's noiseless
        responses (reported as ``true``).
    unguided : SynthesisOutput, optional
        Unguided samples of the ``n_images * oversample`` seeds from ``seed``, made once and
        shared by several objectives (they do not depend on the objective); made here when not
        given.
    oversample : int
        Each run draws ``n_images * oversample`` candidates (seeds ``seed`` onwards) and keeps
        the ``n_images`` that the pipeline's brain model scores highest
        (:meth:`SynthesisOutput.top`; BrainDiVE keeps the top 20%: 5). The unguided run is
        kept by the same rule, so the comparison isolates what guidance adds to reranking.
    ranker : BrainModel, optional
        With ``oversample > 1``, keep the candidates this brain model scores highest instead
        of the guide (moved to the pipeline's device), e.g. an encoder the guide does not
        contain, which images that only fool the guide do not fool. Each run then also holds
        its ``"ranked"`` scores; ``"predicted"`` stays the guide's.
    rank_augment : int
        With ``oversample > 1``, rank by the mean objective over this many shifted, mirrored
        copies of each candidate, under ``ranker`` or else the guide (``pipe.score(augment=)``),
        instead of the candidate alone. Each run then also holds its ``"ranked"`` scores.
    batch_size : int
        Images sampled at once (more is faster where memory allows; the images do not change).

    Returns
    -------
    summary : dict
        Per run (``"guided"``, ``"unguided"``), of the kept images: their ``seeds``, the
        predicted objective of each image, its mean and the mean over the top 20% of these
        images by prediction; with ``truth`` the same for the true objective; with ``judges`` each
        image's class per judge (``"judged"``). With ``oversample > 1``, the same scores of all
        candidates under ``"candidates"``; with a ``ranker`` or ``rank_augment``, also of the
        images the guide alone would have kept, under ``"by_guide"``.
    images : dict of uint8 arrays (n, H, W, 3), per run (the kept images)
    """
    if oversample < 1:
        raise ValueError(f"oversample must be at least 1; got {oversample}")
    if rank_augment < 0:
        raise ValueError(f"rank_augment must be 0 or more copies; got {rank_augment}")
    ranked = ranker is not None or rank_augment > 0
    if ranked and oversample == 1:
        raise ValueError(
            "a ranker or rank_augment chooses among candidates: give oversample > 1 with it"
        )
    if ranker is not None:
        ranker = ranker.to(pipe.device).eval()
    ranked_by = None
    if ranked:
        ranked_by = "the ranking encoder" if ranker is not None else "the guiding encoder"
        if rank_augment:
            ranked_by += f" over {rank_augment} shifted, mirrored copies"
    guidance = Guidance.parse(guidance)
    n_candidates = n_images * oversample
    summary = {"objective": objective.name, "n_images": n_images, "seed": seed,
               "oversample": oversample, "ranked_by": ranked_by,
               "guidance": asdict(guidance) if guidance else None,
               "steps": num_inference_steps, "judges": list(judges or ())}  # fmt: skip
    if unguided is None:
        unguided = pipe(None, n_images=n_candidates, seed=seed, guidance=None,
                        num_inference_steps=num_inference_steps, batch_size=batch_size,
                        progress=progress)  # fmt: skip
    elif not np.array_equal(unguided.seeds, np.arange(seed, seed + n_candidates)):
        raise ValueError(
            f"the unguided samples have seeds {unguided.seeds.min()}..{unguided.seeds.max()}; "
            f"they must be the guided run's {seed}..{seed + n_candidates - 1}"
        )
    unguided = replace(unguided, scores=pipe.score(objective, unguided.images,
                                                   brain_input_size=brain_input_size))  # fmt: skip
    guided = pipe(objective, n_images=n_candidates, seed=seed, guidance=guidance,
                  num_inference_steps=num_inference_steps, brain_input_size=brain_input_size,
                  batch_size=batch_size, progress=progress)  # fmt: skip
    images = {}
    for run, result in zip(RUNS, (guided, unguided), strict=True):
        rank = None if not ranked else pipe.score(
            objective, result.images, brain_input_size=brain_input_size, brain_model=ranker,
            augment=rank_augment, seeds=result.seeds,
        )  # fmt: skip
        kept = result.top(n_images, by=rank) if oversample > 1 else result
        summary[run] = _scores(kept, objective, truth, judges)
        if oversample > 1:
            summary[run]["candidates"] = _scores(result, objective, truth, judges)
        if rank is not None:
            by_seed = dict(zip(result.seeds.tolist(), rank.tolist(), strict=True))
            summary[run]["ranked"] = [by_seed[s] for s in kept.seeds.tolist()]
            summary[run]["candidates"]["ranked"] = rank.tolist()
            summary[run]["by_guide"] = _scores(result.top(n_images), objective, truth, judges)
        images[run] = kept.to_uint8()
    return summary, images


def _scores(result: SynthesisOutput, objective, truth, judges) -> dict:
    """One run's scores: seeds, predicted (and true) objective with means over all images and
    over the top 20% by prediction, and each judge's class of every image."""
    predicted = result.scores
    top = np.argsort(-predicted)[: max(1, len(predicted) // 5)]
    scores = {"seeds": result.seeds.tolist(), "predicted": predicted.tolist(),
              "mean_predicted": float(predicted.mean()),
              "top20_mean_predicted": float(predicted[top].mean())}  # fmt: skip
    if truth is not None:
        with torch.no_grad():
            true = objective(truth, result.images.to(_device(truth))).cpu().numpy()
        scores.update(true=true.tolist(), mean_true=float(true.mean()),
                      top20_mean_true=float(true[top].mean()))  # fmt: skip
    if judges:
        scores["judged"] = {name: list(judge(result.images)) for name, judge in judges.items()}
    return scores


def _device(module: torch.nn.Module) -> torch.device:
    """Where a module's parameters live (the CPU when it has none)."""
    return next(module.parameters(), torch.empty(0)).device


def comparison_grid(summary: dict, images: dict[str, np.ndarray]) -> Image.Image:
    """The guided row(s) then the unguided ones, titled, each row labelled with its run and
    each image with its predicted and true objective and the headline judge's label (and its
    seed, when each run kept its best candidates)."""
    captions, row_labels = [], []
    oversample = summary.get("oversample", 1)
    columns = min(8, len(images[RUNS[0]]))  # the unguided images start on a row of their own
    for run in RUNS:
        scores = summary[run]
        judged = next(iter(scores.get("judged", {}).values()), None)
        for i in range(len(images[run])):
            lines = [f"predicted {scores['predicted'][i]:.2f}"]
            if oversample > 1:
                lines.insert(0, f"seed {scores['seeds'][i]}")
            if "ranked" in scores:
                lines.append(f"ranked {scores['ranked'][i]:.2f}")
            if "true" in scores:
                lines.append(f"true {scores['true'][i]:.2f}")
            if judged is not None:
                lines.append(f"judged: {judged[i]}")
            captions.append("\n".join(lines))
        rows = -(-len(images[run]) // columns)
        row_labels += [run] + [""] * (rows - 1)
    h, w = images[RUNS[0]].shape[1:3]
    objective, judges = summary.get("objective", "objective"), summary.get("judges") or []
    key = [f"predicted: {objective} by the guiding encoder"]
    ranked_by = summary.get("ranked_by")
    if ranked_by:
        key.append(f"ranked: by {ranked_by}")
    if "true" in summary[RUNS[0]]:
        key.append("true: by the simulated subject")
    if judges:
        key.append(f"judged: the class according to {judges[0]}")
    n = len(images[RUNS[0]])
    runs = (
        f"the best {n} guided and unguided images of the same {n * oversample} seeds, best "
        f"{f'by {ranked_by} ' if ranked_by else ''}first"
        if oversample > 1
        else "guided and unguided images from the same seeds"
    )
    title = (
        f"{objective}: {runs}\n"
        f"{w}x{h} px images shown at {_SCALE}x ({_SCALE * w} px)\n" + "; ".join(key)
    )
    return image_grid(
        np.concatenate([images[run] for run in RUNS]), captions, columns=columns, scale=_SCALE,
        title=title, row_labels=row_labels,
    )  # fmt: skip
