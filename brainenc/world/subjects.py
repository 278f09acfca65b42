"""Simulated subjects: image-computable ground-truth responses on the fsaverage5 surface.

Every vertex computes one formula, a differentiable function of the image::

    raw_v(image)    = w_v · c(image) + gamma_v · sat(z_v(drive_v(image) ** n_v))
    signal_v(image) = ncsnr_v · (raw_v - mean_v) / std_v

- ``c`` is the category evidence of the world's oracle network (one sigmoid per category for
  face, body, place, word and food: bounded in [0, 1], near 1 only for images that hold the
  category and near 0 for off-manifold images; standardised; :mod:`.oracle`). Because it is
  bounded, no image drives a category region much beyond its best natural exemplar.
- ``drive_v`` is local contrast energy (luminance band-pass energy at two scales) pooled by the
  vertex's Gaussian population receptive field (pRF), raised to a compressive exponent ``n_v``
  (compressive spatial summation, Kay et al. 2013); its z-score saturates at ±3 SD of the world
  images (``sat(z) = 3 tanh(z / 3)``, contrast gain control), so noise and gratings drive early
  areas strongly, as they should, but cannot push the weak low-level term of a category region
  past what its category does.
- ``mean_v`` / ``std_v`` standardise ``raw_v`` over a fixed reference set of world images, so a
  vertex's signal has standard deviation ``ncsnr_v`` on world images, in units of the standard
  deviation of single-trial noise (NSD's noise-ceiling SNR convention).

Regions are placed at published MNI peaks; fsaverage pial coordinates are close to MNI305. V1, V2
and V3 are concentric bands around the V1 peak (eccentricity grows across each band, dorsal
vertices see the lower visual field, each hemisphere the contralateral one) with pRF sizes and
exponents that grow and compress from V1 to hV4 (Dumoulin & Wandell 2008; Kay et al. 2013).
Category regions weight the oracle's evidence for their category and have large foveal pRFs.
Vertices just outside a region share its tuning with a fading SNR; other vertices mix the signals
weakly and randomly, with an SNR near zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..data.images import ImageSet, resize_square, to_tensor
from .oracle import CategoryOracle, load_oracle
from .stimuli import CATEGORIES, IMAGE_SIZE, generate_stimuli

VISUAL_FIELD_DEG = 8.4  # NSD images subtend 8.4 degrees
ENERGY_GRID = 32  # contrast energy is pooled on a 32 x 32 grid of the image
REFERENCE_SEED, N_REFERENCE = 9_000, 1_000
DRIVE_SATURATION = 3.0  # the low-level drive's z-score saturates at ± this many SD
EVIDENCE_POWER = 1.0  # category evidence is sharpened to this power: only confident evidence counts


@dataclass(frozen=True)
class Region:
    """One simulated region: where it is and what it prefers.

    ``peak`` is the right-hemisphere MNI coordinate (x is mirrored for the left hemisphere);
    ``radius`` is in mm on the fsaverage sphere; ``weights`` are over :data:`CATEGORIES`;
    ``lowlevel`` is the weight of contrast energy in its pRF; ``snr`` the peak ncsnr.
    """

    name: str
    peak: tuple[float, float, float]
    radius: float
    weights: tuple[float, ...] = (0, 0, 0, 0, 0)
    lowlevel: float = 1.0
    snr: float = 0.9
    hemispheres: tuple[str, ...] = ("left", "right")


# V1/V2/V3 bands (outer radii, mm on the sphere) around the V1 peak: one region on the cortex.
EARLY_BANDS = {"V1": 16.0, "V2": 26.0, "V3": 34.0}
# pRF size = a + b * eccentricity (deg) and compressive exponent, per early area.
PRF_LAWS = {
    "V1": (0.25, 0.12, 0.8),
    "V2": (0.35, 0.2, 0.6),
    "V3": (0.5, 0.3, 0.5),
    "hV4": (0.8, 0.4, 0.3),
}

REGIONS = (
    Region("early", (10, -92, 0), EARLY_BANDS["V3"], snr=1.2),
    Region("hV4", (30, -80, -12), 10, snr=1.0),
    Region("OFA", (40, -78, -12), 8, (1.0, 0.3, -0.2, 0.1, 0.0), 0.4, 0.85),
    Region("FFA", (40, -55, -20), 9, (1.0, 0.3, -0.3, 0.1, 0.0), 0.2, 0.95),
    Region("EBA", (46, -70, 4), 12, (0.3, 1.0, -0.2, -0.1, 0.0), 0.3, 0.9),
    Region("OPA", (34, -84, 20), 9, (-0.2, -0.1, 1.0, 0.0, 0.0), 0.4, 0.85),
    Region("PPA", (26, -45, -10), 9, (-0.3, -0.2, 1.0, -0.1, 0.0), 0.2, 0.95),
    Region("RSC", (16, -54, 12), 8, (-0.2, -0.2, 1.0, -0.2, 0.0), 0.2, 0.8),
    Region("VWFA", (44, -58, -14), 8, (0.2, 0.0, -0.2, 1.0, 0.0), 0.2, 0.85, ("left",)),
    Region("food", (30, -62, -14), 8, (0.0, 0.0, -0.1, 0.0, 1.0), 0.2, 0.85),
)
ROI_NAMES = ("V1", "V2", "V3", "hV4", "OFA", "FFA", "EBA", "OPA", "PPA", "RSC", "VWFA", "food")
CENTRE_JITTER = 3.0  # mm on the sphere: how far a subject's region centre moves
HALO = 1.6  # vertices within HALO * radius share a region's tuning (fading SNR)


@lru_cache(maxsize=1)
def _fsaverage5() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Pial coordinates and unit-sphere directions of each hemisphere of fsaverage5."""
    from nilearn.datasets import load_fsaverage

    mesh = load_fsaverage("fsaverage5")
    out = {}
    for hemi in ("left", "right"):
        pial = np.asarray(mesh["pial"].parts[hemi].coordinates, dtype=np.float64)
        sphere = np.asarray(mesh["sphere"].parts[hemi].coordinates, dtype=np.float64)
        out[hemi] = (pial, sphere / np.linalg.norm(sphere, axis=1, keepdims=True))
    return out


