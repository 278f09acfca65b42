"""The ``Encoder`` contract shared by every encoder, its registry and its on-disk format.

An encoder kind is one subclass in one file: it sets ``name`` (its registry name, e.g.
``"linear"``), ``feature_type`` (the backbone output it reads: ``"embed"``, pooled features
(n_images, n_features), or ``"tokens"``, token grids (n_images, n_tokens, width)), ``_fitted``
(the attributes ``fit`` sets) and, when it has weights learned before it meets a subject (a
meta-learned model), ``_pretrained``; and implements ``fit``, ``predict`` and ``to_module``.
Defining the subclass registers it: :meth:`Encoder.from_spec` builds it, :func:`load_encoder`
loads it, and the study, maps, report and synthesis use it with no edit elsewhere.

An encoder directory holds two files::

    config.json          encoder name, hyperparameters, shapes, brainenc version, user metadata
    weights.safetensors  the pretrained and fitted arrays (names and meaning depend on the kind)

It is written into a temporary directory next to the target and renamed into place only once
complete, so a directory either holds a whole encoder or does not exist.
"""

from __future__ import annotations

import abc
import ast
import copy
import inspect
import json
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from safetensors.numpy import load_file, save_file
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError

from ..features.backbone import FEATURE_TYPES
from ..files import file_lock, read_json
from ..metrics import pearson_r, r2_score
from ..validation import check_pair

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "weights.safetensors"
FORMAT_VERSION = 2
"""Version of the encoder directory layout; a directory of a later version is refused.

Version 1 named the encoder under ``"kind"``; version 2 under ``"encoder"`` and records
whether the arrays include the fitted ones (``"fitted"``)."""

METRICS = {"r": pearson_r, "r2": r2_score}

ENCODERS: dict[str, type[Encoder]] = {}
"""Encoder name (as written in ``config.json``) → class; filled as subclasses are defined."""


