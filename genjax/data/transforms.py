"""Pure transforms from raw data values to model inputs.

Raw sources deliver integers in ``{0, ..., num_levels - 1}`` (digits 0..16,
binarized MNIST 0/1, uint8 images 0..255). The pipeline applies, in order:

    raw -> (uniform_dequantize | scale) -> (binarize_static | binarize_dynamic | binarize_threshold)

Every function takes and returns numpy arrays of any shape ``[N, ...]`` (the
first axis indexes examples); the random ones take their randomness
explicitly, either as an ``np.random.Generator`` or as pre-drawn ``noise``
(what the pipeline uses to draw noise for a global batch and keep one
process's rows). The logit transform that flows apply is in `genjax.bijections`.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "binarize_dynamic",
    "binarize_static",
    "binarize_threshold",
    "scale",
    "uniform_dequantize",
]


def scale(x_int: np.ndarray, num_levels: int) -> np.ndarray:
    """Map levels ``{0, ..., L-1}`` onto [0, 1]: ``x / (L - 1)``; float32, same shape.

    Binary data (L = 2) stays exactly {0, 1}; 8-bit images become k/255.
    """
    return (np.asarray(x_int, np.float32) / np.float32(num_levels - 1)).astype(np.float32)


def _bin_edges(num_levels: int) -> tuple[np.ndarray, np.ndarray]:
    """float32 [L] arrays: first float32 >= k/L and last float32 < (k+1)/L."""
    levels = np.arange(num_levels, dtype=np.float64)
    lower = (levels / num_levels).astype(np.float32)
    # float32 rounding may land just below k/L (or on/above (k+1)/L); step back in.
    below = lower.astype(np.float64) < levels / num_levels
    lower = np.where(below, np.nextafter(lower, np.float32(1)), lower)
    upper = ((levels + 1) / num_levels).astype(np.float32)
    upper = np.where(
        upper.astype(np.float64) >= (levels + 1) / num_levels, np.nextafter(upper, np.float32(0)), upper
    )
    return lower, upper


def _uniform_noise(
    shape: tuple[int, ...], rng: np.random.Generator | None, noise: np.ndarray | None
) -> np.ndarray:
    if (rng is None) == (noise is None):
        raise ValueError("pass exactly one of rng or noise")
    if noise is None:
        return rng.random(shape)
    noise = np.asarray(noise)
    if noise.shape != shape:
        raise ValueError(f"noise has shape {noise.shape}; expected {shape}")
    return noise


def uniform_dequantize(
    x_int: np.ndarray,
    num_levels: int,
    rng: np.random.Generator | None = None,
    *,
    noise: np.ndarray | None = None,
) -> np.ndarray:
    """Uniform dequantization ``y = (x + u) / L`` with ``u ~ U[0, 1)``; float32, same shape.

    ``y`` lies in the bin ``[x/L, (x+1)/L)`` of its level (guaranteed after
    float32 rounding), so a density ``p`` on ``[0, 1)^D`` over ``y`` gives the
    discrete model ``P(x) = int_bin p(y) dy``, and by Jensen

        log P(x) >= E_u[log p(y)] - D log L,

    i.e. the NLL of the discrete data in nats is at most
    ``-E[log p(y)] + D log L`` (D = number of dimensions per example). Report
    that figure (or its bits/dim) as the likelihood of the discrete data.

    Args:
      x_int: [N, ...] integer levels in {0, ..., L-1}.
      num_levels: L.
      rng: source of ``u``; or give ``noise`` instead.
      noise: pre-drawn ``u`` in [0, 1), same shape as ``x_int``.
    """
    x_int = np.asarray(x_int)
    u = _uniform_noise(x_int.shape, rng, noise)
    y = ((x_int.astype(np.float64) + u) / num_levels).astype(np.float32)
    lower, upper = _bin_edges(num_levels)
    levels = x_int.astype(np.intp)
    return np.clip(y, lower[levels], upper[levels])


def binarize_dynamic(
    x01: np.ndarray, rng: np.random.Generator | None = None, *, noise: np.ndarray | None = None
) -> np.ndarray:
    """A fresh Bernoulli(x) sample each call (dynamic binarization); float32 {0, 1}, same shape.

    Args:
      x01: [N, ...] probabilities in [0, 1].
      rng: source of the uniforms; or give ``noise`` (U[0, 1), same shape).
    """
    x01 = np.asarray(x01)
    u = _uniform_noise(x01.shape, rng, noise)
    return (u < x01).astype(np.float32)


def _counter_uniform(seed: int, example_ids: np.ndarray, event_size: int) -> np.ndarray:
    """[n, event_size] U[0, 1) floats that depend only on (seed, example id, position).

    A SplitMix64 hash of a counter: random access by example id, which a
    sequential generator cannot give, so any subset of examples in any order
    gets the same numbers.
    """
    mask = (1 << 64) - 1
    offset = np.uint64(((seed + 1) * 0x9E3779B97F4A7C15) & mask)
    counters = example_ids.astype(np.uint64)[:, None] * np.uint64(event_size) + np.arange(
        event_size, dtype=np.uint64
    )
    # uint64 array arithmetic wraps modulo 2**64, as SplitMix64 intends.
    z = counters + offset
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * 2.0**-53


def binarize_static(x01: np.ndarray, seed: int, example_ids: np.ndarray | None = None) -> np.ndarray:
    """One fixed Bernoulli(x) sample per example (static binarization); float32 {0, 1}.

    As in Larochelle & Murray (2011), the dataset is binarized once and that
    sample is reused every epoch. Instead of materialising a binarized copy,
    the uniforms are a hash of (seed, example id, pixel), so example ``i``
    gets the same binary image whichever batch, epoch or process it lands in.

    Args:
      x01: [N, ...] probabilities in [0, 1].
      seed: non-negative int; fixes the sample.
      example_ids: [N] int index of each row in its split (default 0..N-1).
    """
    x01 = np.asarray(x01)
    if example_ids is None:
        example_ids = np.arange(len(x01))
    event_size = math.prod(x01.shape[1:])
    u = _counter_uniform(seed, np.asarray(example_ids), event_size).reshape(x01.shape)
    return (u < x01).astype(np.float32)


def binarize_threshold(x01: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Deterministic binarization ``x > threshold``; float32 {0, 1}, same shape."""
    return (np.asarray(x01) > threshold).astype(np.float32)
