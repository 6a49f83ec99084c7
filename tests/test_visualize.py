"""Tests for genjax.visualize: exact grid layout, PNG files, 2-D plot orientation."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from genjax import visualize


def _gaussian_log_density(mean):
    mean = np.asarray(mean, np.float64)

    def log_density(points):  # [M, 2] -> [M], a unit-variance normal.
        return -0.5 * np.sum((points - mean) ** 2, axis=-1) - np.log(2 * np.pi)

    return log_density


def _centroid(mask: np.ndarray) -> tuple[float, float]:
    """(x, y) pixel centroid of a [H, W] mask as fractions of width, height."""
    rows, cols = np.nonzero(mask)
    assert rows.size > 0, "no matching pixels"
    return cols.mean() / mask.shape[1], rows.mean() / mask.shape[0]


def _reddish(rgb: np.ndarray) -> np.ndarray:
    # tab:red scatter points, alone or blended over the viridis heatmap.
    r, g, b = (rgb[..., i].astype(int) for i in range(3))
    return (r > g + 80) & (r > b + 60)


def _viridis_peak(rgb: np.ndarray) -> np.ndarray:
    r, g, b = (rgb[..., i].astype(int) for i in range(3))
    return (r > 200) & (g > 200) & (b < 100)


def _read_rgb(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def test_image_grid_places_each_image_in_its_cell():
    # Image i is constant i / 10, so every cell says which image landed there.
    values = np.arange(6) / 10.0
    images = np.broadcast_to(values[:, None, None, None], (6, 2, 3, 1))
    grid = visualize.image_grid(images, padding=1, pad_value=1.0)
    # Default layout for N = 6: 3 columns, 2 rows.
    assert grid.shape == (2 * (2 + 1) + 1, 3 * (3 + 1) + 1, 1)
    assert grid.dtype == np.uint8

    expected = np.full((7, 13, 1), 255, np.uint8)
    for i, value in enumerate(values):
        top, left = 1 + (i // 3) * 3, 1 + (i % 3) * 4
        expected[top : top + 2, left : left + 3] = round(value * 255)
    np.testing.assert_array_equal(grid, expected)


def test_image_grid_rows_padding_and_empty_cells():
    images = np.zeros((5, 2, 2, 3), np.float32)
    images[4] = 1.0
    grid = visualize.image_grid(images, num_rows=2, padding=2, pad_value=0.5)
    # 2 rows -> 3 columns; the sixth cell is empty and shows the padding.
    assert grid.shape == (2 * 4 + 2, 3 * 4 + 2, 3)
    pad = round(0.5 * 255)
    assert np.all(grid[:2] == pad) and np.all(grid[:, :2] == pad)
    np.testing.assert_array_equal(grid[6:8, 6:8], 255)  # Image 4: row 1, col 1.
    np.testing.assert_array_equal(grid[2:4, 2:4], 0)  # Image 0.
    assert np.all(grid[6:8, 10:12] == pad)  # Empty cell.


def test_image_grid_clips_and_keeps_uint8():
    floats = np.array([-1.0, 0.5, 2.0, np.nan]).reshape(4, 1, 1, 1)
    grid = visualize.image_grid(floats, num_rows=1, padding=0)
    np.testing.assert_array_equal(grid[0, :, 0], [0, 128, 255, 0])

    uint8 = np.arange(12, dtype=np.uint8).reshape(3, 2, 2)  # [N, H, W]: C = 1.
    grid = visualize.image_grid(uint8, num_rows=3, padding=0)
    np.testing.assert_array_equal(grid[..., 0], uint8.reshape(6, 2))


def test_image_grid_rejects_bad_channels():
    with pytest.raises(ValueError, match="C in 1, 3"):
        visualize.image_grid(np.zeros((2, 4, 4, 2)))


def test_save_image_grid_upscales_png(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.uniform(size=(4, 8, 8, 1))
    path = visualize.save_image_grid(tmp_path / "a" / "grid.png", images, upscale=4)
    grid = visualize.image_grid(images)  # [19, 19, 1]
    with Image.open(path) as png:
        assert png.format == "PNG" and png.mode == "L"
        assert png.size == (19 * 4, 19 * 4)
        pixels = np.asarray(png)
    np.testing.assert_array_equal(pixels[::4, ::4], grid[..., 0])
    np.testing.assert_array_equal(pixels[3::4, 3::4], grid[..., 0])


def test_save_samples_dispatches_on_shape(tmp_path):
    digits = np.random.default_rng(0).uniform(size=(9, 8, 8, 1))
    with Image.open(visualize.save_samples(tmp_path / "digits.png", digits)) as png:
        # 3x3 grid of 8x8 with padding 1 = 28 pixels, upscaled 8x so 8 -> 64.
        assert png.size == (28 * 8, 28 * 8)

    flat = digits.reshape(9, 64)
    with Image.open(visualize.save_samples(tmp_path / "flat.png", flat)) as png:
        assert png.size == (28 * 8, 28 * 8)

    rgb = np.zeros((2, 32, 32, 3))
    with Image.open(visualize.save_samples(tmp_path / "rgb.png", rgb)) as png:
        assert png.mode == "RGB" and png.size == (2 * 33 * 2 + 2, 1 * 33 * 2 + 2)

    points = np.random.default_rng(0).normal(size=(100, 2))
    path = visualize.save_samples(tmp_path / "points.png", points)
    assert _reddish(_read_rgb(path)).any()

    bits = np.eye(4, 3)  # toy_binary:3 vectors: one strip of 3 pixels each
    assert visualize.save_samples(tmp_path / "bits.png", bits).stat().st_size > 0

    with pytest.raises(ValueError, match=r"\(2, 3, 4, 5, 6\)"):
        visualize.save_samples(tmp_path / "bad.png", np.zeros((2, 3, 4, 5, 6)))


def test_scatter_orientation_over_density(tmp_path):
    # Samples in the upper right, the true density's peak in the lower left.
    samples = np.random.default_rng(0).normal(0.0, 0.1, size=(200, 2)) + 3.0
    path = visualize.save_scatter_2d(
        tmp_path / "scatter.png",
        samples,
        log_density=_gaussian_log_density([-2.0, -2.0]),
        bounds=(-4, 4, -4, 4),
        title="8 gaussians",
    )
    rgb = _read_rgb(path)
    assert rgb.shape == (500, 500, 3)
    x, y = _centroid(_reddish(rgb))
    assert x > 0.6 and y < 0.4  # Image rows grow downwards.
    x, y = _centroid(_viridis_peak(rgb))
    assert x < 0.45 and y > 0.55


def test_scatter_auto_bounds_and_non_finite_samples(tmp_path):
    samples = np.random.default_rng(0).normal(100.0, 1.0, size=(300, 2))
    samples[:5] = np.nan  # A diverged model must still get a plot.
    path = visualize.save_scatter_2d(tmp_path / "auto.png", samples)
    rgb = _read_rgb(path)
    # Auto bounds centre the cloud; fixed (-4, 4) bounds would show nothing.
    x, y = _centroid(_reddish(rgb))
    assert 0.35 < x < 0.65 and 0.35 < y < 0.65


def test_density_on_grid_orientation_and_mass():
    log_density, log_mass = visualize.density_on_grid(
        _gaussian_log_density([2.0, -1.0]), (-8.0, 8.0, -8.0, 8.0), 160
    )
    assert log_density.shape == (160, 160)
    row, col = np.unravel_index(np.argmax(log_density), log_density.shape)
    # Cell centres are -8 + 0.1 * (index + 0.5): y = -1 near row 70, x = 2 near 100.
    assert row in (69, 70) and col in (99, 100)
    assert abs(np.exp(log_mass) - 1.0) < 1e-3


def test_save_density_2d_orientation(tmp_path):
    path = visualize.save_density_2d(
        tmp_path / "d" / "density.png",
        _gaussian_log_density([2.5, -2.5]),
        bounds=(-4, 4, -4, 4),
        resolution=50,
        title="flow",
    )
    rgb = _read_rgb(path)
    x, y = _centroid(_viridis_peak(rgb))
    assert x > 0.6 and y > 0.6  # Lower right.


@pytest.mark.subprocess
def test_importing_visualize_does_not_import_matplotlib():
    code = "import sys, genjax.visualize; print('matplotlib' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
