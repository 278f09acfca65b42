"""``inside``: the one check that a path read from a file stays inside its root folder."""

from __future__ import annotations

import pytest

from brainenc.files import inside


@pytest.mark.parametrize("bad", ["../x", "a/../../x", "/etc/passwd", "", "."])
def test_inside_refuses_paths_out_of_the_root(tmp_path, bad):
    with pytest.raises(ValueError, match=r"must be a relative path inside"):
        inside(tmp_path, bad, "the path")


def test_inside_keeps_paths_in_the_root_and_checks_links_on_request(tmp_path):
    assert inside(tmp_path, "a/./b/../c.png", "x") == tmp_path / "a" / "c.png"
    (tmp_path / "secret.png").write_bytes(b"x")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "map.png").symlink_to(tmp_path / "secret.png")
    assert inside(tmp_path / "run", "map.png", "x") == tmp_path / "run" / "map.png"
    with pytest.raises(ValueError, match=r"a link to .*secret.png outside"):
        inside(tmp_path / "run", "map.png", "x", resolve=True)
