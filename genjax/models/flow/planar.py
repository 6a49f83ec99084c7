"""The planar flow (Rezende & Mohamed 2015), used in the normalizing direction.

    forward(x) = x + u_hat * tanh(w . x + b)
    log_det    = log(1 + (w . u_hat) * tanh'(w . x + b))

The map only moves points along ``u_hat`` by an amount that depends on
``w . x``; it is invertible iff ``w . u_hat >= -1``. The paper's
reparameterisation enforces that for any raw ``u``:

    u_hat = u + (m(w . u) - w . u) * w / ||w||^2,   m(a) = -1 + softplus(a)

so ``w . u_hat = m(w . u) > -1`` and ``1 + (w . u_hat) * tanh' > 0``.

There is no closed-form inverse. Projecting ``z = x + u_hat * tanh(a + b)``
on ``w`` gives a scalar equation for ``a = w . x``:

    w . z = a + (w . u_hat) * tanh(a + b)

whose right side is strictly increasing in ``a``, and since ``|tanh| <= 1``
the root lies in ``[w . z - |w . u_hat|, w . z + |w . u_hat|]``. Bisection
on that bracket (a fixed number of steps in a ``fori_loop``) finds it; then
``x = z - u_hat * tanh(a + b)``.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from genjax.models.flow.bijector import Bijector

Array = jax.Array


def planar_slope(a: Array) -> Array:
    """The paper's ``m(a) = -1 + softplus(a)``: any real to (-1, inf), the allowed ``w . u_hat``."""
    return -1.0 + jax.nn.softplus(a)


class Planar(Bijector):
    """A planar layer on vectors `[B, D]` (see the module docstring).

    ``forward(x) -> (z [B, D], log_det [B])``; ``inverse(z) -> (x [B, D], log_det [B])``.

    Attributes:
      init_scale: standard deviation of the random initial ``u`` and ``w``
        (``b`` starts at 0). ``w`` must not be 0: the reparameterisation
        divides by ``||w||^2``.
      bisection_steps: bisection iterations of the inverse; each halves the
        bracket of width ``2 |w . u_hat|``, so 60 reach float32 resolution
        for any realistic ``|w . u_hat|``.
    """

    init_scale: float = 0.1
    bisection_steps: int = 60

    @nn.compact
    def _params(self, dim: int) -> tuple[Array, Array, Array, Array]:
        """``(u_hat [D], w [D], b [], w . u_hat [])`` from the raw parameters."""
        u = self.param("u", nn.initializers.normal(self.init_scale), (dim,))
        w = self.param("w", nn.initializers.normal(self.init_scale), (dim,))
        b = self.param("b", nn.initializers.zeros, ())
        wu = jnp.dot(w, u)
        slope = planar_slope(wu)
        u_hat = u + (slope - wu) * w / jnp.sum(w**2)
        # ``slope`` equals ``w . u_hat`` exactly in real arithmetic; using it
        # rather than the rounded dot product keeps ``1 + slope * tanh'`` > 0.
        return u_hat, w, b, slope

    def _check(self, x: Array, context: Array | None = None) -> None:
        if context is not None:
            raise ValueError(f"{type(self).__name__} has no conditioner network to see a context")
        if x.ndim != 2:
            raise ValueError(f"Planar works on vectors [B, D]; got shape {x.shape}")

    def forward(self, x: Array, context: Array | None = None) -> tuple[Array, Array]:
        self._check(x, context)
        u_hat, w, b, slope = self._params(x.shape[-1])
        t = jnp.tanh(x @ w + b)
        return x + t[:, None] * u_hat, jnp.log1p(slope * (1.0 - t**2))

    def inverse(self, z: Array, context: Array | None = None) -> tuple[Array, Array]:
        self._check(z, context)
        u_hat, w, b, slope = self._params(z.shape[-1])
        target = z @ w

        def excess(a: Array) -> Array:
            """``a + slope * tanh(a + b) - w . z``: increasing in a, zero at the root."""
            return a + slope * jnp.tanh(a + b) - target

        def bisect(_, bracket: tuple[Array, Array]) -> tuple[Array, Array]:
            low, high = bracket
            middle = 0.5 * (low + high)
            above = excess(middle) > 0
            return jnp.where(above, low, middle), jnp.where(above, middle, high)

        radius = jnp.abs(slope)
        bracket = (jax.lax.stop_gradient(target - radius), jax.lax.stop_gradient(target + radius))
        low, high = jax.lax.fori_loop(0, self.bisection_steps, bisect, bracket)
        # One Newton step from the (gradient-stopped) root polishes the value
        # and gives the root the implicit-function gradient -d(excess)/g'(a):
        # bisection's comparisons alone would have zero derivative.
        a = jax.lax.stop_gradient(0.5 * (low + high))
        a = a - excess(a) / (1.0 + slope * (1.0 - jnp.tanh(a + b) ** 2))
        t = jnp.tanh(a + b)
        return z - t[:, None] * u_hat, -jnp.log1p(slope * (1.0 - t**2))
