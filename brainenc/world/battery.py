"""The off-manifold battery: can anything but a real exemplar drive a category region?

Each category region's true mean activation to off-manifold probes (:mod:`.probes`) is compared
with its activation to natural world images. A truth that an optimiser cannot game keeps every
probe below the natural 90th percentile of every category region. Early areas (V1–hV4) are left
out on purpose: responding to contrast is their job.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .probes import off_manifold_images
from .stimuli import generate_stimuli
from .subjects import REGIONS, WorldSubject

CATEGORY_ROIS = tuple(r.name for r in REGIONS if any(r.weights))
"""The category-selective regions: OFA, FFA, EBA, OPA, PPA, RSC, VWFA, food."""
PROBE_SEED = 14_000  # no model is trained on this off-manifold stream
NATURAL_SEED = 13_000


@dataclass(frozen=True)
class BatteryResult:
    """Activations of one subject's category regions to natural images and to probes.

    Attributes
    ----------
    rois : tuple of str
    natural : array of shape (n_natural, n_rois)
        Mean true activation of each region to each natural world image.
    probes : array of shape (n_probes, n_rois)
    kinds : list of str
        The family of each probe.
    """

    rois: tuple[str, ...]
    natural: np.ndarray
    probes: np.ndarray
    kinds: list[str]

    @property
    def natural_p90(self) -> np.ndarray:
        """Each region's 90th percentile over natural images, shape (n_rois,)."""
        return np.percentile(self.natural, 90, axis=0)

    def above_p90(self) -> np.ndarray:
        """Boolean (n_probes, n_rois): the probe drives the region above its natural p90."""
        return self.probes > self.natural_p90

    def worst(self) -> list[tuple[str, str, float, float]]:
        """Per region: (region, kind of the strongest probe, its activation, natural p90)."""
        best = self.probes.argmax(0)
        return [
            (roi, self.kinds[i], float(self.probes[i, j]), float(self.natural_p90[j]))
            for j, (roi, i) in enumerate(zip(self.rois, best, strict=True))
        ]


def run_battery(
    subject: int | WorldSubject, *, n_probes: int = 500, n_natural: int = 1000
) -> BatteryResult:
    """True activation of every category region of ``subject`` to probes and natural images."""
    model = subject if isinstance(subject, WorldSubject) else WorldSubject(subject)
    masks = np.array([model.rois[roi] for roi in CATEGORY_ROIS]).T.astype(np.float32)
    masks /= masks.sum(0)
    natural = model.respond(generate_stimuli(n_natural, NATURAL_SEED).images) @ masks
    probes, kinds = off_manifold_images(n_probes, PROBE_SEED)
    return BatteryResult(CATEGORY_ROIS, natural, model.respond(probes) @ masks, kinds)
