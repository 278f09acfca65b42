"""Datasets: readers that return :class:`BrainData`, manifests and the downloader."""

from .algonauts import load_algonauts
from .brain_data import BrainData
from .byo import load_byo
from .download import ChecksumError, DownloadError, download, plan_download
from .images import ArrayImages, FileImages, HDF5Images, ImageSet, to_tensor
from .manifest import LockFile, Manifest, default_data_dir, parse_sessions
from .nsd import NSDDesign, load_nsd, prepare_nsd
from .space import Space
from .store import StoreWriter, load_store

__all__ = [
    "ArrayImages",
    "BrainData",
    "ChecksumError",
    "DownloadError",
    "FileImages",
    "HDF5Images",
    "ImageSet",
    "LockFile",
    "Manifest",
    "NSDDesign",
    "Space",
    "StoreWriter",
    "default_data_dir",
    "download",
    "load_algonauts",
    "load_byo",
    "load_nsd",
    "load_store",
    "parse_sessions",
    "plan_download",
    "prepare_nsd",
    "to_tensor",
]
