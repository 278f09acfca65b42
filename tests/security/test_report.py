"""The HTML report embeds only files of its run folder, links safely and escapes everything."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from PIL import Image

from brainenc.cli import main
from brainenc.maps import build_report


def _png(path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((8, 8, 3), 120, np.uint8)).save(path)


@pytest.fixture
def run(tmp_path):
    """A run folder with one map, and a PNG just outside it (a file the page must not leak)."""
    _png(tmp_path / "run" / "maps" / "a.png")
    _png(tmp_path / "private.png")
    return tmp_path / "run"


def _summary(run, **fields) -> None:
    summary = {"maps": [{"file": "maps/a.png", "title": "a map"}], **fields}
    (run / "summary.json").write_text(json.dumps(summary))


@pytest.mark.parametrize("file", ["../private.png", "{tmp}/private.png", "maps/link.png"])
def test_map_files_outside_the_run_folder_are_refused(run, file):
    (run / "maps" / "link.png").symlink_to(run.parent / "private.png")
    _summary(run, maps=[{"file": file.format(tmp=run.parent), "title": "leak"}])
    with pytest.raises(ValueError, match=r"a map file in summary.json is .*(relative|outside)"):
        build_report(run)
    assert not (run / "report.html").exists()


@pytest.mark.parametrize(
    "link", ["javascript:alert(document.domain)", "data:text/html,<b>x</b>", "../../etc/x.html"]
)
def test_interactive_links_cannot_be_scripts_or_leave_the_run(run, link):
    _summary(run, maps=[{"file": "maps/a.png", "title": "m", "interactive": link}])
    if link.startswith(".."):
        with pytest.raises(ValueError, match=r"an interactive view in summary.json is"):
            build_report(run)
        return
    html = build_report(run).read_text()
    (href,) = re.findall(r'<a href="([^"]*)">interactive 3-D view', html)
    assert ":" not in href.split("/")[0]  # a relative path, not a URL with a scheme
    assert "javascript:" not in html and "data:text" not in html
    for other in re.findall(r'href="([^"]*)"', html):  # the rest: links within the page
        assert other == href or f'id="{other.removeprefix("#")}"' in html


def test_every_summary_value_is_escaped(run):
    evil = "<script>alert(1)</script>"
    _summary(
        run,
        rois={"V1": evil},
        models=[{"backbone": evil, "encoder": evil, "folder": "e", "scores": {"r": {"V1": 0.5}}}],
        data={"dataset": evil},
        note=evil,
    )
    with pytest.raises(ValueError, match=r"'rois.V1' must be a number of targets"):
        build_report(run)
    model = {
        "backbone": evil,
        "encoder": evil,
        "folder": "encoders/x",
        "scores": {"r": {evil: 0.5}},
    }
    _summary(run, rois={evil: 3}, models=[model], data={"x": evil})
    html = build_report(run).read_text()
    assert "<script>" not in html and "&lt;script&gt;" in html


MODEL = {"backbone": "gabor", "encoder": "linear", "folder": "encoders/gabor_linear"}


@pytest.mark.parametrize(
    ("summary", "message"),
    [
        ({"maps": {"file": "maps/a.png"}}, "'maps' must be a list"),
        ({"maps": ["maps/a.png"]}, r"'maps\[0\]' must be an object with string"),
        ({"maps": [{"file": 3, "title": "t"}]}, r"'maps\[0\]' must be an object with string"),
        ({"models": [{**MODEL, "scores": {"r": ["V1"]}}]}, r"'models\[0\].scores.r' must be an"),
        ({"models": [{**MODEL, "scores": {"r": {"V1": "high"}}}]}, r"'models\[0\].scores.r' must"),
        ({"models": [{**MODEL, "folder": 3}]}, r"'models\[0\]' must be an object with string"),
        ({"models": [{**MODEL, "colour": "red"}]}, r"backbone, encoder, folder and scores only"),
        ({"models": {"m": MODEL}}, "'models' must be a list"),
        ({"data": "world"}, "'data' must be an object"),
    ],
)
def test_malformed_summary_gets_a_clear_error(run, summary, message):
    (run / "summary.json").write_text(json.dumps(summary))
    with pytest.raises(ValueError, match=message):
        build_report(run)


def test_summary_that_is_not_utf8_is_one_line_at_the_command_line(run, capsys):
    (run / "summary.json").write_bytes(b'{"note": "\xff\xfe"}')
    with pytest.raises(ValueError, match=r"summary\.json is not valid JSON \('utf-8' codec"):
        build_report(run)
    assert main(["report", str(run)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("brainenc: error: ") and err.count("\n") == 1
    assert "Traceback" not in err
