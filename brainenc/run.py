"""A results folder ("run"): its layout, and ``summary.json`` read and written in one place.

A run folder holds::

    summary.json                 what the run is (see :class:`Run`); required
    encoders/<model>/            each fitted model (an encoder directory, see
                                 :meth:`~brainenc.encoders.Encoder.save`)
    maps/<name>.png [.html]      cortical maps listed in ``summary.json``'s ``"maps"``
    synthesis/<objective>.png    images synthesized for an objective, with ``<objective>.json``
                                 (scores, or ``{"captions": [str, ...]}``) and every image
    captions/captions.json       region captions (``brainenc caption``); ``vertices.json``
                                 per-vertex captions, ``<roi>.png`` images from the captions
    benchmarks/<name>.png        figures of benchmarks run on the run's subject, each with
                                 ``<name>.json`` (``{"caption": str}``)
    report.html                  the page :func:`~brainenc.maps.build_report` writes

Models are keyed by backbone *and* encoder, so two encoders on one backbone never collide.
This module only reads and writes JSON: the report and the command line use it without loading
torch.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from .files import inside, read_json, write_atomically

SUMMARY = "summary.json"
ENCODERS = "encoders"
MAPS = "maps"
SYNTHESIS = "synthesis"
BENCHMARKS = "benchmarks"
CAPTIONS = "captions"
_FIELDS = ("data", "rois", "models", "maps", "synthesis")
RERUN = "rerun the step that wrote it"


def model_name(backbone: str, encoder: str) -> str:
    """How a model is named in tables and titles: ``"<backbone> · <encoder>"``."""
    return f"{backbone} · {encoder}"


def file_name(name: str) -> str:
    """A name as a file-name part: ``open_clip:ViT-B-16/x · linear`` ->
    ``open_clip_ViT-B-16_x_linear`` (each run of other characters becomes one ``_``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


@dataclass
class ModelResult:
    """One fitted model of a run: which backbone and encoder, where it is, its scores per ROI.

    Attributes
    ----------
    backbone : str
        Backbone spec (:meth:`~brainenc.features.Backbone.from_spec`).
    encoder : str
        Encoder spec (:meth:`~brainenc.encoders.Encoder.from_spec`).
    folder : str
        The encoder directory, relative to the run folder.
    scores : dict of str to dict of str to float or None
        ``{score: {roi: median over the ROI's targets}}`` (e.g. ``"nnr2"``, ``"r"``).
    """

    backbone: str
    encoder: str
    folder: str = ""
    scores: dict = field(default_factory=dict)

    def __post_init__(self):
        if not self.folder:
            self.folder = f"{ENCODERS}/{self.file_stem}"

    @property
    def name(self) -> str:
        """``"<backbone> · <encoder>"``, the model's name in tables, titles and map files."""
        return model_name(self.backbone, self.encoder)

    @property
    def file_stem(self) -> str:
        """The model's name as a file-name part (maps are named ``<kind>_<file_stem>.png``)."""
        return file_name(self.name)


@dataclass
class Run:
    """A results folder and its ``summary.json``.

    Attributes
    ----------
    path : Path
        The folder.
    data : dict
        The dataset's metadata (``BrainData.meta``: dataset, subject, space…).
    rois : dict of str to int
        ROI → number of targets (the score table's rows, in order).
    models : list of ModelResult
        The fitted models, in fitting order (maps compare the later ones with the first).
    maps : list of dict
        :func:`~brainenc.maps.draw_map` entries, ``{"file", "title"[, "interactive"]}``.
    synthesis : dict
        Objective → scores of the images synthesized for it.
    info : dict
        Everything else (brainenc version, split sizes, timings, checks of simulated data).
    """

    path: Path
    data: dict = field(default_factory=dict)
    rois: dict = field(default_factory=dict)
    models: list[ModelResult] = field(default_factory=list)
    maps: list = field(default_factory=list)
    synthesis: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)

    def __post_init__(self):
        self.path = Path(self.path).expanduser()

    @classmethod
    def read(cls, path: str | os.PathLike) -> Run:
        """The run in folder ``path``; a clear error if it has no valid ``summary.json``."""
        summary = read_summary(path)
        models = [ModelResult(**entry) for entry in summary.get("models", [])]
        rest = {k: v for k, v in summary.items() if k not in _FIELDS}
        return cls(
            path, summary.get("data", {}), summary.get("rois", {}), models,
            summary.get("maps", []), summary.get("synthesis", {}), rest,
        )  # fmt: skip

    def to_dict(self) -> dict:
        """The ``summary.json`` content."""
        return {
            **self.info,
            "data": self.data,
            "rois": self.rois,
            "models": [dataclasses.asdict(m) for m in self.models],
            "maps": self.maps,
            "synthesis": self.synthesis,
        }

    def write(self) -> Path:
        """Write ``summary.json`` atomically; returns its path."""
        self.path.mkdir(parents=True, exist_ok=True)
        text = json.dumps(self.to_dict(), indent=1, ensure_ascii=False)
        return write_atomically(self.path / SUMMARY, lambda tmp: tmp.write_text(text, "utf-8"))

    def model(self, name: str | None = None) -> ModelResult:
        """The model called ``name`` (its name, backbone spec or folder); the only one if
        ``name`` is None. A clear error when there is no such model, or several fit."""
        if name is None:
            if not self.models:
                raise ValueError(f"{self.path} has no models; fit one with brainenc fit")
            if len(self.models) > 1:
                raise ValueError(
                    f"{self.path} has {len(self.models)} models; pick one with --model: "
                    + ", ".join(m.name for m in self.models)
                )
            return self.models[0]
        matches = [m for m in self.models if name in (m.name, m.backbone, m.folder)]
        if len(matches) != 1:
            what = "no model" if not matches else "several models"
            raise ValueError(
                f"{self.path} has {what} called {name!r}; its models: "
                + (", ".join(m.name for m in self.models) or "none (fit one with brainenc fit)")
            )
        return matches[0]

    def encoder_dir(self, model: ModelResult) -> Path:
        """The model's encoder directory (checked to lie inside the run folder)."""
        return inside(self.path, model.folder, "an encoder folder in summary.json", resolve=True)


