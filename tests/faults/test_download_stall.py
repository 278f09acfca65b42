"""The downloader gives up on servers that never answer or trickle, within its deadlines."""

from __future__ import annotations

import threading
import time

import pytest

from brainenc.data.download import DownloadError, download
from brainenc.data.manifest import Manifest

LIMITS = {"timeout": 0.5, "min_rate": 1000.0, "rate_window": 0.5, "retries": 1}
GUARD = 20.0  # seconds after which a download that has not given up counts as hanging


def _download_in_thread(url, data_dir) -> tuple[BaseException | None, float]:
    """Run a one-file download with small limits; its error and how long it took to give up."""
    m = Manifest.from_dict(
        {"dataset": {"name": "toy", "base_url": url}, "files": [{"key": "a", "path": "big.bin"}]}
    )
    result: list = [None]

    def run():
        try:
            download(m, data_dir=data_dir, progress=False, workers=1, **LIMITS)
        except BaseException as e:
            result[0] = e

    t = time.perf_counter()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(GUARD)
    assert not thread.is_alive(), f"the download still runs after {GUARD:g} s"
    return result[0], time.perf_counter() - t


@pytest.mark.parametrize("server", ["black_hole", "trickle"])
def test_gives_up_within_its_deadline_naming_the_file(request, tmp_path, server):
    url = request.getfixturevalue(server)
    error, elapsed = _download_in_thread(url, tmp_path)
    assert isinstance(error, DownloadError), repr(error)
    message = str(error)
    assert f"{url}big.bin: gave up, the transfer broke off 2 times" in message
    assert "try again later" in message and "--base-url" in message
    expected = "no data for 0.5 s" if server == "black_hole" else "bytes/s over"
    assert expected in message
    # two attempts of at most max(timeout, rate_window) plus one short back-off
    assert elapsed < 2 * 0.5 + 1.0, elapsed
    print(f"{server}: gave up after {elapsed:.2f} s")
