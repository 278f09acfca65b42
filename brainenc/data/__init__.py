"""Datasets: readers that return :class:`BrainData`, manifests and the downloader.

The names below are imported on first use, so that the ``brainenc`` command, which registers
``brainenc data`` from this package, starts without loading torch.
"""

from __future__ import annotations

from .._lazy import lazy_exports

_EXPORTS = {
    "load_algonauts": ".algonauts",
    "BrainData": ".brain_data",
    "load_byo": ".byo",
    "ChecksumError": ".download",
    "DownloadError": ".download",
    "download": ".download",
    "plan_download": ".download",
    "ArrayImages": ".images",
    "FileImages": ".images",
    "HDF5Images": ".images",
    "ImageSet": ".images",
    "to_tensor": ".images",
    "LockFile": ".manifest",
    "Manifest": ".manifest",
    "default_data_dir": ".manifest",
    "parse_sessions": ".manifest",
    "NSDDesign": ".nsd",
    "load_nsd": ".nsd",
    "prepare_nsd": ".nsd",
    "Space": ".space",
    "StoreWriter": ".store",
    "load_store": ".store",
}
__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
