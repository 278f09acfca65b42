"""Every Python block of the README and docs/ runs, in order, one namespace per file.

Blocks that need a dataset on disk are skipped with the reason (their code paths are tested on
fixtures in tests/data and tests/encoders).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NEEDS_DATA = "needs the dataset on disk; the same calls run on fixtures in tests/data"
SKIP = {
    ("docs/datasets.md", 0): NEEDS_DATA + " (NSD)",
    ("docs/datasets.md", 1): NEEDS_DATA + " (Algonauts 2023)",
    ("docs/datasets.md", 2): NEEDS_DATA + " (a bring-your-own study folder)",
    ("docs/scale.md", 0): "needs a prepared NSD response store; tests/encoders/test_out_of_core.py",
    (
        "docs/scale.md",
        1,
    ): "a torchrun script; tests/test_distributed.py runs the same under torchrun",
}
FILES = ["README.md", *sorted(p.relative_to(ROOT).as_posix() for p in ROOT.glob("docs/*.md"))]


def _blocks(name: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", (ROOT / name).read_text(), re.S | re.M)


def test_every_skip_names_a_block():
    for name, index in SKIP:
        assert index < len(_blocks(name)), (name, index)


@pytest.mark.parametrize("name", [f for f in FILES if _blocks(f)])
def test_python_blocks_run(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": f"docs_{Path(name).stem}"}
    ran = 0
    for index, block in enumerate(_blocks(name)):
        if (name, index) in SKIP:
            continue
        exec(compile(block, f"{name} block {index}", "exec"), namespace)
        ran += 1
    if ran == 0:
        pytest.skip(f"every block of {name} needs data on disk: {SKIP[(name, 0)]}")
