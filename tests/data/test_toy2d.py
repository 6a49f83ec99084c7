"""toy2d: densities normalise, samplers draw from them, entropies are right."""

import functools
import math
import pickle

import numpy as np
import pytest
from scipy import stats

from genjax.data import toy2d

# name -> (noise std, box half-width) for the test's own grid, wider than the
# module's entropy grid so mass outside the support would show up.
GRIDS = {
    "8gaussians": (0.5 / math.sqrt(2), 7.0),
    "25gaussians": (0.05, 5.0),
    "ring": (0.02, 2.5),
    "two_moons": (0.2, 6.0),
    "checkerboard": (0.5, 5.0),
    "swiss_roll": (0.2, 6.0),
    "pinwheel": (0.2, 7.0),
    "circles": (0.24, 6.0),
}
NUM_BINS = 16


@functools.cache
def grid_masses(name: str) -> tuple[np.ndarray, float, float]:
    """Probability of each of NUM_BINS^2 square bins on [-w, w]^2, by a midpoint sum.

    Fine cells have side std/2 (checkerboard: 0.125, aligned with its cells);
    midpoint sums of Gaussian-smooth densities at that spacing are exact to
    ~e^-79, so the masses are exact for every test purpose.
    """
    std, half_width = GRIDS[name]
    step = 0.125 if name == "checkerboard" else std / 2
    per_bin = math.ceil(2 * half_width / step / NUM_BINS)
    step = 2 * half_width / (per_bin * NUM_BINS)
    axis = -half_width + step * (np.arange(per_bin * NUM_BINS) + 0.5)
    points = np.stack(np.meshgrid(axis, axis, indexing="ij"), axis=-1).reshape(-1, 2)
    cell_mass = np.exp(toy2d.get(name).log_density(points)) * step**2
    bins = cell_mass.reshape(NUM_BINS, per_bin, NUM_BINS, per_bin).sum(axis=(1, 3))
    return bins, half_width, float(cell_mass.sum())


@pytest.mark.parametrize("name", toy2d.NAMES)
def test_log_density_integrates_to_one(name):
    _, _, total = grid_masses(name)
    assert total == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("name", toy2d.NAMES)
def test_sample_histogram_matches_density(name):
    bins, half_width, _ = grid_masses(name)
    num_samples = 40_000
    x = toy2d.get(name).sample(np.random.default_rng(123), num_samples)
    assert x.shape == (num_samples, 2) and x.dtype == np.float32
    counts, _, _ = np.histogram2d(x[:, 0], x[:, 1], bins=NUM_BINS, range=[[-half_width, half_width]] * 2)
    assert counts.sum() == num_samples  # nothing outside the box
    expected = bins * num_samples
    # Pool the sparse bins so every chi-square cell expects at least 5.
    keep = expected >= 5
    observed_cells = np.append(counts[keep], counts[~keep].sum())
    expected_cells = np.append(expected[keep], expected[~keep].sum())
    statistic = ((observed_cells - expected_cells) ** 2 / np.maximum(expected_cells, 1e-12)).sum()
    p_value = stats.chi2.sf(statistic, len(observed_cells) - 1)
    assert p_value > 1e-4, (statistic, len(observed_cells))


@pytest.mark.parametrize("name", toy2d.NAMES)
def test_entropy_matches_monte_carlo(name):
    """-mean log p(samples) estimates the entropy; a sampler/density mismatch biases it."""
    toy = toy2d.get(name)
    log_p = toy.log_density(toy.sample(np.random.default_rng(7), 20_000))
    assert np.all(np.isfinite(log_p))
    standard_error = log_p.std() / math.sqrt(len(log_p))
    assert -log_p.mean() == pytest.approx(toy.entropy, abs=4 * standard_error + 1e-9)


@pytest.mark.slow
@pytest.mark.parametrize("name", toy2d.NAMES)
def test_stored_entropy_is_recomputed(name):
    assert toy2d.compute_entropy(name) == pytest.approx(toy2d.get(name).entropy, abs=1e-9)


