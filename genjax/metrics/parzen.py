"""Parzen-window (Gaussian kernel density) log-likelihood of held-out data under model samples.

The protocol of Goodfellow et al. (2014, following Breuleux et al. 2011): fit an
isotropic Gaussian KDE to N model samples, choose its bandwidth by the mean
log-likelihood of validation data, and report the mean log-likelihood of test
data in nats:

    log p(x) = logsumexp_i(-|x - s_i|^2 / (2 h^2)) - log N - (D / 2) log(2 pi h^2).

Known weaknesses, which is why papers after 2016 rarely quote it: in more than
a few dimensions the estimate is dominated by the nearest sample, so it is far
from the model's true log-likelihood even with 10k samples (Theis et al. 2016
show it ranks a model that memorises below one that adds noise, and can be
beaten by the k-means centres of the training set); it rewards blurry,
overdispersed samples; its bias shrinks only very slowly with N; and it
depends strongly on the bandwidth, so it is only meaningful with the
bandwidth chosen on data disjoint from the test set. Report it beside a real
likelihood where the family has one, never instead of it.
"""

from __future__ import annotations

from collections.abc import Sequence

import chex
import jax
import jax.numpy as jnp
import numpy as np

from genjax.metrics._batches import as_matrix

Array = jax.Array

__all__ = ["gaussian_kde_log_prob", "parzen_log_likelihood", "select_parzen_bandwidth"]


def _float_matrix(x) -> Array:
    """`[N, ...]` -> `[N, D]` float32."""
    return as_matrix(x).astype(jnp.float32)


def gaussian_kde_log_prob(centres: Array, x: Array, *, bandwidth, mask: Array | None = None) -> Array:
    """Log-density `[M]` (nats) of ``x`` `[M, D]` under the Gaussian KDE on ``centres`` `[N, D]`.

    The traceable core shared by `parzen_log_likelihood` and the ``kde`` family:
    jit- and grad-friendly, ``bandwidth`` (the kernel's standard deviation h) may be
    a traced scalar. Exactly normalised mixture of N(s_i, h^2 I):

        log p(x) = logsumexp_i(-|x - s_i|^2 / (2 h^2)) - log N - (D / 2) log(2 pi h^2).

    Args:
      centres: `[N, D]` kernel centres.
      x: `[M, D]` points to score.
      bandwidth: scalar h > 0 (not checked, so it can be traced).
      mask: optional `[N]` or `[M, N]` bool, the centres each point's mixture keeps (N counts only
        those): an unfilled buffer, or leave-one-out. A point with no kept centre scores -inf.
    Returns:
      `[M]`.
    """
    chex.assert_rank([centres, x], 2, custom_message="centres [N, D] and x [M, D]")
    chex.assert_equal_shape_suffix([centres, x], 1, custom_message="centres and x: same features")
    dim = x.shape[1]
    # |x - s|^2 = |x|^2 - 2 x.s + |s|^2, clipped at 0 against cancellation.
    sq = jnp.sum(x**2, axis=1, keepdims=True) - 2.0 * x @ centres.T + jnp.sum(centres**2, axis=1)
    log_kernel = -jnp.maximum(sq, 0.0) / (2.0 * bandwidth**2)
    log_norm = 0.5 * dim * jnp.log(2.0 * jnp.pi * bandwidth**2)
    if mask is None:
        return jax.nn.logsumexp(log_kernel, axis=1) - jnp.log(centres.shape[0]) - log_norm
    mask = jnp.broadcast_to(mask, log_kernel.shape)
    any_kept = jnp.any(mask, axis=1)
    # A row with no kept centre is computed over all centres and then replaced by -inf, so
    # neither its value nor its gradient is NaN (log 0 - log 0).
    kept = mask | ~any_kept[:, None]
    log_kernel = jnp.where(kept, log_kernel, -jnp.inf)
    log_density = jax.nn.logsumexp(log_kernel, axis=1) - jnp.log(jnp.sum(kept, axis=1)) - log_norm
    return jnp.where(any_kept, log_density, -jnp.inf)


def parzen_log_likelihood(samples, x_eval, *, bandwidth: float, chunk_size: int = 1024) -> Array:
    """Per-example log-density `[M]` (nats) of ``x_eval`` under a Gaussian KDE on ``samples``.

    Args:
      samples: `[N, ...]` model samples (the kernel centres).
      x_eval: `[M, ...]` points to score, same trailing shape.
      bandwidth: the kernel's standard deviation h > 0.
      chunk_size: evaluation points per chunk (memory is `chunk_size x N`).
    Returns:
      `[M]` log p(x); average it for the reported figure.
    """
    if not bandwidth > 0:
        raise ValueError(f"bandwidth must be positive, got {bandwidth}")
    centres, points = _float_matrix(samples), _float_matrix(x_eval)
    chex.assert_equal_shape_suffix([centres, points], 1, custom_message="samples and x_eval: same features")
    pieces = [
        _chunk_log_prob(centres, points[i : i + chunk_size], jnp.float32(bandwidth))
        for i in range(0, points.shape[0], chunk_size)
    ]
    return jnp.concatenate(pieces)


@jax.jit
def _chunk_log_prob(centres: Array, chunk: Array, bandwidth: Array) -> Array:
    # One compilation per (N, chunk) shape, whatever the bandwidth (it is traced).
    return gaussian_kde_log_prob(centres, chunk, bandwidth=bandwidth)


def select_parzen_bandwidth(
    samples, x_valid, *, bandwidths: Sequence[float] | None = None, chunk_size: int = 1024
) -> tuple[float, dict[float, float]]:
    """The bandwidth with the highest mean validation log-likelihood, and every candidate's score.

    Args:
      samples: `[N, ...]` model samples.
      x_valid: `[M, ...]` validation data (never the test set).
      bandwidths: candidates; default 20 values log-spaced over [0.01, 10] times the
        samples' mean per-feature standard deviation (a grid search, as in Goodfellow et al.).
    Returns:
      ``(best_bandwidth, {bandwidth: mean validation log-likelihood})``.
    """
    if bandwidths is None:
        scale = float(jnp.mean(jnp.std(_float_matrix(samples), axis=0))) or 1.0
        bandwidths = [float(b) for b in scale * np.logspace(-2, 1, 20)]
    scores = {
        float(h): float(jnp.mean(parzen_log_likelihood(samples, x_valid, bandwidth=h, chunk_size=chunk_size)))
        for h in bandwidths
    }
    return max(scores, key=scores.get), scores
