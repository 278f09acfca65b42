"""``load_world``: a simulated fMRI experiment on the world's stimuli, as a :class:`BrainData`."""

from __future__ import annotations

import numpy as np

from .. import __version__
from ..data.brain_data import BrainData
from ..data.space import Space
from ..metrics import noise_ceiling_from_repeats
from .stimuli import CATEGORIES, composite_boxes, generate_composites, generate_stimuli
from .subjects import WorldSubject


def load_world(
    subject: int | WorldSubject = 1,
    *,
    n_train: int = 2000,
    n_test: int = 300,
    n_repeats: int = 3,
    seed: int = 0,
    stimuli: str = "single",
    progress: bool = False,
) -> BrainData:
    """Simulate one subject's experiment: images, repeat-averaged responses, split and ROIs.

    Each image is shown ``n_repeats`` times; a trial is the subject's noiseless response plus
    independent Gaussian noise of unit SD per vertex, and ``responses`` holds the trial average
    (as NSD's betas do). Single trials are kept for the test images (``repeats``), and the noise
    ceiling is estimated from them with NSD's ncsnr formula, exactly as for real data.

    Parameters
    ----------
    subject : int or WorldSubject
        Simulated subject (≥ 1); subjects differ in ROI extent, tuning and SNR. A
        :class:`WorldSubject` built with an ``oracle`` of your own simulates a world whose
        truth reads that oracle.
    n_train, n_test : int
        Number of training and test images.
    n_repeats : int
        Trials per image (≥ 2, so that the noise ceiling can be estimated).
    seed : int
        Stimulus stream and trial noise.
    stimuli : {"single", "composite"}
        One object per 64 × 64 image (:func:`~brainenc.world.stimuli.generate_stimuli`), or
        128 × 128 scenes of two or three objects at recorded positions
        (:func:`~brainenc.world.stimuli.generate_composites`).
    progress : bool
        A progress bar while the images are drawn.

    Returns
    -------
    BrainData
        On ``fsaverage5`` (20,484 vertices). ``truth`` holds the simulator's ``noise_ceiling`` of
        the test responses, the ``ncsnr`` and pRF centre (``prf_x``, ``prf_y``: degrees right
        and up from fixation) of every vertex, the noiseless ``test_signal``, and each
        image's ``captions`` and, for single objects, ``labels`` (index into
        ``truth["categories"]``); for composites, each object's ``boxes`` (n, 3, 4: x0, y0, x1,
        y1 in pixels, NaN where an image has fewer objects) and ``box_labels`` (n, 3; -1 where
        absent) instead of one label per image.
    """
    if n_train < 2 or n_test < 2:
        raise ValueError(f"need at least 2 train and 2 test images; got {n_train} and {n_test}")
    if n_repeats < 2:
        raise ValueError(
            f"n_repeats must be at least 2 to estimate a noise ceiling; got {n_repeats}"
        )
    if stimuli not in STIMULI:
        raise ValueError(f"stimuli must be one of {', '.join(STIMULI)}; got {stimuli!r}")
    model = subject if isinstance(subject, WorldSubject) else WorldSubject(subject)
    subject = model.subject
    stim = STIMULI[stimuli](n_train + n_test, seed, progress=progress)
    signal = model.respond(stim.images)

    rng = np.random.default_rng([int(subject), int(seed), 3])
    order = rng.permutation(len(signal))
    train, test = np.sort(order[n_test:]), np.sort(order[:n_test])
    responses = signal + rng.standard_normal(signal.shape, dtype=np.float32) / np.sqrt(n_repeats)
    repeats = signal[test][None] + rng.standard_normal(
        (n_repeats, *signal[test].shape), dtype=np.float32
    )
    responses[test] = repeats.mean(0)

    signal_var = signal[test].var(0)
    return BrainData(
        responses=responses,
        images=stim.images,
        train=train,
        test=test,
        space=Space.surface("fsaverage5"),
        rois=dict(model.rois),
        noise_ceiling=noise_ceiling_from_repeats(repeats),
        repeats=repeats,
        meta={
            "dataset": "world",
            "subject": int(subject),
            "seed": int(seed),
            "n_repeats": int(n_repeats),
            **({"stimuli": stimuli} if stimuli != "single" else {}),
            "brainenc_version": __version__,
        },
        truth={
            "noise_ceiling": signal_var / (signal_var + 1.0 / n_repeats),
            "ncsnr": model.ncsnr.copy(),
            "prf_x": model.prf["x"].astype(np.float32),
            "prf_y": model.prf["y"].astype(np.float32),
            "test_signal": signal[test],
            **({"labels": stim.labels} if stimuli == "single" else {}),
            "captions": np.array(stim.captions),
            "categories": np.array(CATEGORIES),
            **(_boxes(stim) if stimuli == "composite" else {}),
        },
    )


STIMULI = {"single": generate_stimuli, "composite": generate_composites}
"""The world's stimulus sets, by name."""


def _boxes(stim) -> dict:
    boxes, labels = composite_boxes(stim)
    return {"boxes": boxes, "box_labels": labels}
