"""build_report / ``brainenc report``: one self-contained page; checked in headless Chromium."""

from __future__ import annotations

import base64
import io
import json
import re

import numpy as np
import pytest
from PIL import Image

from brainenc.cli import main
from brainenc.maps import build_report
from brainenc.maps.browser import find_chromium, load_page
from brainenc.run import _synthesis_setup

CHROMIUM = find_chromium()
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no Chromium executable (apt-get install chromium, or set BRAINENC_CHROMIUM)",
)


def _png(path, colour, size=(240, 160)) -> None:
    """A PNG with a colour gradient (so that it is not blank)."""
    ramp = np.linspace(0.3, 1.0, size[0])[None, :, None]
    pixels = (np.array(colour)[None, None, :] * ramp * np.ones((size[1], 1, 1))).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


@pytest.fixture
def run_dir(tmp_path):
    """A results folder as a run writes it: summary, two maps (one interactive), synthesis."""
    run = tmp_path / "run"
    _png(run / "maps" / "nnr2.png", (200, 60, 20))
    _png(run / "maps" / "rois.png", (20, 120, 200))
    (run / "maps" / "nnr2.html").write_text("<html></html>")
    _png(run / "synthesis" / "FFA.png", (60, 180, 60))
    guidance = {"scale": 0.5, "normalize": True, "augment": True}
    ffa = {
        "captions": ["a face <smiling>"],
        "guidance": guidance,
        "steps": 50,
        "n_images": 8,
        "judges": ["judge", "world-clip"],
    }
    (run / "synthesis" / "FFA.json").write_text(json.dumps(ffa))
    (run / "synthesis" / "VWFA.json").write_text(json.dumps({"captions": ["a word on a sign"]}))
    summary = {
        "brainenc_version": "0.1.0",
        "data": {"dataset": "world", "subject": 1},
        "n_test": 300,
        "rois": {"V1": 162, "FFA": 36, "VWFA": 13},
        "models": [
            {
                "backbone": "gabor",
                "encoder": "linear",
                "folder": "encoders/gabor_linear",
                "scores": {"nnr2": {"V1": 0.945, "FFA": 0.45, "VWFA": None}},
            }
        ],
        "maps": [
            {"file": "maps/nnr2.png", "title": "gabor: accuracy", "interactive": "maps/nnr2.html"},
            {"file": "maps/rois.png", "title": "regions of interest"},
        ],
    }
    (run / "summary.json").write_text(json.dumps(summary))
    return run


def _decoded_images(html: str) -> list[Image.Image]:
    sources = re.findall(r'<img src="data:image/png;base64,([^"]+)"', html)
    return [Image.open(io.BytesIO(base64.b64decode(s))) for s in sources]


def test_the_page_embeds_the_table_maps_synthesis_and_metadata(run_dir):
    page = build_report(run_dir)
    assert page == run_dir / "report.html"
    html = page.read_text()
    rows = re.findall(r'<tr><td class="roi">(\w+)</td><td>(\d+)</td>(.*?)</tr>', html)
    assert [(roi, n) for roi, n, _ in rows] == [("V1", "162"), ("FFA", "36"), ("VWFA", "13")]
    assert "0.945" in rows[0][2] and "0.450" in rows[1][2] and "–" in rows[2][2]
    assert (
        "gabor · linear<br>median nnr²" in html and "encoders/gabor_linear" not in html
    )  # no paths
    images = _decoded_images(html)
    files = ["maps/nnr2.png", "maps/rois.png", "synthesis/FFA.png"]
    assert len(images) == len(files)
    for image, file in zip(images, files, strict=True):  # the files, pixel for pixel
        np.testing.assert_array_equal(np.asarray(image), np.asarray(Image.open(run_dir / file)))
    assert "a face &lt;smiling&gt;" in html and "a word on a sign" in html  # escaped
    assert "<h2>Synthesized images and captions</h2>" in html
    assert html.index(">FFA<") < html.index(">VWFA<")  # synthesis in ROI order
    setup = (
        "guidance scale 0.5; gradient normalized to the predicted noise; scored on shifted, "
        "mirrored copies; 50 steps. 8 guided images, then 8 unguided from the same seeds, each "
        "labelled by the judge"
    )
    assert html.count("<small>") == 1 and f"<small>{setup}</small>" in html  # FFA's only
    assert '<a href="maps/nnr2.html">' in html
    assert "<dt>data.dataset</dt><dd>world</dd>" in html and "<dt>n_test</dt><dd>300</dd>" in html
    assert not re.search(r'(src|href)="(https?:)?//', html)  # nothing fetched from elsewhere