def _sphere_distance(sphere: np.ndarray, vertex: int) -> np.ndarray:
    """Great-circle distance (mm, on the 100 mm fsaverage sphere) from ``vertex`` to all."""
    return 100.0 * np.arccos(np.clip(sphere @ sphere[vertex], -1.0, 1.0))


def _gaussian_prfs(x, y, sigma) -> np.ndarray:
    """Gaussian pRFs (deg) as weights over the energy grid, shape (n, ENERGY_GRID ** 2).

    Each integrates to 1 over the whole visual field, so the part outside the image is lost.
    """
    cells = (np.arange(ENERGY_GRID) + 0.5) / ENERGY_GRID * VISUAL_FIELD_DEG - VISUAL_FIELD_DEG / 2
    gx = np.exp(-0.5 * ((cells[None, :] - x[:, None]) / sigma[:, None]) ** 2)
    gy = np.exp(-0.5 * ((-cells[None, :] - y[:, None]) / sigma[:, None]) ** 2)  # rows top-down
    cell_area = (VISUAL_FIELD_DEG / ENERGY_GRID) ** 2
    w = gy[:, :, None] * gx[:, None, :] * cell_area / (2 * np.pi * sigma[:, None, None] ** 2)
    return w.reshape(len(x), -1).astype(np.float32)


