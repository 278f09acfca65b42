import hashlib
import socket
import time

import pytest

from brainenc.data._fixtures import write_nsd_fixture
from brainenc.data.download import ChecksumError, DownloadError, download, plan_download
from brainenc.data.manifest import LockFile, Manifest

BETA = "nsddata_betas/ppdata/subj01/fsaverage/betas_fithrf_GLMdenoise_RR/lh.betas_session01.mgh"
KW = {
    "subject": 1,
    "space": "fsaverage",
    "sessions": "1-2",
    "exclude": ["stimuli"],
    "progress": False,
}


@pytest.fixture
def remote(faulty_server):
    write_nsd_fixture(
        faulty_server.root, 1, 2, spaces=("fsaverage",), n_vertices=400, stimuli=False
    )
    return faulty_server


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_dry_run_counts_without_network(tmp_path, remote):
    report = download("nsd", data_dir=tmp_path / "data", base_url=remote.url, dry_run=True, **KW)
    plan = report.plan
    assert len(plan.to_fetch) == len(plan.files) == 29
    assert plan.bytes_to_fetch == sum(f.spec.size for f in plan.files)
    assert "29 of 29 files to fetch" in plan.describe()
    assert remote.requests == []
    assert not (tmp_path / "data" / "nsd" / BETA).exists()


def test_download_resumes_after_dropped_connection(tmp_path, remote):
    remote.drop_once[BETA] = 300_000
    report = download("nsd", data_dir=tmp_path / "data", base_url=remote.url, workers=3, **KW)
    local = tmp_path / "data" / "nsd"
    assert len(report.fetched) == 29
    assert sha(local / BETA) == sha(remote.root / BETA)
    ranges = [r[2] for r in remote.gets(BETA)]
    assert len(ranges) == 2 and ranges[0] is None
    resumed_at = int(ranges[1].removeprefix("bytes=").rstrip("-"))
    assert 0 < resumed_at <= 300_000  # resumed, not restarted
    assert not list(local.rglob("*.part"))
    # the lock recorded the real checksum
    import json

    entry = json.loads((local / "brainenc-lock.json").read_text())["files"][BETA]
    assert entry["sha256"] == sha(remote.root / BETA)

    # re-running downloads nothing at all
    n = len(remote.requests)
    again = download("nsd", data_dir=tmp_path / "data", base_url=remote.url, **KW)
    assert again.fetched == [] and len(again.skipped) == 29
    assert len(remote.requests) == n


def test_interrupted_run_keeps_part_and_next_run_resumes(tmp_path, remote):
    remote.drop_once[BETA] = 200_000
    with pytest.raises(DownloadError, match="broke off"):
        download("nsd", data_dir=tmp_path / "d", base_url=remote.url, retries=0, workers=1, **KW)
    local = tmp_path / "d" / "nsd" / BETA
    assert not local.exists()
    kept = local.with_name(local.name + ".part").stat().st_size
    assert 0 < kept <= 200_000
    download("nsd", data_dir=tmp_path / "d", base_url=remote.url, **KW)
    assert sha(local) == sha(remote.root / BETA)
    assert remote.gets(BETA)[-1][2] == f"bytes={kept}-"


def test_corrupt_transfer_is_detected_and_refetched(tmp_path, remote):
    remote.corrupt_once.add(BETA)
    report = download("nsd", data_dir=tmp_path / "data", base_url=remote.url, **KW)
    assert BETA in report.refetched
    assert len(remote.gets(BETA)) == 2
    assert sha(tmp_path / "data" / "nsd" / BETA) == sha(remote.root / BETA)


def test_corrupted_local_file_is_found_by_the_lock_and_refetched(tmp_path, remote):
    download("nsd", data_dir=tmp_path / "data", base_url=remote.url, **KW)
    local = tmp_path / "data" / "nsd" / BETA
    data = bytearray(local.read_bytes())
    data[5000] ^= 0xFF
    local.write_bytes(bytes(data))  # same size, new mtime
    plan = plan_download("nsd", 1, "fsaverage", "1-2", tmp_path / "data", exclude=["stimuli"])
    assert [f.spec.relpath for f in plan.to_fetch] == [BETA]
    assert plan.to_fetch[0].status == "corrupt"
    report = download("nsd", data_dir=tmp_path / "data", base_url=remote.url, **KW)
    assert report.fetched == [BETA]
    assert sha(local) == sha(remote.root / BETA)


