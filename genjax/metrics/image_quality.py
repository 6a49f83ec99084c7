"""Per-image fidelity and frequency content: PSNR, SSIM and the radially averaged power spectrum.

PSNR and SSIM compare paired images (a reconstruction with its input, an
inversion with its target); the power-spectrum distance compares two *sets* of
images by how their energy spreads over spatial frequencies, which is where
upsampling artefacts of generators show (Durall et al. 2020). Images are
`[B, H, W, C]` floats in a known ``data_range`` (1 for [0, 1] pixels).
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array

__all__ = ["power_spectrum_distance", "psnr", "radial_power_spectrum", "ssim"]


def _images(x, name: str) -> Array:
    x = jnp.asarray(x, jnp.float32)
    chex.assert_rank(x, 4, custom_message=f"{name} must be images [B, H, W, C]")
    return x


def psnr(x, y, *, data_range: float = 1.0) -> Array:
    """Peak signal-to-noise ratio in dB, `[B]`: 10 log10(data_range^2 / MSE) per image pair.

    Identical images give +inf.
    """
    x, y = _images(x, "x"), _images(y, "y")
    chex.assert_equal_shape([x, y], custom_message="x and y must have the same shape")
    mse = jnp.mean((x - y) ** 2, axis=(1, 2, 3))
    return 10.0 * jnp.log10(data_range**2 / mse)


def _gaussian_window(sigma: float, truncate: float) -> np.ndarray:
    radius = int(truncate * sigma + 0.5)
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    return taps / taps.sum()


def _blur(x: Array, window: np.ndarray) -> Array:
    """Separable Gaussian filter of `[B, H, W, C]` with symmetric ("reflect" in scipy) borders."""
    radius = len(window) // 2
    x = jnp.pad(x, ((0, 0), (radius, radius), (radius, radius), (0, 0)), mode="symmetric")
    w = jnp.asarray(window, x.dtype)
    height, width = x.shape[1] - 2 * radius, x.shape[2] - 2 * radius
    x = sum(w[i] * x[:, i : i + height] for i in range(len(window)))
    return sum(w[i] * x[:, :, i : i + width] for i in range(len(window)))


def ssim(x, y, *, data_range: float = 1.0, sigma: float = 1.5, truncate: float = 3.5) -> Array:
    """Structural similarity (Wang et al. 2004) per image pair, `[B]`, in [-1, 1].

    Gaussian-weighted local statistics (std ``sigma``, window radius
    ``int(truncate * sigma + 0.5)``: 11x11 by default), population (not sample)
    covariances, K1 = 0.01, K2 = 0.03, borders reflected and the window's
    half-width cropped before averaging over pixels and channels: the protocol of
    scikit-image's ``structural_similarity(..., gaussian_weights=True)``. The
    window must fit the image: for 8x8 digits pass e.g. ``sigma=0.5``.
    """
    x, y = _images(x, "x"), _images(y, "y")
    chex.assert_equal_shape([x, y], custom_message="x and y must have the same shape")
    window = _gaussian_window(sigma, truncate)
    if len(window) > min(x.shape[1], x.shape[2]):
        raise ValueError(f"the {len(window)}x{len(window)} SSIM window exceeds the {x.shape[1:3]} images")
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mu_x, mu_y = _blur(x, window), _blur(y, window)
    var_x = _blur(x * x, window) - mu_x**2
    var_y = _blur(y * y, window) - mu_y**2
    cov = _blur(x * y, window) - mu_x * mu_y
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    pad = len(window) // 2
    return jnp.mean(ssim_map[:, pad : x.shape[1] - pad, pad : x.shape[2] - pad], axis=(1, 2, 3))


def radial_power_spectrum(images) -> Array:
    """`[B, R]`: each image's power |FFT|^2 / (H W), averaged over rings of integer frequency radius.

    Channels are averaged first. Ring r holds the frequencies (k_y, k_x), centred,
    with ``round(sqrt(k_y^2 + k_x^2)) == r``; R = round(sqrt((H/2)^2 + (W/2)^2)) + 1.
    """
    x = jnp.mean(_images(images, "images"), axis=-1)
    height, width = x.shape[1:]
    power = jnp.abs(jnp.fft.fftshift(jnp.fft.fft2(x), axes=(1, 2))) ** 2 / (height * width)
    ky, kx = np.meshgrid(np.arange(height) - height // 2, np.arange(width) - width // 2, indexing="ij")
    rings = np.rint(np.sqrt(ky**2 + kx**2)).astype(np.int32).ravel()
    num_rings = int(rings.max()) + 1
    counts = np.maximum(np.bincount(rings, minlength=num_rings), 1)
    sums = jax.vmap(lambda p: jnp.zeros(num_rings).at[rings].add(p.ravel()))(power)
    return sums / counts


def power_spectrum_distance(real, fake, *, eps: float = 1e-12) -> Array:
    """Root-mean-square difference of the two sets' log10 mean radial spectra (a scalar, >= 0).

    Zero when both sets spread their energy over frequencies alike; a generator
    that leaves checkerboard or missing high frequencies moves the outer rings.
    """
    real_spectrum = jnp.mean(radial_power_spectrum(real), axis=0)
    fake_spectrum = jnp.mean(radial_power_spectrum(fake), axis=0)
    chex.assert_equal_shape([real_spectrum, fake_spectrum], custom_message="real and fake: same image size")
    diff = jnp.log10(real_spectrum + eps) - jnp.log10(fake_spectrum + eps)
    return jnp.sqrt(jnp.mean(diff**2))
