"""A weight-free multi-scale Gabor energy model of V1, after Kay, Naselaris, Prenger & Gallant,
"Identifying natural images from human brain activity", Nature 2008.

Pipeline (all steps differentiable, no trained weights):

1. **Luminance.** RGB in [0, 1] is resized to ``input_size`` (bilinear, antialiased), converted to
   luma (Rec. 601 weights) and mapped to contrast units, ``c = (L - 0.5) / 0.5``: a full-contrast
   grating around mid-grey has amplitude 1 and the area outside the image counts as mid-grey.
2. **Pyramid.** Scale ``s`` works on the image downsampled ``s`` times by 2 (6-tap binomial blur,
   stride 2; the taps are even so a coarse pixel is centred on the 2x2 block it summarises), so one
   small filter bank covers every scale: a 4 px wavelength at level ``s`` is ``4 * 2**s`` px at
   ``input_size`` (4, 8, 16, 32 px at 64 px: 16, 8, 4 and 2 cycles per image).
3. **Quadrature Gabors.** Even (cosine, zero-mean) and odd (sine) Gabors with an isotropic
   Gaussian envelope whose width gives ``bandwidth`` octaves (full width at half maximum of the
   frequency response; 1 octave gives sigma = 0.56 wavelengths), at ``n_orientations`` wave-vector
   angles ``k * pi / n_orientations``. Each (scale, orientation) filter pair is normalised by its
   exact response at its preferred frequency, including the attenuation of the pyramid's blurs,
   so a grating at the channel's preferred wavelength and orientation gives energy equal to its
   Michelson contrast at every scale, away from the image border (the coarsest default filters
   are larger than the image, so the grey surround lowers them to ~0.7-0.75 of it).
4. **Energy** ``sqrt(even**2 + odd**2 + eps)``: phase-invariant local contrast.
5. **Pooling** by averaging onto the same ``grid x grid`` cells at every scale (an 8 x 8 map at the
   coarsest default scale is pooled 1:1; finer scales average 2x2 to 8x8 blocks). One grid for all
   scales keeps the token layout uniform; coarse scales are then oversampled (neighbouring cells
   correlate), which a ridge penalty handles.
6. **Compression** ``log(1 + energy)``, a compressive nonlinearity on contrast energy in the
   manner of Kay et al. (responses grow sub-linearly with contrast). With energies in contrast
   units the compression is mild (a full-contrast grating gives log 2).

Orientation convention: angle ``theta`` is the direction of the wave vector measured from the +x
axis (columns, rightward) towards +y (rows, downward); ``theta = 0`` responds to vertical bars.
"""

from __future__ import annotations

import inspect
import math

import torch
import torch.nn.functional as F

from .backbone import Backbone, check_images, register_backbone

_LUMA = (0.299, 0.587, 0.114)
_BINOMIAL6 = (1.0, 5.0, 10.0, 10.0, 5.0, 1.0)
_BASE_WAVELENGTH = 4.0  # px, at every pyramid level
_EPS = 1e-8