def read_summary(run_dir: str | os.PathLike) -> dict:
    """``summary.json`` of a run folder as a dict, checked; a clear error when it is not one."""
    path = Path(run_dir).expanduser() / SUMMARY
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist; give the results folder of a run (written by "
            "`brainenc fit` or `brainenc demo`)"
        )
    summary = read_json(path, RERUN)
    if "backbones" in summary and "models" not in summary:
        raise ValueError(
            f"{path} was written by an older brainenc (models under 'backbones'); rerun "
            "`brainenc fit` or `brainenc demo` to rewrite the folder"
        )
    _check_summary(summary, path)
    return summary


def _check_summary(summary: dict, path: Path) -> None:
    """Raise ``ValueError`` naming the first key of ``summary`` whose type a reader cannot use."""

    def fail(key: str, expected: str, value) -> None:
        raise ValueError(
            f"{path}: {key} must be {expected}; got {json.dumps(value)[:80]}. Fix the file or "
            "rerun the step that wrote it"
        )

    def number_or_null(value) -> bool:
        return value is None or (isinstance(value, int | float) and not isinstance(value, bool))

    for key in ("data", "rois", "synthesis"):
        if not isinstance(summary.get(key, {}), dict):
            fail(f"'{key}'", "an object", summary[key])
    for key in ("models", "maps"):
        if not isinstance(summary.get(key, []), list):
            fail(f"'{key}'", "a list", summary[key])
    for i, model in enumerate(summary.get("models", [])):
        if not isinstance(model, dict) or not all(
            isinstance(model.get(k), str) for k in ("backbone", "encoder", "folder")
        ):
            fail(f"'models[{i}]'", 'an object with string "backbone", "encoder", "folder"', model)
        if set(model) - {"backbone", "encoder", "folder", "scores"}:
            fail(f"'models[{i}]'", "backbone, encoder, folder and scores only", model)
        scores = model.get("scores", {})
        if not isinstance(scores, dict):
            fail(f"'models[{i}].scores'", "an object", scores)
        for score, values in scores.items():
            if not isinstance(values, dict) or not all(map(number_or_null, values.values())):
                fail(f"'models[{i}].scores.{score}'", "an object of ROI: number", values)
    for roi, size in summary.get("rois", {}).items():
        if not number_or_null(size):
            fail(f"'rois.{roi}'", "a number of targets", size)
    for i, entry in enumerate(summary.get("maps", [])):
        if not isinstance(entry, dict) or not all(
            isinstance(entry.get(k), str) for k in ("file", "title")
        ):
            fail(f"'maps[{i}]'", 'an object with string "file" and "title"', entry)
        if not isinstance(entry.get("interactive", ""), str):
            fail(f"'maps[{i}].interactive'", "a path string", entry["interactive"])


def read_synthesis(path: str | os.PathLike) -> tuple[list[str], str]:
    """A ``synthesis/<objective>.json`` file's captions (``{"captions": [str, ...]}``) and the
    line that says how its images were made."""
    record = read_json(path, RERUN)
    captions = record.get("captions", [])
    if not isinstance(captions, list):
        raise ValueError(f"{path}: 'captions' must be a list of strings; got {captions!r}")
    return [str(c) for c in captions], _synthesis_setup(record)


def _synthesis_setup(record: dict) -> str:
    """How the images of a synthesis record were made, in a line ("" if it does not say)."""
    guidance = record.get("guidance")
    if not isinstance(guidance, dict) or not isinstance(guidance.get("scale"), int | float):
        return ""
    how = [f"guidance scale {guidance['scale']:g}"]
    if guidance.get("normalize"):
        how.append("gradient normalized to the predicted noise")
    if guidance.get("augment"):
        how.append("scored on shifted, mirrored copies")
    if "steps" in record:
        how.append(f"{record['steps']} steps")
    n, k = record.get("n_images"), record.get("oversample", 1)
    if isinstance(k, int) and k > 1:
        ranked_by = record.get("ranked_by") or "the encoder"
        seeds = f", each the best {n} of the same {n * k} seeds by {ranked_by}"
    else:
        seeds = " from the same seeds"
    rows = f"{n} guided images, then {n} unguided{seeds}" if n else ""
    judges = record.get("judges")
    if rows and isinstance(judges, list) and judges:
        rows += f", each labelled by the {judges[0]}"
    return "; ".join(how) + (f". {rows}" if rows else "")
