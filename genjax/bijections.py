"""Fixed elementwise bijections with their log-determinants, on numpy or JAX arrays.

The logit transform maps pixel values in [0, 1] to the real line before a flow
(RealNVP's preprocessing). It lives here, below both the data pipeline (which
may apply it to numpy batches) and the flow family (which adds its
log-determinant to the density), so neither imports the other.
"""

from __future__ import annotations

import math
from typing import Any

import chex
import jax
import jax.numpy as jnp
import numpy as np

from genjax.reduce import sum_except_batch

ArrayLike = Any  # numpy or JAX: the result has the input's array type


def _namespace(x: ArrayLike):
    return jnp if isinstance(x, jax.Array) else np


def logit_transform(y: ArrayLike, *, alpha: float = 0.05) -> tuple[ArrayLike, ArrayLike]:
    """Logit transform (RealNVP): ``z = logit(a + (1 - 2a) y)`` maps ``[0, 1]`` to the real line.

    Squeezing by ``alpha`` keeps ``z`` finite at y = 0 or 1. Densities change by
    the log-determinant: ``log p_y(y) = log p_z(z) + log_det``.

    Args:
      y: `[N, ...]` values in [0, 1] (numpy or JAX).
      alpha: squeeze in [0, 0.5).
    Returns:
      z: `[N, ...]` same shape and array type as ``y``.
      log_det: `[N]` log |dz/dy| summed over all non-batch axes.
    """
    chex.assert_shape(y, (None, ...), custom_message="y must be a batch [N, ...]")
    xp = _namespace(y)
    s = alpha + (1 - 2 * alpha) * y
    z = xp.log(s) - xp.log1p(-s)
    # dz/dy = (1 - 2a) / (s (1 - s)) elementwise: the Jacobian is diagonal.
    log_det_elem = math.log(1 - 2 * alpha) - xp.log(s) - xp.log1p(-s)
    return z, sum_except_batch(log_det_elem)


def inverse_logit_transform(z: ArrayLike, *, alpha: float = 0.05) -> tuple[ArrayLike, ArrayLike]:
    """Inverse of :func:`logit_transform`: ``y = (sigmoid(z) - a) / (1 - 2a)``.

    Returns:
      y: `[N, ...]` same shape and array type as ``z``.
      log_det: `[N]` log |dy/dz| summed over non-batch axes (minus the forward one).
    """
    chex.assert_shape(z, (None, ...), custom_message="z must be a batch [N, ...]")
    xp = _namespace(z)
    # log sigmoid(z) and log(1 - sigmoid(z)) without overflow for large |z|.
    log_s = -xp.logaddexp(0.0, -z)
    log_one_minus_s = -xp.logaddexp(0.0, z)
    y = (xp.exp(log_s) - alpha) / (1 - 2 * alpha)
    log_det_elem = log_s + log_one_minus_s - math.log(1 - 2 * alpha)
    return y, sum_except_batch(log_det_elem)


# --- Monotone rational-quadratic splines (Durkan et al. 2019, "Neural Spline Flows") ---------------------
#
# Gregory & Delbourgo's rational-quadratic interpolant through K + 1 increasing knots with positive
# derivatives is monotone, so each bin's map is invertible in closed form (a quadratic's root).


def _identity_derivative_offset(min_derivative: float) -> float:
    """c with ``min_derivative + softplus(0 + c) == 1``: zero raw derivatives give slope 1 at every knot."""
    return math.log(math.expm1(1.0 - min_derivative))


def _knots(unnormalized: jax.Array, tail_bound: float, min_size: float) -> tuple[jax.Array, jax.Array]:
    """Bin sizes by softmax mixed with a floor, as `[..., K]`, and the K + 1 knots on [-B, B]."""
    num_bins = unnormalized.shape[-1]
    sizes = min_size + (1.0 - min_size * num_bins) * jax.nn.softmax(unnormalized, axis=-1)
    cumulative = jnp.cumsum(sizes, axis=-1)
    zero = jnp.zeros_like(cumulative[..., :1])
    knots = 2.0 * tail_bound * jnp.concatenate([zero, cumulative], axis=-1) - tail_bound
    # Pin the ends exactly: the cumulative sum's float32 round-off would leave a sliver of [-B, B]
    # outside the spline (or a gap between the last bin and the linear tail).
    knots = knots.at[..., 0].set(-tail_bound).at[..., -1].set(tail_bound)
    return knots[..., 1:] - knots[..., :-1], knots


def _select_bin(table: jax.Array, index: jax.Array) -> jax.Array:
    """``table[..., index]`` for ``table`` `[..., D, M]` and ``index`` `[..., D]`."""
    return jnp.take_along_axis(table, index[..., None], axis=-1)[..., 0]


