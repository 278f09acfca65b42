"""``build_report``: a results folder as one self-contained static HTML page.

The page shows the per-ROI score table, the maps, the synthesized image grids and captions and
the run's metadata (see :mod:`brainenc.run` for what the folder holds). Images are
embedded as data URIs, so the page is one file that works offline; only the interactive views
stay separate files, linked from their map. A click on a map or grid shows it at full size
over the page, a second click closes it: a link to the figure's own ``#id`` and CSS
``:target``, no script.
"""

from __future__ import annotations

import base64
import json
import os
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from urllib.parse import quote

from .. import __version__
from ..files import inside, read_json, write_atomically
from ..run import (
    BENCHMARKS,
    CAPTIONS,
    RERUN,
    SYNTHESIS,
    model_name,
    read_summary,
    read_synthesis,
)

_TABLE_KEYS = ("models", "rois", "maps")  # summary keys shown as content, not as metadata
_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #222;
       background: #fafafa; }
main { max-width: 1320px; margin: 0 auto; padding: 24px 32px 48px; }
h1 { font-size: 26px; margin: 8px 0 4px; } h2 { font-size: 20px; margin: 32px 0 12px; }
.sub { color: #666; margin: 0 0 16px; }
table { border-collapse: collapse; background: white; font-size: 14px; }
th, td { padding: 5px 12px; border-bottom: 1px solid #e4e4e4; text-align: right; }
th { background: #f0f0f0; } th:first-child, td:first-child { text-align: left; }
td.roi { font-weight: 600; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(380px, 1fr)); gap: 16px;
        align-items: start; }
figure { margin: 0; background: white; border: 1px solid #e4e4e4; border-radius: 6px;
         padding: 10px; }
figure img { width: 100%; height: auto; display: block; }
figcaption { font-size: 14px; color: #444; margin-top: 6px; }
ul.captions { margin: 6px 0 0; padding-left: 20px; font-size: 14px; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; font-size: 14px;
     background: white; padding: 12px; border: 1px solid #e4e4e4; }
dt { font-weight: 600; } dd { margin: 0; font-family: ui-monospace, monospace; }
a.zoom { display: block; cursor: zoom-in; }
a.unzoom { display: none; }
figure:target { position: fixed; inset: 0; z-index: 10; margin: 0; border: 0; border-radius: 0;
                padding: 16px; overflow: auto; background: rgba(20, 20, 20, 0.94); }
figure:target img { width: auto; max-width: none; margin: 0 auto; }
figure:target figcaption, figure:target ul.captions { color: #eee; text-align: center; }
figure:target a.zoom { pointer-events: none; }
figure:target a.unzoom { display: block; position: fixed; inset: 0; cursor: zoom-out;
                         color: #eee; font-size: 16px; text-align: right; padding: 8px 16px;
                         text-decoration: none; }
"""
_ZOOM = "click to enlarge, click again to close"


def build_report(run_dir: str | os.PathLike, out: str | os.PathLike | None = None) -> Path:
    """Write one self-contained HTML page summarising a results folder.

    Parameters
    ----------
    run_dir : path
        A run folder with ``summary.json`` (see :mod:`brainenc.run`).
    out : path, optional
        Where to write the page; default ``<run_dir>/report.html``.

    Returns
    -------
    Path
        The page, written atomically.

    Raises
    ------
    FileNotFoundError
        ``summary.json``, or a map it lists, is missing.
    ValueError
        ``summary.json`` is malformed, or names a file outside ``run_dir``: only files inside the
        run folder go into the page.
    """
    run_dir = Path(run_dir).expanduser()
    summary = read_summary(run_dir)
    out = run_dir / "report.html" if out is None else Path(out)
    title = f"brainenc report: {run_dir.resolve().name}"
    who = summary.get("data", {})
    subtitle = ", ".join(f"{k} {who[k]}" for k in ("dataset", "subject") if k in who)
    sections = [
        f"<h1>{escape(title)}</h1>",
        f'<p class="sub">{escape(subtitle)}{" · " if subtitle else ""}report written '
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC by brainenc {escape(__version__)}</p>",
        _score_table(summary),
        _maps(summary, run_dir, out.parent),
        _synthesis(summary, run_dir),
        _captions(run_dir),
        _benchmarks(run_dir),
        _metadata(summary),
    ]
    page = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n"
        f"<body><main>\n{''.join(s for s in sections if s)}\n</main></body>\n</html>\n"
    )
    return write_atomically(out, lambda tmp: tmp.write_text(page, "utf-8"))


def _score_table(summary: dict) -> str:
    """One row per ROI, one column per (model, per-ROI score); cells shaded by value."""
    columns = [
        (model_name(model["backbone"], model["encoder"]), key, scores)
        for model in summary.get("models", [])
        for key, scores in model.get("scores", {}).items()
    ]
    if not columns:
        return ""
    sizes = summary.get("rois", {})
    rois = list(sizes) or list(dict.fromkeys(roi for *_, scores in columns for roi in scores))
    head = "".join(
        f"<th>{escape(model)}<br>{escape(_score_name(key))}</th>" for model, key, _ in columns
    )
    size_head = "<th>n</th>" if sizes else ""
    rows = []
    for roi in rois:
        cells = "".join(_cell(scores.get(roi)) for *_, scores in columns)
        size = f"<td>{escape(str(sizes[roi]))}</td>" if sizes else ""
        rows.append(f'<tr><td class="roi">{escape(roi)}</td>{size}{cells}</tr>')
    return (
        "<h2>Scores per ROI</h2>\n<table>\n"
        f"<tr><th>ROI</th>{size_head}{head}</tr>\n" + "\n".join(rows) + "\n</table>\n"
    )


def _score_name(key: str) -> str:
    return "median " + key.replace("_", " ").replace("r2", "r²")


def _cell(value) -> str:
    if not isinstance(value, int | float) or value != value:  # missing or NaN
        return "<td>–</td>"
    shade = 0.55 * min(max(value, 0.0), 1.0)
    return f'<td style="background: rgba(70, 130, 180, {shade:.2f})">{value:.3f}</td>'


def _maps(summary: dict, run_dir: Path, page_dir: Path) -> str:
    figures = []
    for entry in summary.get("maps", []):
        path = inside(run_dir, entry["file"], "a map file in summary.json", resolve=True)
        if not path.is_file():
            raise FileNotFoundError(
                f"summary.json lists the map {entry['file']!r} but {path} is missing; rerun the "
                "step that drew it, or remove it from summary.json"
            )
        link = ""
        if "interactive" in entry:
            view = inside(run_dir, entry["interactive"], "an interactive view in summary.json")
            # a relative path, percent-encoded: a ':' cannot make it a javascript: or data: URL
            target = quote(Path(os.path.relpath(view, page_dir)).as_posix())
            link = f'<figcaption><a href="{escape(target)}">interactive 3-D view</a></figcaption>'
        figures.append(_figure(f"map-{len(figures) + 1}", _img(path, entry["title"]), link))
    if not figures:
        return ""
    return '<h2>Maps</h2>\n<div class="grid">\n' + "\n".join(figures) + "\n</div>\n"


def _synthesis(summary: dict, run_dir: Path) -> str:
    folder = run_dir / SYNTHESIS
    if not folder.is_dir():
        return ""
    found = {p.stem for p in folder.iterdir() if p.suffix in (".png", ".json")}
    order = [roi for roi in summary.get("rois", {}) if roi in found] + sorted(
        found - set(summary.get("rois", {}))
    )
    figures, any_captions = [], False
    for roi in order:
        grid, captions = folder / f"{roi}.png", folder / f"{roi}.json"
        image = _img(grid, f"images synthesized for {roi}") if grid.is_file() else ""
        items, setup = read_synthesis(captions) if captions.is_file() else ([], "")
        listed = "".join(f"<li>{escape(c)}</li>" for c in items)
        any_captions = any_captions or bool(items)
        figures.append(
            _figure(
                f"synthesis-{len(figures) + 1}",
                image,
                f"<figcaption>{escape(roi)}"
                f"{f'<br><small>{escape(setup)}</small>' if setup else ''}</figcaption>"
                f"{f'<ul class=captions>{listed}</ul>' if listed else ''}",
            )
        )
    if not figures:
        return ""
    title = "Synthesized images and captions" if any_captions else "Synthesized images"
    return f'<h2>{title}</h2>\n<div class="grid">\n' + "\n".join(figures) + "\n</div>\n"


def _captions(run_dir: Path) -> str:
    """``captions/captions.json`` as a table (caption, dominant noun, shares of the region's
    vertices' nouns, top words) and the grids of images drawn from the captions."""
    record_file = run_dir / CAPTIONS / "captions.json"
    if not record_file.is_file():
        return ""
    record = read_json(record_file, "rerun `brainenc caption`")
    rows = []
    for region, found in record.get("regions", {}).items():
        shares = ", ".join(
            f"{k} {v:.0%}"
            for k, v in sorted(found.get("noun_shares", {}).items(), key=lambda kv: -kv[1])
        )
        words = ", ".join(str(w[0]) for w in found.get("top_words", []))
        rows.append(f'<tr><td class="roi">{escape(region)}</td>'
                    f"<td>{escape(str(found.get('caption', '')))}</td>"
                    f"<td>{escape(str(found.get('noun') or '–'))}</td>"
                    f"<td>{escape(shares)}</td><td>{escape(words)}</td></tr>")  # fmt: skip
    setup = (
        f"model {record.get('model', '?')}, softmax temperature {record.get('tau', '?')}, "
        f"{record.get('beams', '?')} beams, bank: {record.get('bank', {}).get('image_set', '?')}"
    )
    figures = []
    for region in record.get("images", {}):  # only the grids of this record's captions
        grid = inside(run_dir, f"{CAPTIONS}/{region}.png", "a caption image grid")
        if grid.is_file():
            figures.append(_figure(f"caption-{len(figures) + 1}",
                                   _img(grid, f"images drawn from the caption of {region}"),
                                   f"<figcaption>{escape(region)}: images drawn from its "
                                   "caption</figcaption>"))  # fmt: skip
    grid_html = ('<div class="grid">\n' + "\n".join(figures) + "\n</div>\n") if figures else ""
    return (
        f"<h2>Captions (BrainSCUBA)</h2>\n<p class=sub>{escape(setup)}</p>\n<table>\n"
        "<tr><th>ROI</th><th>caption</th><th>dominant noun</th><th>vertices' nouns</th>"
        "<th>top words</th></tr>\n" + "\n".join(rows) + "\n</table>\n" + grid_html
    )


def _benchmarks(run_dir: Path) -> str:
    """The figures in ``benchmarks/``, each captioned by its ``{"caption": ...}`` JSON."""
    folder = run_dir / BENCHMARKS
    if not folder.is_dir():
        return ""
    figures = []
    for png in sorted(folder.glob("*.png")):
        about = png.with_suffix(".json")
        caption = read_json(about, RERUN).get("caption", "") if about.is_file() else ""
        figures.append(
            _figure(
                f"benchmark-{len(figures) + 1}",
                _img(png, png.stem),
                f"<figcaption>{escape(str(caption) or png.stem)}</figcaption>",
            )
        )
    if not figures:
        return ""
    return '<h2>Benchmarks</h2>\n<div class="grid">\n' + "\n".join(figures) + "\n</div>\n"


def _figure(anchor: str, image: str, rest: str) -> str:
    """A ``<figure>`` whose image enlarges on a click: a link to the figure's own id, which
    CSS ``:target`` shows full size. The close link, shown only then, covers the page and
    targets a mark at the figure's top, so the page returns to where the figure is.

    ``anchor`` is made by the page (``map-3``), never taken from the summary.
    """
    if not image:
        return f"<figure>{rest}</figure>"
    return (
        f'<figure id="{anchor}"><span id="{anchor}-back"></span>'
        f'<a class="zoom" href="#{anchor}" title="{_ZOOM}">{image}</a>'
        f'<a class="unzoom" href="#{anchor}-back" title="close">close ×</a>{rest}</figure>'
    )


def _metadata(summary: dict) -> str:
    items = _flatten({k: v for k, v in summary.items() if k not in _TABLE_KEYS})
    if not items:
        return ""
    rows = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in items)
    return f"<h2>Run metadata</h2>\n<dl>{rows}</dl>\n"


def _flatten(obj: dict, prefix: str = "") -> list[tuple[str, str]]:
    """Nested dicts as ``("a.b", "value")`` pairs; floats to 4 digits, others as compact JSON."""
    items = []
    for key, value in obj.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            items += _flatten(value, f"{name}.")
        elif isinstance(value, float):
            items.append((name, f"{value:.4g}"))
        else:
            items.append((name, value if isinstance(value, str) else json.dumps(value)))
    return items


def _img(path: Path, alt: str) -> str:
    """An ``<img>`` with the file embedded as a base64 data URI."""
    kind = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}.get(
        path.suffix.lower()
    )
    if kind is None:
        raise ValueError(f"cannot embed {path}: only PNG and JPEG images go into the report")
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img src="data:{kind};base64,{data}" alt="{escape(alt)}">'
