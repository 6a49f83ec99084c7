"""Affine autoregressive flows on vectors: MAF and IAF, both built on a MADE.

Both use an elementwise affine map whose shift ``mu`` and log-scale ``s``
come from a MADE, so each dimension's parameters depend only on the
dimensions before it in ``ordering`` and the Jacobian is triangular:

    MAF (Papamakarios et al. 2017), conditioned on the data x:
        forward  z_d = (x_d - mu_d(x_<d)) * exp(-s_d(x_<d))   log_det = -sum s
        inverse  x_d = z_d * exp(s_d(x_<d)) + mu_d(x_<d)      log_det = +sum s
    IAF (Kingma et al. 2016), conditioned on the latent z:
        inverse  x_d = z_d * exp(s_d(z_<d)) + mu_d(z_<d)      log_det = +sum s
        forward  z_d = (x_d - mu_d(z_<d)) * exp(-s_d(z_<d))   log_det = -sum s

The direction that conditions on its own input is one MADE pass (MAF's
density, IAF's sampling); the other has to produce its conditioning values
as it goes and takes D passes (MAF's sampling, IAF's density). Those D
passes run in a ``fori_loop`` so the traced program does not grow with D:
each pass recomputes every dimension from the current estimate, and after k
passes the first k dimensions of the ordering are exact (dimension k only
depends on dimensions before it, which were exact one pass earlier).

The log-scale is bounded like the coupling layers' (see
`genjax.models.flow.coupling.bounded_log_scale`; default ``c * tanh(raw)``
with a learned per-dimension ``c`` starting at 1), and the MADE's output
layer is zero-initialised, so a fresh layer is the identity.
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from genjax.models.flow.bijector import Bijector
from genjax.models.flow.coupling import bounded_log_scale
from genjax.models.networks.made import MADE

Array = jax.Array


class _MADEAffine(Bijector):
    """Shared attributes and the MADE conditioner of `MAF` and `IAF`.

    Attributes:
      hidden_sizes: the MADE's hidden widths.
      ordering: a permutation of range(D) (see `MADE`); None for the natural order.
      activation: the MADE's hidden nonlinearity.
      scale_fn: "tanh", "sigmoid" or "exp" (see `bounded_log_scale`).
    """

    hidden_sizes: Sequence[int]
    ordering: tuple[int, ...] | None = None
    activation: str = "relu"
    scale_fn: str = "tanh"

    @nn.compact
    def _shift_and_log_scale(self, y: Array, context: Array | None) -> tuple[Array, Array]:
        """`[B, D] -> (mu [B, D], s [B, D])`, each dimension's from the preceding ones of ``y``
        (and from all of ``context`` `[B, C]`, a conditional flow's y)."""
        if y.ndim != 2:
            raise ValueError(f"{type(self).__name__} works on vectors [B, D]; got shape {y.shape}")
        raw = MADE(self.hidden_sizes, 2, self.ordering, self.activation, name="made")(y, 0, context)
        tanh_scale = None
        if self.scale_fn == "tanh":
            tanh_scale = self.param("tanh_scale", nn.initializers.ones, (y.shape[-1],))
        return raw[..., 0], bounded_log_scale(raw[..., 1], self.scale_fn, tanh_scale)

    def _solve(self, target: Array, step, context: Array | None) -> tuple[Array, Array]:
        """Iterates ``y <- step(target, *conditioner(y))`` D times from ``y = 0``.

        Returns the fixed point and the log-scales of the last pass, which
        are exact because they only read the first D - 1 dimensions.
        The first pass runs outside the loop so that the parameters exist
        before the loop body is traced.
        """
        shift, log_scale = self._shift_and_log_scale(jnp.zeros_like(target), context)

        def body(_, carry: tuple[Array, Array]) -> tuple[Array, Array]:
            shift, log_scale = self._shift_and_log_scale(carry[0], context)
            return step(target, shift, log_scale), log_scale

        # With D == 1 the loop is empty and the first pass's log-scale is exact.
        return jax.lax.fori_loop(0, target.shape[-1] - 1, body, (step(target, shift, log_scale), log_scale))


def _to_latent(x: Array, shift: Array, log_scale: Array) -> Array:
    return (x - shift) * jnp.exp(-log_scale)


def _to_data(z: Array, shift: Array, log_scale: Array) -> Array:
    return z * jnp.exp(log_scale) + shift


class MAF(_MADEAffine):
    """Masked autoregressive flow on `[B, D]`: one-pass density, D-pass sampling.

    ``forward(x) -> (z [B, D], log_det [B])`` in one MADE pass over x;
    ``inverse(z) -> (x [B, D], log_det [B])`` in D passes (see the module docstring).
    """

    def forward(self, x: Array, context: Array | None = None) -> tuple[Array, Array]:
        shift, log_scale = self._shift_and_log_scale(x, context)
        return _to_latent(x, shift, log_scale), -jnp.sum(log_scale, axis=-1)

    def inverse(self, z: Array, context: Array | None = None) -> tuple[Array, Array]:
        x, log_scale = self._solve(z, _to_data, context)
        return x, jnp.sum(log_scale, axis=-1)


class IAF(_MADEAffine):
    """Inverse autoregressive flow on `[B, D]`: one-pass sampling, D-pass density.

    ``inverse(z) -> (x [B, D], log_det [B])`` in one MADE pass over z;
    ``forward(x) -> (z [B, D], log_det [B])`` in D passes (see the module docstring).
    """

    def forward(self, x: Array, context: Array | None = None) -> tuple[Array, Array]:
        z, log_scale = self._solve(x, _to_latent, context)
        return z, -jnp.sum(log_scale, axis=-1)

    def inverse(self, z: Array, context: Array | None = None) -> tuple[Array, Array]:
        shift, log_scale = self._shift_and_log_scale(z, context)
        return _to_data(z, shift, log_scale), jnp.sum(log_scale, axis=-1)