class WorldSubject(nn.Module):
    """One simulated subject: its ROIs and its noiseless, image-computable responses.

    Subjects differ in ROI position and extent (centres moved by up to 3 mm, radii by ±15%),
    tuning (per-vertex weight jitter) and SNR.

    Parameters
    ----------
    subject : int
        Subject number (≥ 1); each number is a different, reproducible brain.
    oracle : CategoryOracle, optional
        The category oracle its regions read (a frozen submodule, so it moves with the subject
        between devices); the shipped one (:func:`~brainenc.world.oracle.load_oracle`) by
        default. Subjects may share one.

    Attributes
    ----------
    rois : dict of str to bool array of shape (20484,)
    ncsnr : array of shape (20484,)
        True noise-ceiling SNR of every vertex (signal SD over world images / noise SD).
    prf : dict of str to array of shape (20484,)
        pRF ``x``, ``y``, ``sigma`` (deg) and ``exponent`` of every vertex.
    """

    n_targets = 2 * 10242

    def __init__(self, subject: int = 1, *, oracle: CategoryOracle | None = None):
        super().__init__()
        if int(subject) < 1:
            raise ValueError(f"subject must be a positive integer; got {subject}")
        self.oracle = load_oracle() if oracle is None else oracle
        self.subject = int(subject)
        rng = np.random.default_rng([self.subject, 17])
        n = self.n_targets
        weights = np.zeros((n, len(CATEGORIES)))
        lowlevel = np.zeros(n)
        x, y = rng.uniform(-3, 3, n), rng.uniform(-3, 3, n)
        sigma, exponent = np.full(n, 2.5), np.full(n, 0.5)
        ncsnr = np.minimum(rng.exponential(0.06, n), 0.3)  # background: most vertices near 0
        self.rois = {name: np.zeros(n, dtype=bool) for name in ROI_NAMES}
        # background tuning: weak random mixtures
        weights[:] = rng.normal(0, 0.4, weights.shape)
        lowlevel[:] = rng.uniform(0, 1, n)

        offset = 0
        for hemi, (pial, sphere) in _fsaverage5().items():
            idx, best, radii = self._nearest_region(hemi, pial, sphere, rng)
            for r_i, region in enumerate(REGIONS):
                sel = np.flatnonzero(idx == r_i)
                if not sel.size:
                    continue
                q, d, u = best[0][sel], best[1][sel], best[2][sel]
                v = offset + sel
                snr = region.snr * rng.uniform(0.85, 1.15)
                inside = q <= 1
                fade = np.where(inside, 1 - 0.35 * q**2, 0.65 * np.exp(-(((q - 1) / 0.25) ** 2)))
                if region.name in ("early", "hV4"):
                    area, px, py, ps, pn = self._retinotopy(
                        region.name, radii[r_i], hemi, d, u, rng
                    )
                    x[v], y[v], sigma[v], exponent[v] = px, py, ps, pn
                    weights[v], lowlevel[v] = 0.0, 1.0
                    mass = _gaussian_prfs(px, py, ps).sum(1)
                    ncsnr[v] = np.maximum(ncsnr[v], snr * fade * np.sqrt(mass))
                    for name in np.unique(area):
                        self.rois[name][v[inside & (area == name)]] = True
                else:
                    jitter = rng.normal(0, 0.1, (sel.size, len(CATEGORIES)))
                    weights[v] = np.asarray(region.weights) + jitter
                    lowlevel[v] = region.lowlevel * rng.uniform(0.7, 1.3, sel.size)
                    x[v], y[v] = rng.normal(0, 0.8, (2, sel.size))
                    sigma[v], exponent[v] = rng.uniform(2.0, 3.5, sel.size), 0.5
                    ncsnr[v] = np.maximum(ncsnr[v], snr * fade)
                    self.rois[region.name][v[inside]] = True
            offset += len(pial)

        self.ncsnr = ncsnr
        self.prf = {"x": x, "y": y, "sigma": sigma, "exponent": exponent}
        self.register_buffer("prf_weights", torch.from_numpy(_gaussian_prfs(x, y, sigma)))
        self.register_buffer("exponent", torch.tensor(exponent, dtype=torch.float32))
        self.register_buffer("weights", torch.tensor(weights, dtype=torch.float32))
        self.register_buffer("lowlevel", torch.tensor(lowlevel, dtype=torch.float32))
        self.register_buffer("snr", torch.tensor(ncsnr, dtype=torch.float32))
        zeros, ones = torch.zeros(n), torch.ones(n)
        for name in ("drive_mean", "raw_mean"):
            self.register_buffer(name, zeros.clone())
        for name in ("drive_std", "raw_std"):
            self.register_buffer(name, ones.clone())
        self.register_buffer("evidence_mean", torch.zeros(len(CATEGORIES)))
        self.register_buffer("evidence_std", torch.ones(len(CATEGORIES)))
        self._standardize()

    # ------------------------------------------------------------------ anatomy

    @staticmethod
    def _nearest_region(hemi, pial, sphere, rng):
        """For each vertex: index of the region with the smallest distance/radius, and
        (distance/radius, distance in mm, pial offset from the region centre) to it; and the
        subject's radius of each region."""
        sign = -1.0 if hemi == "left" else 1.0
        best_q = np.full(len(pial), np.inf)
        best_d = np.zeros(len(pial))
        best_u = np.zeros((len(pial), 3))
        idx = np.full(len(pial), -1)
        radii = []
        for r_i, region in enumerate(REGIONS):
            radius = region.radius * rng.uniform(0.85, 1.15)
            radii.append(radius)
            shift = rng.random()
            if hemi not in region.hemispheres:
                continue
            peak = np.array(region.peak, dtype=float) * [sign, 1, 1]
            centre = np.argmin(np.linalg.norm(pial - peak, axis=1))
            # the subject's centre: a vertex within CENTRE_JITTER mm of the atlas one
            near = np.flatnonzero(_sphere_distance(sphere, centre) <= CENTRE_JITTER)
            centre = near[int(shift * len(near))]
            d = _sphere_distance(sphere, centre)
            q = d / radius
            closer = (q < best_q) & (q <= HALO)
            idx[closer], best_q[closer], best_d[closer] = r_i, q[closer], d[closer]
            best_u[closer] = pial[closer] - pial[centre]
        return idx, (best_q, best_d, best_u), radii

    @staticmethod
    def _retinotopy(name, radius, hemi, d, u, rng):
        """pRFs of early vertices: area, x, y, sigma (deg), exponent."""
        if name == "hV4":
            area = np.full(len(d), "hV4")
            t = np.clip(d / radius, 0, 1)
        else:
            scale = radius / EARLY_BANDS["V3"]  # the subject's jittered size
            outer = np.array(list(EARLY_BANDS.values())) * scale
            inner = np.concatenate([[0.0], outer[:-1]])
            band = np.minimum(np.searchsorted(outer, d), len(outer) - 1)
            area = np.array(list(EARLY_BANDS))[band]
            t = np.clip((d - inner[band]) / (outer[band] - inner[band]), 0, 1)
        ecc = 0.2 + 5.5 * t**1.5
        theta = np.arctan2(u[:, 2], np.hypot(u[:, 0], u[:, 1]) + 1e-6)  # dorsal: theta > 0
        side = 1.0 if hemi == "left" else -1.0  # contralateral visual field
        x = side * ecc * np.cos(theta)
        y = -ecc * np.sin(theta)  # dorsal cortex sees the lower field
        if name == "hV4":
            y = np.abs(y)  # ventral hV4: upper field
        laws = np.array([PRF_LAWS[a] for a in area])
        sigma = (laws[:, 0] + laws[:, 1] * ecc) * rng.uniform(0.85, 1.15, len(d))
        return area, x, y, sigma, laws[:, 2]

    # ------------------------------------------------------------------ responses

    @staticmethod
    def contrast_energy(images: torch.Tensor) -> torch.Tensor:
        """Local luminance contrast energy, (n, 3, H, W) in [0, 1] -> (n, ENERGY_GRID ** 2)."""
        images = resize_square(images, IMAGE_SIZE)
        lum = (images * images.new_tensor([0.299, 0.587, 0.114])[:, None, None]).sum(1, True)
        fine, coarse = _blur(lum, 1.0), _blur(lum, 2.5)
        energy = (lum - fine) ** 2 + (fine - coarse) ** 2
        return F.avg_pool2d(energy, IMAGE_SIZE // ENERGY_GRID).flatten(1) * 100.0

    def category_evidence(self, images: torch.Tensor) -> torch.Tensor:
        """The category evidence every region weighs, (n, 5) over :data:`CATEGORIES`: the
        oracle's, z-scored over the reference images; float images (n, 3, H, W) in [0, 1]."""
        evidence = self.oracle.evidence(images) ** EVIDENCE_POWER
        return (evidence - self.evidence_mean) / self.evidence_std

    def _raw(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        evidence = self.category_evidence(images)
        drive = (self.contrast_energy(images) @ self.prf_weights.T + 1e-4) ** self.exponent
        zdrive = DRIVE_SATURATION * torch.tanh((drive - self.drive_mean) / self.drive_std
                                               / DRIVE_SATURATION)  # fmt: skip
        return evidence @ self.weights.T + self.lowlevel * zdrive, evidence, drive

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Noiseless responses (n, 20484) to float images (n, 3, H, W) in [0, 1]; differentiable."""
        raw, _, _ = self._raw(images)
        return self.snr * (raw - self.raw_mean) / self.raw_std

    def respond(self, images, *, batch_size: int = 256) -> np.ndarray:
        """Noiseless responses to images (an ImageSet, uint8 (n, H, W, 3) or float tensor).

        Returns
        -------
        array of shape (n, 20484), float32
            In units of single-trial noise SD; each vertex's SD over world images is its ncsnr.
        """
        out = []
        with torch.no_grad():
            for batch in _float_batches(images, batch_size):
                out.append(self(batch).numpy())
        return np.concatenate(out) if out else np.zeros((0, self.n_targets), np.float32)

    @torch.no_grad()
    def _standardize(self):
        reference = to_tensor(generate_stimuli(N_REFERENCE, REFERENCE_SEED).images[:])
        evidence = self.oracle.evidence(reference) ** EVIDENCE_POWER
        self.evidence_mean.copy_(evidence.mean(0))
        self.evidence_std.copy_(evidence.std(0))
        _, _, drive = self._raw(reference)
        self.drive_mean.copy_(drive.mean(0))
        self.drive_std.copy_(drive.std(0).clamp_min(1e-6))
        raw, _, _ = self._raw(reference)
        self.raw_mean.copy_(raw.mean(0))
        self.raw_std.copy_(raw.std(0).clamp_min(1e-6))


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    radius = int(3 * sigma + 0.5)
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    x = F.pad(x, (radius, radius, radius, radius), mode="reflect")
    x = F.conv2d(x, k.view(1, 1, 1, -1))
    return F.conv2d(x, k.view(1, 1, -1, 1))


def _float_batches(images, batch_size: int):
    """Yield float (b, 3, H, W) tensors in [0, 1] from any supported image container."""
    if isinstance(images, torch.Tensor):
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"expected a float tensor (n, 3, H, W); got {tuple(images.shape)}")
        for i in range(0, len(images), batch_size):
            yield images[i : i + batch_size].float()
        return
    if isinstance(images, ImageSet):
        for _, batch in images.batches(np.arange(len(images)), batch_size):
            yield to_tensor(batch)
        return
    images = np.asarray(images)
    for i in range(0, len(images), batch_size):
        yield to_tensor(images[i : i + batch_size])