def rational_quadratic_spline(
    x: jax.Array,
    unnormalized_widths: jax.Array,
    unnormalized_heights: jax.Array,
    unnormalized_derivatives: jax.Array,
    *,
    inverse: bool = False,
    tail_bound: float = 3.0,
    min_bin_width: float = 1e-3,
    min_bin_height: float = 1e-3,
    min_derivative: float = 1e-3,
) -> tuple[jax.Array, jax.Array]:
    """Elementwise monotone rational-quadratic spline on [-B, B] with identity (linear) tails.

    Each of the ``D`` coordinates has its own spline of K bins: widths and heights
    are ``softmax`` of the unnormalized ones, mixed with the minimum size so that
    no bin collapses, and spread over ``[-B, B]``; the K - 1 interior knot
    derivatives are ``min_derivative + softplus(u + c)`` with ``c`` chosen so
    that ``u = 0`` gives 1, and the two boundary derivatives are 1, matching
    the identity outside ``[-B, B]`` (the map is C1 there, log-det 0). All-zero
    parameters therefore give exactly the identity. The inverse solves each
    bin's quadratic with the cancellation-free root ``2c / (-b - sqrt(b^2 - 4ac))``.

    Args:
      x: `[..., D]` inputs (outputs of the forward map when ``inverse``).
      unnormalized_widths: `[..., D, K]`.
      unnormalized_heights: `[..., D, K]`.
      unnormalized_derivatives: `[..., D, K - 1]` (interior knots only).
      inverse: apply the inverse map.
      tail_bound: B > 0; the spline covers [-B, B]^D.
      min_bin_width, min_bin_height: floors on each bin's fraction of 2B; K * floor < 1.
      min_derivative: floor on the knot derivatives, in [0, 1).
    Returns:
      y: `[..., D]` the map (or its inverse) applied elementwise.
      log_det: `[..., D]` elementwise log |dy/dx| (the caller sums over D).
    """
    num_bins = unnormalized_widths.shape[-1]
    chex.assert_shape(
        unnormalized_widths, (*x.shape, None), custom_message="widths must be [..., D, K] for x [..., D]"
    )
    chex.assert_shape(
        unnormalized_heights, (*x.shape, num_bins), custom_message="heights must be [..., D, K] like widths"
    )
    chex.assert_shape(
        unnormalized_derivatives,
        (*x.shape, num_bins - 1),
        custom_message="derivatives must be [..., D, K - 1]: interior knots only",
    )
    if not tail_bound > 0:
        raise ValueError(f"tail_bound: got {tail_bound!r}; must be positive")
    for name, floor in (("min_bin_width", min_bin_width), ("min_bin_height", min_bin_height)):
        if not 0 <= floor * num_bins < 1:
            raise ValueError(f"{name}: got {floor!r}; must be in [0, 1 / num_bins) for {num_bins} bins")
    if not 0 <= min_derivative < 1:
        raise ValueError(f"min_derivative: got {min_derivative!r}; must be in [0, 1)")

    dtype = x.dtype
    widths, x_knots = _knots(unnormalized_widths.astype(dtype), tail_bound, min_bin_width)
    heights, y_knots = _knots(unnormalized_heights.astype(dtype), tail_bound, min_bin_height)
    offset = _identity_derivative_offset(min_derivative)
    interior = min_derivative + jax.nn.softplus(unnormalized_derivatives.astype(dtype) + offset)
    one = jnp.ones_like(interior[..., :1])
    derivatives = jnp.concatenate([one, interior, one], axis=-1)  # [..., D, K + 1]

    inside = jnp.abs(x) <= tail_bound
    # Outside [-B, B] the identity applies; the spline still runs there, on the safe input 0, so that
    # the untaken branch of the final `where` holds finite values and contributes zero gradients.
    # (Not a clip: clip's gradient is 1/2 at the boundary, which would halve the derivative at +-B.)
    x_in = jnp.where(inside, x, jnp.zeros_like(x))
    # The bin is the number of interior knots at or below x (searched on the input's side of the map).
    search = y_knots if inverse else x_knots
    bin_index = jnp.sum(x_in[..., None] >= search[..., 1:-1], axis=-1)
    x_k, w_k = _select_bin(x_knots, bin_index), _select_bin(widths, bin_index)
    y_k, h_k = _select_bin(y_knots, bin_index), _select_bin(heights, bin_index)
    d_k = _select_bin(derivatives, bin_index)
    d_k1 = _select_bin(derivatives, bin_index + 1)
    slope = h_k / w_k
    curvature = d_k + d_k1 - 2.0 * slope

    if inverse:
        offset_y = x_in - y_k
        a = h_k * (slope - d_k) + offset_y * curvature
        b = h_k * d_k - offset_y * curvature
        c = -slope * offset_y
        discriminant = jnp.maximum(b * b - 4.0 * a * c, 0.0)
        # b > 0 and c <= 0 in every bin, so the denominator never cancels (unlike (-b + sqrt) / 2a).
        # xi is left unclipped: a clip would halve the gradient at the knots (xi = 0 or 1 exactly).
        xi = 2.0 * c / (-b - jnp.sqrt(discriminant))
        out = xi * w_k + x_k
    else:
        xi = (x_in - x_k) / w_k
        xi_one_minus_xi = xi * (1.0 - xi)
        numerator = h_k * (slope * xi * xi + d_k * xi_one_minus_xi)
        out = y_k + numerator / (slope + curvature * xi_one_minus_xi)
    xi_one_minus_xi = xi * (1.0 - xi)
    denominator = slope + curvature * xi_one_minus_xi
    derivative_numerator = slope**2 * (d_k1 * xi**2 + 2.0 * slope * xi_one_minus_xi + d_k * (1.0 - xi) ** 2)
    log_derivative = jnp.log(derivative_numerator) - 2.0 * jnp.log(denominator)
    if inverse:
        log_derivative = -log_derivative
    return jnp.where(inside, out, x), jnp.where(inside, log_derivative, jnp.zeros_like(x))