@pytest.mark.parametrize(("name", "num", "std"), [("ring", 8, 0.02), ("25gaussians", 25, 0.05)])
def test_separated_mixture_entropy_closed_form(name, num, std):
    # Components 40+ stds apart: H = log K + log(2 pi e std^2) to ~1e-300.
    closed_form = math.log(num) + math.log(2 * math.pi * math.e * std**2)
    assert toy2d.get(name).entropy == pytest.approx(closed_form, abs=1e-6)


def test_checkerboard_entropy_is_log_32():
    assert toy2d.get("checkerboard").entropy == pytest.approx(math.log(32), abs=1e-12)
    log_p = toy2d.get("checkerboard").log_density(np.array([[-3.0, -3.0], [-3.0, -1.0], [9.0, 0.0]]))
    assert log_p[0] == pytest.approx(-math.log(32)) and np.isneginf(log_p[1:]).all()


def test_curve_quadrature_matches_circle_closed_form():
    """The quadrature used for moons/roll/pinwheel reproduces the exact Bessel form."""
    radii, sigma = (3.0, 1.5), 0.24

    def circle(radius):
        def curve(t):
            return radius * np.stack([np.cos(t), np.sin(t)], axis=-1)

        return toy2d._Arm(curve, 0.0, 2 * math.pi, lambda t: np.full_like(t, 1 / (2 * math.pi)))

    by_quadrature = toy2d._quadrature_nodes([circle(r) for r in radii], sigma)
    x = toy2d.get("circles").sample(np.random.default_rng(0), 2000).astype(np.float64)
    x = np.concatenate([x, [[0.0, 0.0], [2.25, 0.0], [4.5, 0.1]]])
    np.testing.assert_allclose(by_quadrature(x), toy2d.get("circles").log_density(x), atol=1e-9)


@pytest.mark.parametrize("name", ["two_moons", "swiss_roll", "pinwheel"])
def test_curve_quadrature_converged(name, monkeypatch):
    toy = toy2d.get(name)
    x = toy.sample(np.random.default_rng(1), 3000)
    fine_rule = functools.partial(toy2d._quadrature_nodes, arc_per_sigma=0.25, order=12)
    monkeypatch.setattr(toy2d, "_quadrature_nodes", fine_rule)
    reference = toy2d.get(name).log_density(x)
    np.testing.assert_allclose(toy.log_density(x), reference, atol=1e-8)


def test_samplers_are_deterministic_and_picklable():
    for name in toy2d.NAMES:
        toy = toy2d.get(name)
        first = toy.sample(np.random.default_rng(5), 100)
        np.testing.assert_array_equal(first, toy.sample(np.random.default_rng(5), 100))
        assert not np.array_equal(first, toy.sample(np.random.default_rng(6), 100))
        sample, log_density = pickle.loads(pickle.dumps((toy.sample, toy.log_density)))
        np.testing.assert_array_equal(sample(np.random.default_rng(5), 100), first)
        np.testing.assert_array_equal(log_density(first), toy.log_density(first))


@pytest.mark.parametrize("name", ["ring", "25gaussians", "8gaussians"])
def test_mixture_modes_are_the_sampler_components(name):
    """``modes`` (used by mode-coverage metrics) are the centres and std the sampler draws from."""
    toy = toy2d.get(name)
    samples = toy.sample(np.random.default_rng(0), 20_000).astype(np.float64)
    distances = np.linalg.norm(samples[:, None, :] - toy.modes.centers[None], axis=-1)
    nearest = distances.argmin(axis=1)
    offsets = samples - toy.modes.centers[nearest]
    counts = np.bincount(nearest, minlength=len(toy.modes.centers))
    # Equal weights: every component gets N/K samples up to binomial noise.
    expected = len(samples) / len(counts)
    assert np.all(np.abs(counts - expected) < 5 * np.sqrt(expected))
    # Isotropic with the stated std (8gaussians' wide components overlap: only its spread is checked).
    np.testing.assert_allclose(offsets.std(axis=0), toy.modes.std, rtol=0.05 if name != "8gaussians" else 0.2)
    assert toy2d.get("two_moons").modes is None
