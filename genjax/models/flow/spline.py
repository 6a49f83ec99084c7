"""Neural spline flows (Durkan et al. 2019): rational-quadratic spline couplings and MADE layers.

Each transformed coordinate goes through its own monotone rational-quadratic
spline on ``[-B, B]`` with identity tails (`genjax.bijections.rational_quadratic_spline`),
whose 3K - 1 parameters (K widths, K heights, K - 1 interior derivatives)
come from a network:

    coupling:        z_b = spline(x_b; theta(x_a))         one pass both ways
    autoregressive:  z_d = spline(x_d; theta_d(x_<d))      MADE; density in one pass,
                                                           sampling in D passes (as MAF)

Both networks end in a zero-initialised layer, and zero spline parameters are
exactly the identity, so a fresh layer is the identity map.
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from genjax import bijections
from genjax.models.flow.bijector import Bijector
from genjax.models.flow.conditioners import Conditioner
from genjax.models.networks.made import MADE

Array = jax.Array


def spline_params_per_dim(num_bins: int) -> int:
    """3K - 1: K widths, K heights and K - 1 interior knot derivatives."""
    return 3 * num_bins - 1


def _apply_spline(
    x: Array, raw: Array, num_bins: int, tail_bound: float, inverse: bool
) -> tuple[Array, Array]:
    """``x`` `[B, D]` through splines whose parameters are ``raw`` `[B, D, 3K - 1]`; log-det `[B]`."""
    widths, heights, derivatives = jnp.split(raw, (num_bins, 2 * num_bins), axis=-1)
    y, log_det = bijections.rational_quadratic_spline(
        x, widths, heights, derivatives, inverse=inverse, tail_bound=tail_bound
    )
    return y, jnp.sum(log_det, axis=-1)


class SplineCoupling(Bijector):
    """Rational-quadratic spline coupling on vectors `[B, D]` (D >= 2), split along the last axis.

    The conditioner (an MLP, context concatenated to its input like `Coupling`'s)
    maps the kept part to 3K - 1 spline parameters per changed dimension.

    Attributes:
      hidden_sizes: the conditioner's hidden widths.
      num_bins: K, bins per spline.
      tail_bound: B; identity outside [-B, B].
      parity: 0 keeps the first half, 1 the second.
      activation: the conditioner's nonlinearity.
    """

    hidden_sizes: Sequence[int]
    num_bins: int = 8
    tail_bound: float = 3.0
    parity: int = 0
    activation: str = "relu"

    @nn.compact
    def _transform(self, x: Array, inverse: bool, context: Array | None) -> tuple[Array, Array]:
        if x.ndim != 2:
            raise ValueError(f"SplineCoupling works on vectors [B, D]; got shape {x.shape}")
        cut = x.shape[-1] // 2
        first, second = x[..., :cut], x[..., cut:]
        kept, changed = (first, second) if self.parity == 0 else (second, first)
        per_dim = spline_params_per_dim(self.num_bins)
        raw = Conditioner(
            self.hidden_sizes, changed.shape[-1] * per_dim, self.activation, name="conditioner"
        )(kept, context)
        raw = raw.reshape(*changed.shape, per_dim)
        changed, log_det = _apply_spline(changed, raw, self.num_bins, self.tail_bound, inverse)
        parts = (kept, changed) if self.parity == 0 else (changed, kept)
        return jnp.concatenate(parts, axis=-1), log_det

    def forward(self, x: Array, context: Array | None = None) -> tuple[Array, Array]:
        return self._transform(x, inverse=False, context=context)

    def inverse(self, z: Array, context: Array | None = None) -> tuple[Array, Array]:
        return self._transform(z, inverse=True, context=context)


class SplineAutoregressive(Bijector):
    """Masked autoregressive spline flow on `[B, D]` (MAF with spline transformers).

    ``forward(x)`` (density) is one MADE pass over x; ``inverse(z)`` (sampling)
    takes D passes in a ``fori_loop``, as `MAF`'s: after k passes the first k
    dimensions of the ordering are exact, and the last pass's parameters only
    read the first D - 1, so its log-det is exact too.

    Attributes:
      hidden_sizes: the MADE's hidden widths.
      num_bins: K, bins per spline.
      tail_bound: B; identity outside [-B, B].
      ordering: a permutation of range(D) (see `MADE`); None for the natural order.
      activation: the MADE's nonlinearity.
    """

    hidden_sizes: Sequence[int]
    num_bins: int = 8
    tail_bound: float = 3.0
    ordering: tuple[int, ...] | None = None
    activation: str = "relu"

    @nn.compact
    def _params(self, y: Array, context: Array | None) -> Array:
        """`[B, D] -> [B, D, 3K - 1]`, dimension d's from the dimensions before it (and all of context)."""
        if y.ndim != 2:
            raise ValueError(f"SplineAutoregressive works on vectors [B, D]; got shape {y.shape}")
        per_dim = spline_params_per_dim(self.num_bins)
        return MADE(self.hidden_sizes, per_dim, self.ordering, self.activation, name="made")(y, 0, context)

    def forward(self, x: Array, context: Array | None = None) -> tuple[Array, Array]:
        return _apply_spline(x, self._params(x, context), self.num_bins, self.tail_bound, inverse=False)

    def inverse(self, z: Array, context: Array | None = None) -> tuple[Array, Array]:
        def invert(x_estimate: Array) -> tuple[Array, Array]:
            raw = self._params(x_estimate, context)
            return _apply_spline(z, raw, self.num_bins, self.tail_bound, inverse=True)

        # The first pass runs outside the loop so the parameters exist before the body is traced;
        # with D == 1 the loop is empty and that pass is already exact.
        return jax.lax.fori_loop(
            0, z.shape[-1] - 1, lambda _, carry: invert(carry[0]), invert(jnp.zeros_like(z))
        )