class Encoder(BaseEstimator, abc.ABC):
    """Maps image features to the responses of many targets (voxels or vertices).

    Follows scikit-learn's estimator contract: ``__init__`` only stores hyperparameters,
    ``get_params`` / ``set_params`` read and change them (so ``sklearn.base.clone`` works),
    ``fit`` sets attributes ending in ``_`` and returns ``self``. See the module docstring for
    what a subclass declares and implements.
    """

    name: ClassVar[str]
    feature_type: ClassVar[str] = "embed"
    _fitted: ClassVar[tuple[str, ...]]
    _pretrained: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.feature_type not in FEATURE_TYPES:
            raise TypeError(
                f"{cls.__name__}.feature_type must be one of {FEATURE_TYPES}; "
                f"got {cls.feature_type!r}"
            )
        if "name" in cls.__dict__:
            taken = ENCODERS.get(cls.name)
            if taken is not None and (taken.__module__, taken.__qualname__) != (
                cls.__module__,
                cls.__qualname__,
            ):
                raise TypeError(
                    f"an encoder named {cls.name!r} is already registered "
                    f"({ENCODERS[cls.name].__name__}); pick another name"
                )
            ENCODERS[cls.name] = cls

    @classmethod
    def from_spec(cls, spec: str) -> Encoder:
        """An unfitted encoder from a spec string: ``"<name>"`` or ``"<name>:key=value,..."``.

        Values are read as Python literals when they are one (``cv=5``, ``alphas=[1, 10]``,
        ``nan_targets=ignore`` stays a string), e.g. ``Encoder.from_spec("linear:cv=5")``.
        """
        if not isinstance(spec, str) or not spec:
            raise ValueError(f"an encoder spec must be a non-empty string; got {spec!r}")
        name, _, details = spec.partition(":")
        if name not in ENCODERS:
            raise ValueError(
                f"unknown encoder {name!r} (from spec {spec!r}); known encoders: "
                f"{', '.join(sorted(ENCODERS))}"
            )
        params = {}
        for item in filter(None, _split_top_level(details)):
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                raise ValueError(
                    f"encoder spec {spec!r}: {item!r} is not key=value (e.g. 'linear:cv=5')"
                )
            params[key.strip()] = _literal(value.strip())
        if not issubclass(ENCODERS[name], cls):
            raise ValueError(
                f"encoder {name!r} is a {ENCODERS[name].__name__}, not a {cls.__name__}"
            )
        known = ENCODERS[name]._get_param_names()
        unknown = sorted(set(params) - set(known))
        if unknown:
            raise ValueError(
                f"encoder spec {spec!r}: unknown parameter {', '.join(unknown)}; {name} takes "
                f"{', '.join(known)}"
            )
        return ENCODERS[name](**params)

    @property
    def spec(self) -> str:
        """The spec string of this encoder's name and non-default hyperparameters."""
        defaults = {
            k: p.default for k, p in inspect.signature(type(self).__init__).parameters.items()
        }
        changed = [
            f"{k}={json.dumps(v, default=_to_json)}"
            for k, v in self.get_params(deep=False).items()
            if not _same(v, defaults.get(k, inspect.Parameter.empty))
        ]
        return self.name + (":" + ",".join(changed) if changed else "")

    @abc.abstractmethod
    def fit(self, features, responses) -> Encoder:
        """Fit on ``features`` (n_images, ...) and ``responses`` (n_images, n_targets)."""

    @abc.abstractmethod
    def predict(self, features) -> np.ndarray:
        """Predicted responses, float32 array of shape (n_images, n_targets)."""

    @abc.abstractmethod
    def to_module(self) -> torch.nn.Module:
        """A differentiable module mapping a float feature tensor to predicted responses."""

    def feature_weights(self) -> np.ndarray:
        """Each target's linear readout direction in the backbone's feature space.

        Array of shape (n_targets, n_features): the gradient of each target's prediction with
        respect to the (pooled) features. Captioning (BrainSCUBA, :mod:`brainenc.captions`)
        projects these into the space of image embeddings. Encoders whose prediction is not a
        linear function of pooled features raise ``NotImplementedError``.
        """
        raise NotImplementedError(
            f"the {self.name} encoder has no linear readout over pooled features, which "
            "captions need; caption a linear or in-context encoder of the same backbone"
        )

    def attention(self, features, targets=None) -> np.ndarray:
        """Where the encoder takes each target's information from in the image, if it routes.

        Attention over the token grid summing to 1 per image: shape (n_images, n_tokens) for
        the ``targets`` given (a boolean mask or indices, e.g. an ROI); encoders that read no
        token grid raise ``NotImplementedError`` (the maps and the report then leave it out).
        """
        raise NotImplementedError(
            f"the {self.name} encoder does not route attention over tokens; fit a routing "
            "encoder (Encoder.from_spec('routing')) to see where each region looks"
        )

    def cortical_maps(self, model: str) -> dict:
        """Maps of what the fitted encoder learned per target, beyond its accuracy.

        ``{file_stem: CorticalMap}``, drawn by :func:`~brainenc.maps.draw_standard_maps` for
        every run (e.g. the linear encoder's chosen ridge alphas); none by default.
        ``model`` names the model in the maps' titles.
        """
        return {}

    def fit_to_directory(self, features, responses, directory, *, rows=None, metadata=None,
                         memory=None, rois=None, progress: bool = False) -> Path:  # fmt: skip
        """Fit on ``responses[rows]`` and save to ``directory``; returns the directory.

        ``responses`` may be an on-disk array (an HDF5 dataset); this default reads the rows
        into memory, and passes ``rois`` (named target masks) and ``progress`` on when the
        kind's ``fit`` takes them. Kinds that can fit without holding every target at once
        override it (:class:`~brainenc.encoders.LinearEncoder` fits out of core within
        ``memory``).
        """
        features = np.asarray(features)
        shown = self.fit_options(rois=rois, progress=progress)
        if rows is None:
            self.fit(features, np.asarray(responses, np.float32), **shown)
            return self.save(directory, metadata)
        order = np.argsort(rows, kind="stable")  # on-disk arrays read rows in increasing order
        rows = np.asarray(rows)[order]
        self.fit(features[order], np.asarray(responses[rows], np.float32), **shown)
        return self.save(directory, metadata=metadata)

    def fit_options(self, *, rois=None, progress: bool = False) -> dict:
        """The optional keyword arguments of this kind's ``fit`` among ``rois`` (named target
        masks, for kinds that group targets by region) and ``progress``, ready to pass on."""
        takes = inspect.signature(self.fit).parameters
        options = {"progress": progress} if "progress" in takes else {}
        if rois is not None and "rois" in takes:
            options["rois"] = rois
        return options

    def __sklearn_clone__(self) -> Encoder:
        """A copy with the same hyperparameters and, if any, the same pretrained arrays (not
        the fitted ones): what ``sklearn.base.clone`` returns."""
        twin = type(self)(**copy.deepcopy(self.get_params(deep=False)))
        pretrained = [name for name in self._pretrained if hasattr(self, name)]
        for name in pretrained:
            setattr(twin, name, getattr(self, name))
        if pretrained:
            twin._after_load()
        return twin

    def __repr__(self, N_CHAR_MAX: int = 700) -> str:
        args = ", ".join(f"{k}={_short(v)}" for k, v in self.get_params(deep=False).items())
        return f"{type(self).__name__}({args})"

    @property
    def is_fitted(self) -> bool:
        """Whether ``fit`` has run (or a fitted encoder was loaded)."""
        return all(hasattr(self, name) for name in self._fitted)

    @property
    def has_pretrained(self) -> bool:
        """Whether every pretrained array is present (loaded, pretrained or set); true for a
        kind without pretrained arrays."""
        return all(hasattr(self, name) for name in self._pretrained)

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError(
                f"{type(self).__name__} is not fitted yet; call fit(features, responses) first"
            )

    def _get_arrays(self) -> dict[str, np.ndarray]:
        """The arrays to save: the pretrained ones and, once fitted, the fitted ones."""
        names = self._pretrained + (self._fitted if self.is_fitted else ())
        return {name.rstrip("_"): _contiguous(getattr(self, name)) for name in names}

    def _set_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Restore the saved attributes, then :meth:`_after_load`."""
        for name in self._pretrained + self._fitted:
            if name.rstrip("_") in arrays:
                setattr(self, name, arrays[name.rstrip("_")])
        self._after_load()

    def _after_load(self) -> None:
        """Set attributes derived from the saved arrays (e.g. ``n_features_in_``)."""

    def __sklearn_is_fitted__(self) -> bool:
        return self.is_fitted

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

        An unfitted encoder can be saved only when it has pretrained arrays (a meta-learned
        model before it meets a subject); :meth:`load` gives it back unfitted.
        """
        if not self.is_fitted and not (self._pretrained and self.has_pretrained):
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
        for name, value in self.get_params(deep=False).items():
            try:
                params[name] = json.loads(json.dumps(value, default=_to_json))
            except TypeError:
                unsaved[name] = repr(value)
        config = {
            "encoder": self.name,
            "format_version": FORMAT_VERSION,
            "fitted": all(name.rstrip("_") in shapes for name in self._fitted),
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
        """Load an encoder written by :meth:`save`, fitted or only pretrained.

        Called on :class:`Encoder` itself (or through :func:`load_encoder`) it loads any kind;
        called on a subclass it also checks that the directory holds that kind. Pretrained
        weights (a meta-learned model) load the same way: ``InContext.load(path)``.

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
        name = config.get("encoder", config.get("kind"))  # "kind" in format version 1
        if name not in ENCODERS:
            raise ValueError(
                f"{directory / CONFIG_FILE} names encoder {name!r}; known encoders: "
                f"{', '.join(ENCODERS)}"
            )
        klass = ENCODERS[name]
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
        for array, shape in config.get("shapes", {}).items():
            if list(arrays[array].shape) != shape:
                raise ValueError(
                    f"{directory / WEIGHTS_FILE}: array {array!r} has shape "
                    f"{list(arrays[array].shape)} but {CONFIG_FILE} says {shape}; the directory is "
                    "corrupt or mixes two encoders: save the encoder again"
                )
        try:
            encoder._set_arrays(arrays)
        except (KeyError, ValueError, TypeError) as e:
            raise ValueError(f"{directory / WEIGHTS_FILE} is not a {name} encoder ({e})") from None
        if config.get("fitted", True) and not encoder.is_fitted:
            raise ValueError(
                f"{directory / WEIGHTS_FILE} lacks the fitted arrays of a {name} encoder; the "
                "directory is corrupt: save the encoder again"
            )
        if encoder.is_fitted:
            _check_loaded(encoder, directory)
        encoder.metadata_ = config.get("metadata", {})
        return encoder


def _check_loaded(encoder: Encoder, directory: Path) -> None:
    """Predict from zero features: every fitted target must get a finite value.

    Zero features reach every weight (``0 * NaN`` is NaN), so NaN or inf weights show, and
    arrays that disagree on the number of features or targets fail here rather than later.
    """
    shape = getattr(encoder, "feature_shape_", None)
    if shape is None:
        return
    try:
        probe = encoder.predict(np.zeros((1, *shape), np.float32))
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
    return read_json(path, "the encoder directory is corrupt")


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


def _contiguous(value) -> np.ndarray:
    """``value`` as a C-contiguous array (safetensors writes the buffer as it lies), any rank."""
    value = np.asarray(value)
    return value if value.flags.c_contiguous else np.ascontiguousarray(value)


def _split_top_level(text: str) -> list[str]:
    """``text`` split at the commas that are not inside brackets or quotes."""
    parts, depth, start, quote = [], 0, 0, None
    for i, char in enumerate(text):
        if quote:
            quote = None if char == quote else quote
            continue
        if char in "\"'":
            quote = char
        depth += (char in "[(") - (char in "])")
        if char == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return parts


def _literal(text: str):
    """A spec value: JSON (as :attr:`Encoder.spec` writes), else a Python literal, else text."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _short(value) -> str:
    if isinstance(value, np.ndarray):
        return f"array(shape={value.shape})"
    return repr(value)


def _same(value, default) -> bool:
    if isinstance(value, np.ndarray) or isinstance(default, np.ndarray):
        return np.array_equal(np.asarray(value), np.asarray(default))
    return value == default