class GaborPyramid(Backbone):
    """Multi-scale, multi-orientation Gabor energy model of V1 (see the module docstring).

    Parameters
    ----------
    input_size : int
        Side in pixels the images are resized to; a multiple of ``2 ** (n_scales - 1)``.
    n_scales : int
        Number of octave-spaced scales, wavelengths ``4 * 2**s`` px at ``input_size``.
    n_orientations : int
        Number of wave-vector angles, evenly spaced over [0, pi).
    grid : int
        Each scale's energy is average-pooled onto ``grid x grid`` cells.
    bandwidth : float
        Spatial-frequency bandwidth of the Gabors in octaves.

    Attributes
    ----------
    spec : str
        ``"gabor"`` for the defaults, else ``"gabor:"`` plus the non-default arguments, e.g.
        ``"gabor:input_size=96,grid=6"``; :meth:`Backbone.from_spec` accepts the same form.
    embed_dim : int
        ``n_scales * n_orientations * grid**2`` (2048 by default).
    wavelengths : tuple of float
        Preferred wavelength of each scale, in pixels at ``input_size``.
    orientations : tuple of float
        Wave-vector angle of each orientation channel, in radians.

    Notes
    -----
    :meth:`embed` returns features ordered (scale, orientation, row, column); :meth:`tokens`
    returns one token per grid cell (row-major) with ``n_scales * n_orientations`` channels
    ordered (scale, orientation).
    """

    def __init__(
        self,
        input_size: int = 64,
        n_scales: int = 4,
        n_orientations: int = 8,
        grid: int = 8,
        bandwidth: float = 1.0,
    ):
        params = {
            "input_size": input_size,
            "n_scales": n_scales,
            "n_orientations": n_orientations,
            "grid": grid,
            "bandwidth": bandwidth,
        }
        _check_params(params)
        super().__init__(
            spec=_spec(params),
            embed_dim=n_scales * n_orientations * grid * grid,
            input_size=input_size,
            mean=(0.5, 0.5, 0.5),
            std=(0.5, 0.5, 0.5),
        )
        self.n_scales = n_scales
        self.n_orientations = n_orientations
        self.grid = grid
        self.bandwidth = float(bandwidth)
        self.wavelengths = tuple(_BASE_WAVELENGTH * 2**s for s in range(n_scales))
        self.orientations = tuple(math.pi * k / n_orientations for k in range(n_orientations))
        self.register_buffer("luma", torch.tensor(_LUMA).view(1, 3, 1, 1), persistent=False)
        b = torch.tensor(_BINOMIAL6) / sum(_BINOMIAL6)
        self.register_buffer("blur", torch.outer(b, b)[None, None], persistent=False)
        self.register_buffer("bank", self._filter_bank(), persistent=False)

    def _filter_bank(self) -> torch.Tensor:
        """Gain-normalised filters (n_scales, 2 * n_orientations, 1, k, k), even then odd."""
        b = self.bandwidth
        sigma = _BASE_WAVELENGTH * math.sqrt(math.log(2) / 2) / math.pi * (2**b + 1) / (2**b - 1)
        radius = math.ceil(3 * sigma)
        offsets = torch.arange(-radius, radius + 1, dtype=torch.float64)
        y, x = torch.meshgrid(offsets, offsets, indexing="ij")
        envelope = torch.exp(-(x**2 + y**2) / (2 * sigma**2))
        theta = torch.tensor(self.orientations, dtype=torch.float64)
        k0 = 2 * math.pi / _BASE_WAVELENGTH
        kx, ky = k0 * torch.cos(theta), k0 * torch.sin(theta)  # (O,) rad/px at every level
        phase = kx[:, None, None] * x + ky[:, None, None] * y  # (O, k, k)
        even = envelope * torch.cos(phase)
        even = even - envelope * (even.sum((1, 2), keepdim=True) / envelope.sum())
        odd = envelope * torch.sin(phase)
        pair_gain = (_amplitude(even, kx, ky) + _amplitude(odd, kx, ky)) / 2  # (O,)
        blur = self.blur[0, 0].double()
        banks = []
        for s in range(self.n_scales):
            # the blur before level j + 1 sees this scale's frequency at 2**(j - s) times k0
            gain = pair_gain.clone()
            for j in range(s):
                gain = gain * _amplitude(blur, kx * 2.0 ** (j - s), ky * 2.0 ** (j - s))
            banks.append(torch.cat([even, odd]) / gain.repeat(2)[:, None, None])
        return torch.stack(banks)[:, :, None].float()

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """Resize and convert to luminance contrast.

        Parameters
        ----------
        images : tensor of shape (n, 3, H, W)
            Float RGB images in [0, 1].

        Returns
        -------
        tensor of shape (n, 1, input_size, input_size)
            ``(luma - 0.5) / 0.5``: 0 is mid-grey, +-1 black and white.
        """
        x = super().preprocess(check_images(images).to(self.bank.dtype))
        return (x * self.luma).sum(1, keepdim=True)

    def _pooled(self, images: torch.Tensor) -> torch.Tensor:
        """Compressed pooled energy, shape (n, n_scales * n_orientations, grid, grid)."""
        x = self.preprocess(images)
        pooled = []
        for s in range(self.n_scales):
            if s:
                x = F.conv2d(x, self.blur, stride=2, padding=2)
            z = F.conv2d(x, self.bank[s], padding=self.bank.shape[-1] // 2)
            energy = (z.square().unflatten(1, (2, self.n_orientations)).sum(1) + _EPS).sqrt()
            pooled.append(F.adaptive_avg_pool2d(energy, self.grid))
        return torch.log1p(torch.cat(pooled, dim=1))

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """Flattened Gabor energies.

        Parameters
        ----------
        images : tensor of shape (n, 3, H, W)
            Float RGB images in [0, 1].

        Returns
        -------
        tensor of shape (n, embed_dim)
            Ordered (scale, orientation, row, column).
        """
        return self._pooled(images).flatten(1)

    def tokens(self, images: torch.Tensor) -> torch.Tensor:
        """One token per grid cell.

        Parameters
        ----------
        images : tensor of shape (n, 3, H, W)
            Float RGB images in [0, 1].

        Returns
        -------
        tensor of shape (n, grid * grid, n_scales * n_orientations)
            Cells in row-major order; channels ordered (scale, orientation).
        """
        return self._pooled(images).flatten(2).transpose(1, 2)


def _amplitude(kernel: torch.Tensor, kx: torch.Tensor, ky: torch.Tensor) -> torch.Tensor:
    """``|sum_q kernel(q) exp(i k.q)|`` of centred kernels ``(..., h, w)`` at frequencies ``k``."""
    ry, rx = (kernel.shape[-2] - 1) / 2, (kernel.shape[-1] - 1) / 2
    y = torch.arange(kernel.shape[-2], dtype=torch.float64) - ry
    x = torch.arange(kernel.shape[-1], dtype=torch.float64) - rx
    phase = kx[:, None, None] * x + ky[:, None, None] * y[:, None]  # (m, h, w)
    return torch.abs((kernel * torch.exp(1j * phase)).sum((-2, -1)))


def _check_params(params: dict) -> None:
    for name in ("input_size", "n_scales", "n_orientations", "grid"):
        value = params[name]
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"GaborPyramid {name} must be a positive integer; got {value!r}")
    if not params["bandwidth"] > 0:
        raise ValueError(f"GaborPyramid bandwidth must be positive; got {params['bandwidth']}")
    factor = 2 ** (params["n_scales"] - 1)
    if params["input_size"] % factor:
        raise ValueError(
            f"GaborPyramid input_size must be a multiple of 2 ** (n_scales - 1) = {factor}; "
            f"got input_size={params['input_size']}"
        )