def test_persistent_checksum_mismatch_fails_loudly_and_leaves_nothing(tmp_path, faulty_server):
    (faulty_server.root / "a.bin").write_bytes(b"x" * 5000)
    m = Manifest.from_dict(
        {
            "dataset": {"name": "toy", "base_url": faulty_server.url},
            "files": [{"key": "a", "path": "a.bin", "sha256": "0" * 64}],
        }
    )
    with pytest.raises(ChecksumError, match="failed its integrity check twice"):
        download(m, data_dir=tmp_path, progress=False)
    assert sorted(p.name for p in (tmp_path / "toy").iterdir()) == []


def test_missing_remote_file_names_the_url(tmp_path, faulty_server):
    m = Manifest.from_dict(
        {
            "dataset": {"name": "toy", "base_url": faulty_server.url},
            "files": [{"key": "a", "path": "nope.bin"}],
        }
    )
    with pytest.raises(DownloadError, match=r"nope\.bin does not exist on the server"):
        download(m, data_dir=tmp_path, progress=False)


def test_offline_failure_is_fast(tmp_path):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there
    t = time.perf_counter()
    with pytest.raises(DownloadError, match=r"cannot reach 127\.0\.0\.1"):
        download("nsd", data_dir=tmp_path, base_url=f"http://127.0.0.1:{port}/", **KW)
    assert time.perf_counter() - t < 5


def test_manual_dataset_lists_what_is_missing(tmp_path):
    with pytest.raises(DownloadError, match="cannot be downloaded automatically") as e:
        download("algonauts2023", subject=1, data_dir=tmp_path, progress=False)
    assert "subj01/training_split/training_fmri/lh_training_fmri.npy" in str(e.value)


def _cli(argv):
    import argparse

    from brainenc.data.commands import add_data_commands

    parser = argparse.ArgumentParser(prog="brainenc")
    add_data_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_dry_run_reports_files_and_gigabytes(tmp_path, capsys):
    argv = [
        "data",
        "download",
        "nsd",
        "--subject",
        "1",
        "--space",
        "fsaverage",
        "--sessions",
        "1-40",
        "--data-dir",
        str(tmp_path),
        "--dry-run",
    ]
    assert _cli(argv) == 0
    out = capsys.readouterr().out
    assert "106 of 106 files to fetch, about 78.93 GB" in out
    assert "lh.betas_session40.mgh" in out
    assert not (tmp_path / "nsd").exists()


def test_files_copied_in_by_hand_are_adopted_not_refetched(tmp_path, remote):
    local = tmp_path / "data" / "nsd"
    for f in plan_download(
        "nsd", 1, "fsaverage", "1-2", tmp_path / "data", exclude=["stimuli"]
    ).files:
        (local / f.spec.relpath).parent.mkdir(parents=True, exist_ok=True)
        (local / f.spec.relpath).write_bytes((remote.root / f.spec.relpath).read_bytes())
    plan = plan_download("nsd", 1, "fsaverage", "1-2", tmp_path / "data", exclude=["stimuli"])
    assert plan.to_fetch == []
    report = download("nsd", data_dir=tmp_path / "data", base_url=remote.url, **KW)
    assert report.fetched == [] and remote.requests == []
    lock = LockFile(local, "nsd")
    assert lock.get(BETA)["sha256"] == sha(remote.root / BETA)


def test_sizes_are_shown_in_a_readable_unit():
    from brainenc.data.download import human_size

    assert [human_size(n) for n in (512, 2_500, 3_200_000, 4.5e9)] == [
        "512 B",
        "2.5 kB",
        "3.2 MB",
        "4.5 GB",
    ]
