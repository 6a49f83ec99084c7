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