def _defaults() -> dict:
    return {
        name: p.default
        for name, p in inspect.signature(GaborPyramid.__init__).parameters.items()
        if p.default is not inspect.Parameter.empty
    }


def _spec(params: dict) -> str:
    """``"gabor"`` plus the non-default parameters, in constructor order."""
    changed = [f"{k}={params[k]}" for k, v in _defaults().items() if params[k] != v]
    return "gabor" + (":" + ",".join(changed) if changed else "")


@register_backbone("gabor")
def _build_gabor(spec: str, **kwargs) -> GaborPyramid:
    """``"gabor"`` or ``"gabor:name=value,..."`` with constructor argument names."""
    defaults = _defaults()
    details = spec.partition(":")[2]
    params = {}
    for item in filter(None, details.split(",")):
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or name not in defaults:
            raise ValueError(
                f"bad item {item!r} in spec {spec!r}; expected name=value with a name among "
                f"{', '.join(defaults)}"
            )
        try:
            params[name] = type(defaults[name])(value.strip())
        except ValueError:
            raise ValueError(
                f"bad value {value!r} for {name} in spec {spec!r}; expected "
                f"{type(defaults[name]).__name__}"
            ) from None
    both = sorted(set(params) & set(kwargs))
    if both:
        raise ValueError(f"{', '.join(both)} given both in spec {spec!r} and as keyword arguments")
    return GaborPyramid(**params, **kwargs)
