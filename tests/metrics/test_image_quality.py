"""PSNR and SSIM against scikit-image; the radial power spectrum against Parseval and a numpy loop."""

import numpy as np
import pytest

from genjax.metrics.image_quality import power_spectrum_distance, psnr, radial_power_spectrum, ssim

skimage_metrics = pytest.importorskip("skimage.metrics")


def _pairs(shape=(3, 24, 20, 2), seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random(shape).astype(np.float32)
    y = np.clip(x + 0.1 * rng.normal(size=shape), 0, 1).astype(np.float32)
    return x, y


def test_psnr_matches_scikit_image_per_image():
    x, y = _pairs()
    got = np.asarray(psnr(x, y, data_range=1.0))
    expected = [
        skimage_metrics.peak_signal_noise_ratio(a, b, data_range=1.0) for a, b in zip(x, y, strict=True)
    ]
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    assert np.isinf(float(psnr(x[:1], x[:1])[0]))


@pytest.mark.parametrize("sigma", [1.5, 0.8])
def test_ssim_matches_scikit_image_gaussian_protocol(sigma):
    x, y = _pairs()
    got = np.asarray(ssim(x, y, data_range=1.0, sigma=sigma))
    expected = [
        skimage_metrics.structural_similarity(
            a,
            b,
            data_range=1.0,
            gaussian_weights=True,
            sigma=sigma,
            use_sample_covariance=False,
            channel_axis=-1,
        )
        for a, b in zip(x, y, strict=True)
    ]
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(ssim(x, x, sigma=sigma)), 1.0, rtol=1e-6)


def test_ssim_refuses_a_window_larger_than_the_image():
    x, _ = _pairs((1, 8, 8, 1))
    with pytest.raises(ValueError, match="11x11 SSIM window exceeds"):
        ssim(x, x)
    assert float(ssim(x, x, sigma=0.5)[0]) == pytest.approx(1.0)


def test_radial_spectrum_keeps_parseval_and_matches_a_numpy_loop():
    rng = np.random.default_rng(2)
    images = rng.normal(size=(2, 16, 12, 1)).astype(np.float32)
    spectrum = np.asarray(radial_power_spectrum(images))
    height, width = 16, 12
    power = np.abs(np.fft.fftshift(np.fft.fft2(images[..., 0]), axes=(1, 2))) ** 2 / (height * width)
    expected = np.zeros_like(spectrum)
    counts = np.zeros(spectrum.shape[1])
    for i in range(height):
        for j in range(width):
            ring = int(np.rint(np.hypot(i - height // 2, j - width // 2)))
            expected[:, ring] += power[:, i, j]
            counts[ring] += 1
    np.testing.assert_allclose(spectrum, expected / np.maximum(counts, 1), rtol=1e-4, atol=1e-5)
    # Parseval: the ring sums (mean times count) add up to the image's energy.
    np.testing.assert_allclose((spectrum * counts).sum(axis=1), (images**2).sum(axis=(1, 2, 3)), rtol=1e-4)
    constant = np.full((1, 8, 8, 1), 0.5, np.float32)
    assert float(radial_power_spectrum(constant)[0, 0]) == pytest.approx(0.25 * 64) and np.allclose(
        radial_power_spectrum(constant)[0, 1:], 0.0, atol=1e-6
    )


def test_power_spectrum_distance_is_zero_for_alike_sets_and_grows_with_blur():
    rng = np.random.default_rng(3)
    images = rng.random((32, 16, 16, 1)).astype(np.float32)
    assert float(power_spectrum_distance(images, images)) == pytest.approx(0.0, abs=1e-6)
    blurred = (
        images + np.roll(images, 1, axis=1) + np.roll(images, 1, axis=2) + np.roll(images, (1, 1), (1, 2))
    ) / 4
    other = rng.random((32, 16, 16, 1)).astype(np.float32)
    assert float(power_spectrum_distance(images, blurred)) > 10 * float(
        power_spectrum_distance(images, other)
    )
