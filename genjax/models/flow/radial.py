"""The radial flow (Rezende & Mohamed 2015), used in the normalizing direction.

    forward(x) = x + beta * h(r) * (x - x0),   r = ||x - x0||,   h(r) = 1 / (alpha + r)

contracts (beta < 0) or expands (beta > 0) space around ``x0``, moving each
point along its ray from ``x0``. With ``alpha > 0`` it is invertible iff
``beta >= -alpha``, enforced by ``alpha = softplus(alpha_raw)`` and
``beta = -alpha + softplus(beta_raw)``. In D dimensions

    log_det = (D - 1) * log(1 + beta h) + log(1 + beta h + beta h'(r) r)

(the D - 1 directions orthogonal to the ray are scaled by ``1 + beta h``,
the radial one by ``d/dr [r (1 + beta h(r))]``; the latter simplifies to
``1 + alpha beta / (alpha + r)^2``).

The inverse is closed form: ``rho = ||z - x0|| = r (1 + beta / (alpha + r))``
is the quadratic ``r^2 + (alpha + beta - rho) r - alpha rho = 0`` whose
one non-negative root is ``r``; then ``x = x0 + (z - x0) / (1 + beta h(r))``.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from genjax.models.flow.bijector import Bijector

Array = jax.Array


def safe_norm(v: Array) -> Array:
    """`[B, D] -> [B]` Euclidean norm with a zero (not NaN) gradient at v = 0."""
    squared = jnp.sum(v**2, axis=-1)
    positive = squared > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, squared, 1.0)), 0.0)


class Radial(Bijector):
    """A radial layer on vectors `[B, D]` (see the module docstring).

    ``forward(x) -> (z [B, D], log_det [B])``; ``inverse(z) -> (x [B, D], log_det [B])``.
    ``alpha_raw = beta_raw = 0`` at init gives ``beta = 0``: a fresh layer is the identity.

    Attributes:
      init_scale: standard deviation of the random initial centre ``x0``
        (random so that stacked layers do not all start at the same point).
    """

    init_scale: float = 0.1

    @nn.compact
    def _params(self, dim: int) -> tuple[Array, Array, Array]:
        """``(x0 [D], alpha [], beta [])`` with ``alpha > 0`` and ``beta > -alpha``."""
        x0 = self.param("x0", nn.initializers.normal(self.init_scale), (dim,))
        alpha = jax.nn.softplus(self.param("alpha_raw", nn.initializers.zeros, ()))
        beta = -alpha + jax.nn.softplus(self.param("beta_raw", nn.initializers.zeros, ()))
        return x0, alpha, beta

    def _check(self, x: Array, context: Array | None = None) -> None:
        if context is not None:
            raise ValueError(f"{type(self).__name__} has no conditioner network to see a context")
        if x.ndim != 2:
            raise ValueError(f"Radial works on vectors [B, D]; got shape {x.shape}")

    @staticmethod
    def _log_det(r: Array, alpha: Array, beta: Array, dim: int) -> Array:
        """`[B]` log |dz/dx| at radius ``r`` `[B]` (the forward direction)."""
        h = 1.0 / (alpha + r)
        # Both factors are > 0 for r >= 0 because beta > -alpha.
        return (dim - 1) * jnp.log1p(beta * h) + jnp.log1p(alpha * beta * h**2)

    def forward(self, x: Array, context: Array | None = None) -> tuple[Array, Array]:
        self._check(x, context)
        dim = x.shape[-1]
        x0, alpha, beta = self._params(dim)
        offset = x - x0
        r = safe_norm(offset)
        z = x + (beta / (alpha + r))[:, None] * offset
        return z, self._log_det(r, alpha, beta, dim)

    def inverse(self, z: Array, context: Array | None = None) -> tuple[Array, Array]:
        self._check(z, context)
        dim = z.shape[-1]
        x0, alpha, beta = self._params(dim)
        offset = z - x0
        rho = safe_norm(offset)
        # The non-negative root of r^2 + p r - alpha rho = 0, p = alpha + beta - rho,
        # in whichever of the two equivalent forms avoids cancellation.
        p = alpha + beta - rho
        root = jnp.sqrt(p**2 + 4.0 * alpha * rho)
        positive = p > 0
        r = jnp.where(
            positive,
            2.0 * alpha * rho / jnp.where(positive, p + root, 1.0),
            0.5 * (root - p),
        )
        x = x0 + offset / (1.0 + beta / (alpha + r))[:, None]
        return x, -self._log_det(r, alpha, beta, dim)
