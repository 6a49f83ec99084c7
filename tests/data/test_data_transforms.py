"""Transforms: scaling, dequantization bins, binarization statistics, logit log-det."""

import numpy as np
import pytest

from genjax.data import transforms


def test_scale_maps_levels_onto_unit_interval():
    np.testing.assert_array_equal(
        transforms.scale(np.array([0, 8, 16]), 17), np.array([0, 0.5, 1], np.float32)
    )
    binary = transforms.scale(np.array([[0, 1], [1, 0]], np.uint8), 2)
    np.testing.assert_array_equal(binary, [[0, 1], [1, 0]])
    assert transforms.scale(np.array([255], np.uint8), 256)[0] == 1.0
    assert transforms.scale(np.arange(17), 17).dtype == np.float32


@pytest.mark.parametrize("num_levels", [2, 17, 256])
def test_dequantized_values_lie_in_their_bins(num_levels):
    rng = np.random.default_rng(0)
    x = rng.integers(num_levels, size=(4000, 7))
    y = transforms.uniform_dequantize(x, num_levels, rng)
    assert y.dtype == np.float32 and y.shape == x.shape
    np.testing.assert_array_equal(np.floor(y.astype(np.float64) * num_levels), x)
    # u spreads uniformly over each bin: mean offset 1/2, variance 1/12.
    offset = y.astype(np.float64) * num_levels - x
    assert offset.mean() == pytest.approx(0.5, abs=0.01)
    assert offset.var() == pytest.approx(1 / 12, abs=0.005)


@pytest.mark.parametrize("num_levels", [2, 17, 256])
def test_dequantize_bin_edges_survive_float32_rounding(num_levels):
    levels = np.arange(num_levels)
    for u in [0.0, 1e-12, 0.5, 1 - 2**-53, np.nextafter(1.0, 0.0)]:
        y = transforms.uniform_dequantize(levels, num_levels, noise=np.full(num_levels, u))
        np.testing.assert_array_equal(np.floor(y.astype(np.float64) * num_levels), levels)
        assert np.all((y >= 0) & (y < 1))


def test_dequantize_rejects_bad_noise():
    with pytest.raises(ValueError, match="exactly one"):
        transforms.uniform_dequantize(np.zeros(3, int), 2)
    with pytest.raises(ValueError, match="shape"):
        transforms.uniform_dequantize(np.zeros(3, int), 2, noise=np.zeros(4))


def test_binarize_dynamic_is_bernoulli_and_fresh():
    x = np.full((200, 100), 0.3)
    rng = np.random.default_rng(0)
    first, second = transforms.binarize_dynamic(x, rng), transforms.binarize_dynamic(x, rng)
    assert set(np.unique(first)) <= {0.0, 1.0} and first.dtype == np.float32
    assert first.mean() == pytest.approx(0.3, abs=4 * np.sqrt(0.21 / x.size))
    assert (first != second).mean() == pytest.approx(2 * 0.3 * 0.7, abs=0.02)
    np.testing.assert_array_equal(transforms.binarize_dynamic(np.array([0.0, 1.0]), rng), [0, 1])


def test_binarize_static_is_a_fixed_bernoulli_sample_per_example():
    x = np.random.default_rng(1).random((500, 8, 8))
    fixed = transforms.binarize_static(x, seed=3)
    # Same example -> same sample, whatever its position in the batch.
    order = np.random.default_rng(2).permutation(500)[:100]
    np.testing.assert_array_equal(transforms.binarize_static(x[order], 3, example_ids=order), fixed[order])
    assert not np.array_equal(transforms.binarize_static(x, seed=4), fixed)
    # Unbiased: E[b] = x, so sum(b - x) has standard deviation sqrt(sum x(1-x)).
    assert abs((fixed - x).sum()) < 4 * np.sqrt((x * (1 - x)).sum())
    # Pixels of one example and examples are independent: no visible correlation.
    centred = (fixed - x).reshape(500, -1)
    assert abs(np.corrcoef(centred[:, 0], centred[:, 1])[0, 1]) < 0.2


def test_binarize_threshold():
    np.testing.assert_array_equal(
        transforms.binarize_threshold(np.array([0.0, 0.5, 0.51, 1.0])), [0, 0, 1, 1]
    )