def test_missing_or_malformed_files_are_named(run_dir, tmp_path):
    (run_dir / "synthesis" / "VWFA.json").write_text('{"captions": "a word"}')
    with pytest.raises(ValueError, match=r"VWFA\.json: 'captions' must be a list of strings"):
        build_report(run_dir)
    (run_dir / "synthesis" / "VWFA.json").write_text("[1, 2")
    with pytest.raises(ValueError, match=r"VWFA\.json is not valid JSON"):
        build_report(run_dir)
    (run_dir / "synthesis" / "VWFA.json").unlink()
    (run_dir / "maps" / "rois.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"lists the map 'maps/rois\.png' but .* missing"):
        build_report(run_dir)
    assert not (run_dir / "report.html").exists()
    with pytest.raises(FileNotFoundError, match=r"summary\.json does not exist; give the results"):
        build_report(tmp_path / "nothing")


def test_report_command_writes_the_page_elsewhere(run_dir, tmp_path, capsys):
    out = tmp_path / "pages" / "run.html"
    assert main(["report", str(run_dir), "--out", str(out)]) == 0
    assert out.is_file() and str(out) in capsys.readouterr().out
    assert '<a href="../run/maps/nnr2.html">' in out.read_text()  # links stay right


@needs_chromium
def test_the_page_loads_in_chromium_without_errors_and_is_not_blank(run_dir, tmp_path):
    loaded = load_page(build_report(run_dir), width=1000)
    assert loaded.console_errors == []
    assert [ok for _, ok in loaded.images] == [True, True, True]
    shot = np.asarray(Image.open(io.BytesIO(loaded.screenshot)).convert("RGB")).astype(int)
    assert shot.shape[1] == 1000 and shot.shape[0] > 800  # the whole page, not one screen
    background = shot[5, 5]
    assert (np.abs(shot - background).max(axis=-1) > 40).mean() > 0.05
    assert (np.abs(shot - [200 * 0.9, 60 * 0.9, 20 * 0.9]).max(axis=-1) < 30).sum() > 1000


def test_maps_and_grids_enlarge_on_a_click_without_a_script(run_dir):
    html = build_report(run_dir).read_text()
    figures = re.findall(r'<figure id="([\w-]+)">(.*?)</figure>', html, re.S)
    assert [anchor for anchor, _ in figures] == ["map-1", "map-2", "synthesis-1"]
    for anchor, inside in figures:
        zoom = re.search(rf'<a class="zoom" href="#{anchor}" [^>]*>(<img [^>]*>)</a>', inside)
        assert zoom, anchor  # the image links to its own figure
        assert f'<a class="unzoom" href="#{anchor}-back"' in inside  # closing returns to it
        assert html.count(f'id="{anchor}-back"') == 1
    assert "figure:target" in html and "<script" not in html


@needs_chromium
def test_a_clicked_map_covers_the_window_at_full_size(run_dir):
    page = build_report(run_dir)
    window = (1000, 700)
    loaded = load_page(page, width=window[0], height=window[1], fragment="map-1")
    shot = np.asarray(Image.open(io.BytesIO(loaded.screenshot)).convert("RGB")).astype(int)
    view = shot[: window[1]]  # what the window shows
    dark = (np.abs(view - [20, 20, 20]).max(axis=-1) < 25).mean()
    mapped = np.abs(view - [200 * 0.9, 60 * 0.9, 20 * 0.9]).max(axis=-1) < 30
    assert dark > 0.5 and mapped.sum() > 1000  # the overlay, and the map on it
    columns = np.flatnonzero((view[..., 0] > view[..., 1] + 25).any(axis=0))  # the red map
    assert np.ptp(columns) + 1 == 240  # at its own size, its 240 pixels


@needs_chromium
def test_the_chromium_check_sees_errors_and_broken_images(tmp_path):
    page = tmp_path / "broken.html"
    page.write_text(
        '<html><body><img alt="nothing" src="data:image/png;base64,AAAA">'
        "<script>console.error('boom'); undefined_function();</script></body></html>"
    )
    loaded = load_page(page)
    assert loaded.images == [("nothing", False)]
    assert loaded.console_errors[0] == "boom"
    assert "undefined_function is not defined" in loaded.console_errors[1]


def test_benchmark_figures_are_shown_with_their_captions(run_dir):
    _png(run_dir / "benchmarks" / "few_shot.png", (90, 90, 200))
    caption = {"caption": "Few-shot curve <k>"}
    (run_dir / "benchmarks" / "few_shot.json").write_text(json.dumps(caption))
    html = build_report(run_dir).read_text()
    assert "<h2>Benchmarks</h2>" in html and "Few-shot curve &lt;k&gt;" in html
    images = _decoded_images(html)
    expected = np.asarray(Image.open(run_dir / "benchmarks" / "few_shot.png"))
    np.testing.assert_array_equal(np.asarray(images[-1]), expected)


def test_synthesis_setup_says_when_images_were_reranked():
    record = {"guidance": {"scale": 1.0}, "steps": 25, "n_images": 4, "judges": ["judge"]}
    assert (
        _synthesis_setup({**record, "oversample": 1})
        == _synthesis_setup(record)
        == (
            "guidance scale 1; 25 steps. 4 guided images, then 4 unguided from the same seeds, "
            "each labelled by the judge"
        )
    )
    assert _synthesis_setup({**record, "oversample": 5}).endswith(
        "4 guided images, then 4 unguided, each the best 4 of the same 20 seeds by the encoder, "
        "each labelled by the judge"
    )
    ranked = "the guiding encoder over 8 shifted, mirrored copies"
    assert _synthesis_setup({**record, "oversample": 5, "ranked_by": ranked}).endswith(
        f"each the best 4 of the same 20 seeds by {ranked}, each labelled by the judge"
    )
