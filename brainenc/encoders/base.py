"""The ``Encoder`` interface shared by every encoder, its registry and its on-disk format.

An encoder directory holds two files::

    config.json          kind, hyperparameters, shapes, brainenc version, user metadata
    weights.safetensors  the fitted arrays (names and meaning depend on the kind)

It is written into a temporary directory next to the target and renamed into place only once
complete, so a directory either holds a whole encoder or does not exist.
"""

from __future__ import annotations

import abc
import inspect
import json
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from safetensors.numpy import load_file, save_file
from sklearn.exceptions import NotFittedError

from ..files import file_lock
from ..metrics import pearson_r, r2_score
from ..validation import check_pair

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "weights.safetensors"
FORMAT_VERSION = 1
"""Version of the encoder directory layout; a directory of a later version is refused."""
METRICS = {"r": pearson_r, "r2": r2_score}

ENCODERS: dict[str, type[Encoder]] = {}
"""Encoder kind (as written in ``config.json``) → class; filled as subclasses are defined."""


class Encoder(abc.ABC):
    """Maps image features to the responses of many targets (voxels or vertices).

    Subclasses follow the scikit-learn / himalaya estimator contract: ``__init__`` only stores
    hyperparameters, ``fit`` sets attributes ending in ``_`` and returns ``self``. A subclass
    sets ``kind`` (its registry name) and ``_fitted`` (the attributes ``fit`` sets), and
    implements ``fit``, ``predict``, ``to_module``, ``_get_arrays`` and ``_set_arrays``.
    """

    kind: ClassVar[str]
    _fitted: ClassVar[tuple[str, ...]]

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "kind" in cls.__dict__:
            ENCODERS[cls.kind] = cls

    @abc.abstractmethod
    def fit(self, features, responses) -> Encoder:
        """Fit on ``features`` (n_images, ...) and ``responses`` (n_images, n_targets)."""

    @abc.abstractmethod
    def predict(self, features) -> np.ndarray:
        """Predicted responses, float32 array of shape (n_images, n_targets)."""

    @abc.abstractmethod
    def to_module(self) -> torch.nn.Module:
        """A differentiable module mapping a float feature tensor to predicted responses."""

    @abc.abstractmethod
    def _get_arrays(self) -> dict[str, np.ndarray]:
        """The fitted arrays to save."""

    @abc.abstractmethod
    def _set_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Restore the fitted attributes from the saved arrays."""

    def get_params(self) -> dict[str, Any]:
        """Hyperparameters, i.e. the arguments of ``__init__`` by name."""
        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return {name: getattr(self, name) for name in names}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={_short(v)}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def _check_fitted(self) -> None:
        if not all(hasattr(self, name) for name in self._fitted):
            raise NotFittedError(
                f"{type(self).__name__} is not fitted yet; call fit(features, responses) first"
            )

    def score(self, features, responses, metric: str = "r") -> np.ndarray:
        """Score the predictions of ``features`` against ``responses``, per target.

        Parameters
        ----------
        features : array of shape (n_images, n_features)
        responses : array of shape (n_images, n_targets)
        metric : {"r", "r2"}
            Pearson correlation or coefficient of determination (see :mod:`brainenc.metrics`).

        Returns
        -------
        scores : array of shape (n_targets,)
            NaN for targets with non-finite responses or predictions, or zero variance.
        """
        if metric not in METRICS:
            raise ValueError(f"unknown metric {metric!r}; known: {', '.join(METRICS)}")
        features, responses = check_pair(features, responses, allow_nan_targets=True)
        return METRICS[metric](responses, self.predict(features))

    def save(self, directory, metadata: dict | None = None) -> Path:
        """Write the fitted encoder to ``directory`` atomically.

        Parameters
        ----------
        directory : path-like
            Created, with its parents. An existing encoder directory is replaced; a file or any
            other non-empty directory is left alone and raises ``FileExistsError``. Processes
            saving to the same directory take turns (a lock file ``.<name>.lock`` beside it).
        metadata : dict, optional
            JSON-friendly provenance written into ``config.json`` (backbone spec, dataset, split…)
            and given back as ``metadata_`` by :meth:`load`.

        Returns
        -------
        Path of the directory.
        """
        self._check_fitted()
        directory = Path(directory).expanduser()
        with file_lock(directory, "encoder directory"):  # concurrent saves take turns
            return self._save(directory, metadata)

    def _save(self, directory: Path, metadata: dict | None) -> Path:
        directory = _check_target_dir(directory)
        arrays = self._get_arrays()
        text = self._config_text({k: v.shape for k, v in arrays.items()}, metadata)
        tmp = directory.with_name(f".{directory.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
        tmp.mkdir()  # not mkdtemp: the directory gets the umask's permissions, not 0700
        try:
            save_file(arrays, str(tmp / WEIGHTS_FILE))
            (tmp / CONFIG_FILE).write_text(text)
            _replace_dir(tmp, directory)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return directory

    def _config_text(self, shapes: dict[str, tuple], metadata: dict | None) -> str:
        """``config.json`` of this encoder with arrays of the given shapes."""
        from .. import __version__

        params, unsaved = {}, {}
        for name, value in self.get_params().items():
            try:
                params[name] = json.loads(json.dumps(value, default=_to_json))
            except TypeError:
                unsaved[name] = repr(value)
        config = {
            "kind": self.kind,
            "format_version": FORMAT_VERSION,
            "brainenc_version": __version__,
            "params": params,
            "params_not_saved": unsaved,
            "shapes": {k: list(v) for k, v in shapes.items()},
            "metadata": metadata or {},
        }
        try:
            return json.dumps(config, indent=1, default=_to_json) + "\n"
        except TypeError as e:
            raise TypeError(f"metadata must be JSON-friendly: {e}") from None

    @classmethod
    def load(cls, directory) -> Encoder:
        """Load an encoder written by :meth:`save`.

        Called on :class:`Encoder` itself (or through :func:`load_encoder`) it loads any kind;
        called on a subclass it also checks that the directory holds that kind.

        Raises ``ValueError`` for a directory of a later format version, arrays whose shapes
        differ from ``config.json`` or from each other, and weights that predict NaN or inf for a
        target the encoder fitted.
        """
        directory = Path(directory).expanduser()
        config = _read_config(directory)
        version = config.get("format_version", 1)
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise ValueError(
                f"{directory / CONFIG_FILE} has format version {version!r}; this brainenc reads "
                f"up to {FORMAT_VERSION}: upgrade brainenc to load it"
            )
        kind = config.get("kind")
        if kind not in ENCODERS:
            raise ValueError(
                f"{directory / CONFIG_FILE} names encoder kind {kind!r}; known kinds: "
                f"{', '.join(ENCODERS)}"
            )
        klass = ENCODERS[kind]
        if not issubclass(klass, cls):
            raise ValueError(f"{directory} holds a {klass.__name__}, not a {cls.__name__}")
        try:
            arrays = load_file(str(directory / WEIGHTS_FILE))
        except FileNotFoundError:
            raise FileNotFoundError(f"{directory / WEIGHTS_FILE} is missing") from None
        except Exception as e:
            raise ValueError(f"{directory / WEIGHTS_FILE} is corrupt or truncated ({e})") from None
        encoder = klass(**config.get("params", {}))
        missing = set(config.get("shapes", {})) - set(arrays)
        if missing:
            raise ValueError(f"{directory / WEIGHTS_FILE} lacks arrays {sorted(missing)}")
        for name, shape in config.get("shapes", {}).items():
            if list(arrays[name].shape) != shape:
                raise ValueError(
                    f"{directory / WEIGHTS_FILE}: array {name!r} has shape "
                    f"{list(arrays[name].shape)} but {CONFIG_FILE} says {shape}; the directory is "
                    "corrupt or mixes two encoders: save the encoder again"
                )
        try:
            encoder._set_arrays(arrays)
        except (KeyError, ValueError, TypeError) as e:
            raise ValueError(f"{directory / WEIGHTS_FILE} is not a {kind} encoder ({e})") from None
        _check_loaded(encoder, directory)
        encoder.metadata_ = config.get("metadata", {})
        return encoder


def _check_loaded(encoder: Encoder, directory: Path) -> None:
    """Predict from zero features: every fitted target must get a finite value.

    Zero features reach every weight (``0 * NaN`` is NaN), so NaN or inf weights show, and
    arrays that disagree on the number of features or targets fail here rather than later.
    """
    n_features = getattr(encoder, "n_features_in_", None)
    if n_features is None:
        return
    try:
        probe = encoder.predict(np.zeros((1, n_features), np.float32))
    except ValueError as e:
        raise ValueError(
            f"{directory / WEIGHTS_FILE}: the arrays do not fit together ({e}); the directory is "
            "corrupt: save the encoder again"
        ) from None
    fitted = np.asarray(getattr(encoder, "valid_targets_", np.ones(probe.shape[1], bool)), bool)
    if probe.shape != (1, fitted.shape[0]):
        raise ValueError(
            f"{directory / WEIGHTS_FILE}: the encoder predicts {probe.shape[1]} targets but marks "
            f"{fitted.shape[0]} as fitted; the directory is corrupt: save the encoder again"
        )
    bad = int((~np.isfinite(probe[0, fitted])).sum())
    if bad:
        raise ValueError(
            f"{directory / WEIGHTS_FILE}: the weights predict NaN or inf for {bad} fitted "
            "targets; the file is corrupt: fit and save the encoder again"
        )


def load_encoder(directory) -> Encoder:
    """Load whichever kind of encoder was saved in ``directory`` (see :meth:`Encoder.save`)."""
    return Encoder.load(directory)


def _check_target_dir(directory) -> Path:
    """``directory`` as a path an encoder may be written to (absent, empty or an encoder)."""
    directory = Path(directory).expanduser()
    if directory.exists() and not directory.is_dir():
        raise FileExistsError(
            f"{directory} is a file, not an encoder directory; choose another path"
        )
    if directory.exists() and not (directory / CONFIG_FILE).exists() and any(directory.iterdir()):
        raise FileExistsError(
            f"{directory} exists and is not an encoder directory; choose another path"
        )
    return directory


def _read_config(directory: Path) -> dict:
    path = directory / CONFIG_FILE
    if not path.is_file():
        what = "does not exist" if not directory.exists() else f"has no {CONFIG_FILE}"
        raise FileNotFoundError(
            f"no encoder at {directory}: the directory {what}; write one with encoder.save()"
        )
    try:
        config = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(
            f"{path} is not valid JSON ({e}); the encoder directory is corrupt"
        ) from None
    if not isinstance(config, dict):
        raise ValueError(f"{path} must hold a JSON object; the encoder directory is corrupt")
    return config


def _replace_dir(src: Path, dest: Path) -> None:
    """Move the complete directory ``src`` to ``dest``, replacing a previous ``dest``."""
    if not dest.exists():
        os.replace(src, dest)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old.", dir=dest.parent))
    os.replace(dest, old / dest.name)
    try:
        os.replace(src, dest)
    except BaseException:
        os.replace(old / dest.name, dest)
        raise
    finally:
        shutil.rmtree(old, ignore_errors=True)


def _to_json(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _short(value) -> str:
    if isinstance(value, np.ndarray):
        return f"array(shape={value.shape})"
    return repr(value)
