"""Procedural 2-D datasets whose density is known, so the true entropy is too.

Each dataset is a :class:`Toy2D`: a vectorised sampler ``sample(rng, n) ->
[n, 2] float32``, the log-density ``log_density(x: [N, 2]) -> [N]`` (float64,
nats) of exactly the process the sampler draws from, and the differential
entropy in nats. A model's NLL on these data is bounded below by the entropy,
so ``nll - entropy`` is its KL divergence to the data, in nats.

The generating processes follow the usual papers (scaled as in FFJORD unless
noted) but are stated precisely so the density is computable:

====================  =========================================================
``8gaussians``        8 equal Gaussians, centres on the circle of radius 2*sqrt(2)
                      at angles 2*pi*k/8, std 0.5/sqrt(2) (FFJORD).
                      Closed form.
``25gaussians``       5x5 grid of equal Gaussians at (-4+2i, -4+2j), std 0.05
                      (VEEGAN / PacGAN "grid"). Closed form.
``ring``              8 equal Gaussians on the circle of radius 2, std 0.02
                      (VEEGAN "ring"). Closed form.
``checkerboard``      uniform on the 8 cells (i + j even) of a 4x4 board of
                      2x2 squares covering [-4, 4]^2. Closed form, entropy log 32.
``circles``           two concentric circles, radius 3 and 1.5, angle uniform,
                      circle chosen with probability 1/2, plus isotropic
                      Gaussian noise std 0.24 (sklearn make_circles(factor=0.5,
                      noise=0.08) scaled by 3). Closed form via the Bessel
                      function I0 (the angular integral of a Gaussian).
``two_moons``         sklearn make_moons curves scaled by 2 and shifted by
                      (-1, -0.2), curve parameter t ~ U[0, pi], moon chosen with
                      probability 1/2, isotropic noise std 0.2.
``swiss_roll``        the curve t * (cos t, sin t) / 5 with t ~ U[1.5 pi, 4.5 pi],
                      isotropic noise std 0.2 (sklearn make_swiss_roll(noise=1)
                      projected and scaled by 1/5).
``pinwheel``          5 spiral arms 2 s (cos a_k(s), sin a_k(s)) with
                      a_k(s) = 2 pi k / 5 + 0.25 exp(s), s ~ N(1, 0.3^2)
                      truncated to +-4 std, isotropic noise std 0.2.
====================  =========================================================

For the last three the density is a 1-D integral of a Gaussian kernel along
the curve, computed by composite 8-point Gauss-Legendre quadrature with panels
of at most one noise std of arc length. Wherever p(x) > e^-40 max p (more than
~9 stds from the curve is beyond that) log p is within 1e-9 of the integral
(tested against a much finer rule), so these are exact for every practical
purpose; only far-tail log-densities carry an error (<1e-3 nats).

The three Gaussian mixtures (8gaussians, 25gaussians, ring) also have
``components``, a :class:`ComponentMixture`: the mixture with its component as
a label, so ``p(x | y)`` is one Gaussian, known exactly (``data.component_labels``).
Its labelled sampler draws the same points as ``sample`` from the same rng.

Entropies are stored constants, computed by :func:`compute_entropy` (a 2-D
quadrature of -p log p on a grid of spacing std/3, accurate to ~1e-6 nats for
these smooth densities); the tests recompute them and also compare against the
Monte Carlo estimate -mean(log p(samples)).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from scipy import special

# Rows of x per chunk so the [chunk, num_nodes] kernel matrix stays ~32 MB.
_MAX_KERNEL_ELEMENTS = 4_000_000


class Modes(NamedTuple):
    """The components of an equal-weight isotropic Gaussian mixture: ``centers`` [K, 2], ``std``."""

    centers: np.ndarray
    std: float


@dataclasses.dataclass(frozen=True)
class ComponentMixture:
    """An equal-weight isotropic Gaussian mixture whose component is a label y in 0..K-1.

    ``p(y) = 1/K`` and ``p(x | y) = N(x; centers_y, std^2 I)``; ``centers`` [K, 2].
    """

    centers: np.ndarray
    std: float

    @property
    def num_components(self) -> int:
        return len(self.centers)

    @property
    def label_probs(self) -> np.ndarray:
        """`[K]` p(y): uniform."""
        return np.full(self.num_components, 1.0 / self.num_components)

    def sample_labelled(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(x [n, 2] float32, y [n] int32); x is exactly what the unlabelled sampler draws from ``rng``."""
        which = rng.integers(self.num_components, size=n)
        x = (self.centers[which] + self.std * rng.standard_normal((n, 2))).astype(np.float32)
        return x, which.astype(np.int32)

    def conditional_log_density(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Exact log p(x | y) in nats: x [N, 2], y [N] int -> [N] float64."""
        x = np.asarray(x, np.float64).reshape(-1, 2)
        sq_dist = np.sum((x - self.centers[np.asarray(y)]) ** 2, axis=1)
        return -sq_dist / (2 * self.std**2) - math.log(2 * math.pi * self.std**2)


@dataclasses.dataclass(frozen=True)
class Toy2D:
    """A 2-D distribution: sampler, exact log-density and entropy (nats)."""

    name: str
    sample: Callable[[np.random.Generator, int], np.ndarray]  # -> [n, 2] float32
    log_density: Callable[[np.ndarray], np.ndarray]  # [N, 2] -> [N] float64
    entropy: float
    # Gaussian mixtures only: the centres [K, 2] and the common std, for mode-coverage metrics.
    modes: Modes | None = None
    # Gaussian mixtures only: the component as a label, with the exact p(x | y).
    components: ComponentMixture | None = None


# ---------------------------------------------------------------------------
# Mixtures of isotropic Gaussian kernels (also the quadrature form of curves).


@dataclasses.dataclass(frozen=True)
class _KernelMixture:
    """p(x) = sum_k w_k N(x; centers_k, sigma^2 I); centers [K, 2], log_weights [K]."""

    centers: np.ndarray
    log_weights: np.ndarray
    sigma: float

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float64).reshape(-1, 2)
        out = np.empty(len(x))
        centers_sq = np.sum(self.centers**2, axis=1)
        log_norm = -math.log(2 * math.pi * self.sigma**2)
        chunk = max(1, _MAX_KERNEL_ELEMENTS // len(self.centers))
        for start in range(0, len(x), chunk):
            xs = x[start : start + chunk]
            # |x - c|^2 expanded so the heavy part is one matmul.
            sq_dist = np.sum(xs**2, axis=1)[:, None] - 2 * xs @ self.centers.T + centers_sq
            logits = self.log_weights - np.maximum(sq_dist, 0) / (2 * self.sigma**2)
            peak = logits.max(axis=1, keepdims=True)
            out[start : start + chunk] = np.log(np.exp(logits - peak).sum(axis=1)) + peak[:, 0] + log_norm
        return out


def _gaussian_mixture(centers: np.ndarray, sigma: float):
    """Sampler and log-density of an equal-weight mixture; centers [K, 2]."""
    centers = np.asarray(centers, np.float64)
    log_density = _KernelMixture(centers, np.full(len(centers), -math.log(len(centers))), sigma)

    def sample(rng: np.random.Generator, n: int) -> np.ndarray:
        which = rng.integers(len(centers), size=n)
        return (centers[which] + sigma * rng.standard_normal((n, 2))).astype(np.float32)

    return sample, log_density


# ---------------------------------------------------------------------------
# Curves convolved with Gaussian noise: p(x) = E_t[N(x; curve(t), sigma^2 I)].


@dataclasses.dataclass(frozen=True)
class _Arm:
    """One curve ``curve(t): [n] -> [n, 2]`` with parameter law on [t_lo, t_hi]."""

    curve: Callable[[np.ndarray], np.ndarray]
    t_lo: float
    t_hi: float
    # Density of t on [t_lo, t_hi] (vectorised); it must integrate to 1.
    t_density: Callable[[np.ndarray], np.ndarray]


def _quadrature_nodes(
    arms: list[_Arm], sigma: float, arc_per_sigma: float = 1.0, order: int = 8
) -> _KernelMixture:
    """Kernel mixture equal to the curve density up to quadrature error.

    Composite Gauss-Legendre in t with panels of equal arc length (at most
    ``arc_per_sigma * sigma``): the integrand varies on the scale of sigma in
    arc length, so equal-arc panels put nodes where the curve moves fastest.
    """
    gl_x, gl_w = np.polynomial.legendre.leggauss(order)
    centers, log_weights = [], []
    for arm in arms:
        t_fine = np.linspace(arm.t_lo, arm.t_hi, 20_001)
        points = arm.curve(t_fine)
        arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))])
        num_panels = max(1, math.ceil(arc[-1] / (arc_per_sigma * sigma)))
        edges = np.interp(np.linspace(0, arc[-1], num_panels + 1), arc, t_fine)
        half = np.diff(edges)[:, None] / 2
        t = ((edges[:-1, None] + edges[1:, None]) / 2 + half * gl_x).ravel()
        weights = (half * gl_w).ravel() * arm.t_density(t) / len(arms)
        centers.append(arm.curve(t))
        log_weights.append(np.log(weights))
    return _KernelMixture(np.concatenate(centers), np.concatenate(log_weights), sigma)


def _curve_sampler(arms: list[_Arm], sample_t: Callable, sigma: float):
    """Sampler for an equal-weight mixture of arms; sample_t(rng, n) -> t [n]."""

    def sample(rng: np.random.Generator, n: int) -> np.ndarray:
        which = rng.integers(len(arms), size=n)
        t = sample_t(rng, n)
        points = np.empty((n, 2))
        for k, arm in enumerate(arms):
            mask = which == k
            points[mask] = arm.curve(t[mask])
        return (points + sigma * rng.standard_normal((n, 2))).astype(np.float32)

    return sample


def _uniform_t(t_lo: float, t_hi: float):
    def density(t: np.ndarray) -> np.ndarray:
        return np.full_like(t, 1.0 / (t_hi - t_lo))

    def sample(rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.uniform(t_lo, t_hi, size=n)

    return density, sample


def _two_moons(sigma: float = 0.2):
    density, sample_t = _uniform_t(0.0, math.pi)
    shift = np.array([-1.0, -0.2])

    def outer(t):
        return 2 * np.stack([np.cos(t), np.sin(t)], axis=-1) + shift

    def inner(t):
        return 2 * np.stack([1 - np.cos(t), 0.5 - np.sin(t)], axis=-1) + shift

    arms = [_Arm(outer, 0.0, math.pi, density), _Arm(inner, 0.0, math.pi, density)]
    return _curve_sampler(arms, sample_t, sigma), _quadrature_nodes(arms, sigma)


def _swiss_roll(sigma: float = 0.2):
    t_lo, t_hi = 1.5 * math.pi, 4.5 * math.pi
    density, sample_t = _uniform_t(t_lo, t_hi)

    def roll(t):
        return np.stack([t * np.cos(t), t * np.sin(t)], axis=-1) / 5

    arms = [_Arm(roll, t_lo, t_hi, density)]
    return _curve_sampler(arms, sample_t, sigma), _quadrature_nodes(arms, sigma)


def _pinwheel(sigma: float = 0.2, mean: float = 1.0, std: float = 0.3, rate: float = 0.25):
    num_arms, clip = 5, 4.0
    # Truncating s keeps the spiral's arc length (and the quadrature) finite
    # and makes the stated density exact; the mass removed is 6e-5.
    mass = special.ndtr(clip) - special.ndtr(-clip)

    def t_density(s):
        return np.exp(-0.5 * ((s - mean) / std) ** 2) / (std * math.sqrt(2 * math.pi) * mass)

    def sample_t(rng, n):
        u = special.ndtr(-clip) + mass * rng.random(n)
        return mean + std * special.ndtri(u)

    def make_arm(k: int) -> _Arm:
        def curve(s):
            angle = 2 * math.pi * k / num_arms + rate * np.exp(s)
            return 2 * s[:, None] * np.stack([np.cos(angle), np.sin(angle)], axis=-1)

        return _Arm(curve, mean - clip * std, mean + clip * std, t_density)

    arms = [make_arm(k) for k in range(num_arms)]
    return _curve_sampler(arms, sample_t, sigma), _quadrature_nodes(arms, sigma)


# ---------------------------------------------------------------------------
# Closed forms that are not Gaussian mixtures.


def _circles(radii: tuple[float, ...] = (3.0, 1.5), sigma: float = 0.24):
    def sample(rng: np.random.Generator, n: int) -> np.ndarray:
        radius = np.asarray(radii)[rng.integers(len(radii), size=n)]
        angle = rng.uniform(0, 2 * math.pi, size=n)
        points = radius[:, None] * np.stack([np.cos(angle), np.sin(angle)], axis=-1)
        return (points + sigma * rng.standard_normal((n, 2))).astype(np.float32)

    def log_density(x: np.ndarray) -> np.ndarray:
        # Averaging N(x; R (cos a, sin a), sigma^2 I) over a ~ U[0, 2 pi) gives
        # exp(-(rho^2 + R^2) / 2 sigma^2) I0(rho R / sigma^2) / (2 pi sigma^2);
        # i0e(z) = exp(-z) I0(z) keeps it finite far from the circle.
        rho = np.linalg.norm(np.asarray(x, np.float64).reshape(-1, 2), axis=1)
        per_circle = [
            -((rho - radius) ** 2) / (2 * sigma**2) + np.log(special.i0e(rho * radius / sigma**2))
            for radius in radii
        ]
        return special.logsumexp(per_circle, axis=0) - math.log(len(radii)) - math.log(2 * math.pi * sigma**2)

    return sample, log_density


# Black cells (i + j even) of a 4x4 board of 2x2 squares on [-4, 4]^2.
_CHECKER_CELLS = np.array([(i, j) for i in range(4) for j in range(4) if (i + j) % 2 == 0])


def _checkerboard():
    area = 4.0 * len(_CHECKER_CELLS)

    def sample(rng: np.random.Generator, n: int) -> np.ndarray:
        cells = _CHECKER_CELLS[rng.integers(len(_CHECKER_CELLS), size=n)]
        return (-4 + 2 * cells + 2 * rng.random((n, 2))).astype(np.float32)

    def log_density(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float64).reshape(-1, 2)
        cell = np.floor((x + 4) / 2)
        inside = np.all((cell >= 0) & (cell <= 3), axis=1)
        black = inside & (cell.sum(axis=1) % 2 == 0)
        return np.where(black, -math.log(area), -np.inf)

    return sample, log_density


# ---------------------------------------------------------------------------
# Registry.


def _ring_centers(num: int, radius: float) -> np.ndarray:
    angle = 2 * math.pi * np.arange(num) / num
    return radius * np.stack([np.cos(angle), np.sin(angle)], axis=-1)


_GRID_CENTERS = np.array([(-4 + 2 * i, -4 + 2 * j) for i in range(5) for j in range(5)])


class _Spec(NamedTuple):
    factory: Callable[[], tuple[Callable, Callable]]  # -> (sample, log_density)
    entropy: float  # nats, from compute_entropy (tests recompute it)
    noise_std: float  # sets the entropy grid spacing (noise_std / 3)
    box: tuple[float, float]  # entropy grid box per axis: support + 10 noise stds
    modes: Modes | None = None  # mixtures of Gaussians: their centres and std


_SPECS = {
    "8gaussians": _Spec(
        lambda: _gaussian_mixture(_ring_centers(8, 2 * math.sqrt(2)), 0.5 / math.sqrt(2)),
        2.8315783605264606,
        0.5 / math.sqrt(2),
        (-6.5, 6.5),
        Modes(_ring_centers(8, 2 * math.sqrt(2)), 0.5 / math.sqrt(2)),
    ),
    "25gaussians": _Spec(
        lambda: _gaussian_mixture(_GRID_CENTERS, 0.05),
        0.06528834416959328,
        0.05,
        (-4.5, 4.5),
        Modes(_GRID_CENTERS.astype(np.float64), 0.05),
    ),
    "ring": _Spec(
        lambda: _gaussian_mixture(_ring_centers(8, 2.0), 0.02),
        -2.906727402767081,
        0.02,
        (-2.25, 2.25),
        Modes(_ring_centers(8, 2.0), 0.02),
    ),
    "two_moons": _Spec(_two_moons, 2.3938791962013695, 0.2, (-5.0, 5.0)),
    # Uniform on total area 32: the entropy is log 32 exactly.
    "checkerboard": _Spec(_checkerboard, math.log(32.0), 0.75, (-4.0, 4.0)),
    "swiss_roll": _Spec(_swiss_roll, 2.6696461729919276, 0.2, (-5.0, 5.0)),
    "pinwheel": _Spec(_pinwheel, 2.595841230568454, 0.2, (-6.5, 6.5)),
    "circles": _Spec(_circles, 3.26813571170571, 0.24, (-5.5, 5.5)),
}


NAMES: tuple[str, ...] = tuple(_SPECS)


def compute_entropy(name: str) -> float:
    """Differential entropy -int p log p (nats) by quadrature on a fine grid.

    Midpoint sums on a uniform grid converge spectrally for smooth densities
    (the aliasing error of a std-sigma Gaussian at spacing sigma/3 is ~e^-177),
    and the grid box extends 10 noise stds past the support. Checkerboard is
    piecewise constant with cell edges on the grid, so its sum is exact too.
    """
    spec = _SPECS[name]
    _, log_density = spec.factory()
    spacing, (lo, hi) = spec.noise_std / 3, spec.box
    axis = np.arange(lo + spacing / 2, hi, spacing)
    grid = np.stack(np.meshgrid(axis, axis, indexing="ij"), axis=-1).reshape(-1, 2)
    log_p = log_density(grid)
    p = np.exp(log_p)
    # p log p -> 0 where p == 0 (checkerboard's white cells).
    p_log_p = np.where(p > 0, p * np.where(p > 0, log_p, 0.0), 0.0)
    return float(-p_log_p.sum() * spacing**2)


class _Named:
    """Picklable handle on a dataset's sampler (part 0) or log-density (part 1).

    The functions are closures over quadrature nodes; pickling the name and
    rebuilding (milliseconds) lets grain worker processes receive them.
    """

    def __init__(self, name: str, part: int):
        self.name, self.part = name, part
        self._fn = _SPECS[name].factory()[part]

    def __call__(self, *args):
        return self._fn(*args)

    def __reduce__(self):
        return _Named, (self.name, self.part)

    def __repr__(self) -> str:
        return f"toy2d.{('sample', 'log_density')[self.part]}({self.name!r})"


def get(name: str) -> Toy2D:
    """The toy dataset ``name`` (one of :data:`NAMES`); raises KeyError otherwise."""
    spec = _SPECS[name]
    components = None if spec.modes is None else ComponentMixture(*spec.modes)
    return Toy2D(name, _Named(name, 0), _Named(name, 1), spec.entropy, spec.modes, components)
