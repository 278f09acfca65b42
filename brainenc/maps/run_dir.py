"""The layout of a results folder that :func:`~brainenc.maps.build_report` turns into a page.

A run folder holds:

- ``summary.json`` (required): the run's metadata (any JSON keys), and optionally
  ``"backbones"``: ``{model: {"roi_<score>": {roi: value}}}`` (the per-ROI score table),
  ``"rois"``: ``{roi: n_targets}`` (the table's row order and sizes), and
  ``"maps"``: a list of :func:`draw_map` entries, ``{"file", "title"[, "interactive"]}``, with
  paths relative to the folder.
- ``synthesis/<roi>.png``: a grid of images synthesized for an ROI, and/or
  ``synthesis/<roi>.json``: ``{"captions": [str, ...]}``, the captions generated for it (either
  file may come alone).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from ..data.brain_data import BrainData
from ..files import write_atomically
from .cortical_map import CorticalMap
from .interactive import view_surface
from .surface import DEFAULT_VIEWS, plot_surface
from .volume import plot_volume

SUMMARY = "summary.json"
MAPS = "maps"
SYNTHESIS = "synthesis"


def draw_map(
    cortical_map: CorticalMap,
    data: BrainData,
    run_dir: str | os.PathLike,
    name: str,
    *,
    views: Sequence[str] = DEFAULT_VIEWS,
    interactive: bool = False,
    reference=None,
    dpi: int = 100,
) -> dict:
    """Draw a map into ``<run_dir>/maps/<name>.png``, on the surface or in the volume.

    Parameters
    ----------
    cortical_map : CorticalMap
    data : BrainData
        Its space picks :func:`plot_surface` or :func:`plot_volume`; its ROIs are outlined.
    run_dir : path
        The run folder.
    name : str
        File name without suffix.
    views : sequence of str
        Surface views (see :func:`plot_surface`).
    interactive : bool
        Also write ``<name>.html`` (:func:`view_surface`; surface spaces, continuous maps).
    reference : path or nibabel image, optional
        Background of volume maps (see :func:`plot_volume`).
    dpi : int

    Returns
    -------
    dict
        The entry for ``summary.json``'s ``"maps"``: ``file``, ``title`` and, when written,
        ``interactive`` (paths relative to ``run_dir``).
    """
    run_dir = Path(run_dir)
    png = Path(MAPS) / f"{name}.png"
    if data.space.is_surface:
        plot_surface(cortical_map, data, views=views, out=run_dir / png, dpi=dpi)
    else:
        plot_volume(cortical_map, data, reference=reference, out=run_dir / png, dpi=dpi)
    entry = {"file": png.as_posix(), "title": cortical_map.title or name}
    if interactive and data.space.is_surface and cortical_map.categories is None:
        html = Path(MAPS) / f"{name}.html"
        view_surface(cortical_map, data, out=run_dir / html)
        entry["interactive"] = html.as_posix()
    return entry


def write_summary(run_dir: str | os.PathLike, summary: dict) -> Path:
    """Write ``summary.json`` atomically (indented JSON)."""
    text = json.dumps(summary, indent=1, ensure_ascii=False)
    return write_atomically(Path(run_dir) / SUMMARY, lambda tmp: tmp.write_text(text, "utf-8"))


def read_summary(run_dir: str | os.PathLike) -> dict:
    """Read ``summary.json``; a clear error when the folder is not a run folder."""
    path = Path(run_dir) / SUMMARY
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist; give the results folder of a run (written by "
            "`brainenc demo`, scripts/fit_nsd_subject.py or scripts/cortical_maps.py)"
        )
    summary = _read_json(path)
    _check_summary(summary, path)
    return summary


def _check_summary(summary: dict, path: Path) -> None:
    """Raise ``ValueError`` naming the first key of ``summary`` whose type the report cannot use."""

    def fail(key: str, expected: str, value) -> None:
        raise ValueError(
            f"{path}: {key} must be {expected}; got {json.dumps(value)[:80]}. Fix the file or "
            "rerun the step that wrote it"
        )

    def number_or_null(value) -> bool:
        return value is None or (isinstance(value, int | float) and not isinstance(value, bool))

    for key in ("data", "backbones", "rois"):
        if not isinstance(summary.get(key, {}), dict):
            fail(f"'{key}'", "an object", summary[key])
    for model, results in summary.get("backbones", {}).items():
        if not isinstance(results, dict):
            fail(f"'backbones.{model}'", "an object", results)
        for score, values in results.items():
            if score.startswith("roi_") and (
                not isinstance(values, dict) or not all(map(number_or_null, values.values()))
            ):
                fail(f"'backbones.{model}.{score}'", "an object of ROI: number", values)
    for roi, size in summary.get("rois", {}).items():
        if not number_or_null(size):
            fail(f"'rois.{roi}'", "a number of targets", size)
    maps = summary.get("maps", [])
    if not isinstance(maps, list):
        fail("'maps'", "a list", maps)
    for i, entry in enumerate(maps):
        if not isinstance(entry, dict) or not all(
            isinstance(entry.get(k), str) for k in ("file", "title")
        ):
            fail(f"'maps[{i}]'", 'an object with string "file" and "title"', entry)
        if not isinstance(entry.get("interactive", ""), str):
            fail(f"'maps[{i}].interactive'", "a path string", entry["interactive"])


def read_synthesis(path: str | os.PathLike) -> tuple[list[str], str]:
    """A ``synthesis/<roi>.json`` file's captions (``{"captions": [str, ...]}``) and setup line."""
    record = _read_json(Path(path))
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
    n = record.get("n_images")
    rows = f"{n} guided images, then {n} unguided from the same seeds" if n else ""
    judges = record.get("judges")
    if rows and isinstance(judges, list) and judges:
        rows += f", each labelled by the {judges[0]}"
    return "; ".join(how) + (f". {rows}" if rows else "")


def _read_json(path: Path) -> dict:
    try:
        content = json.loads(path.read_text("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(
            f"{path} is not valid JSON ({err}); rerun the step that wrote it"
        ) from None
    if not isinstance(content, dict):
        raise ValueError(f"{path} must hold a JSON object; rerun the step that wrote it")
    return content
