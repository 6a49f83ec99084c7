"""The bijector interface every flow layer implements, and their composition.

Direction convention (the normalizing direction, as in RealNVP and Glow):
``forward`` maps data ``x`` to latents ``z`` and is what a likelihood needs;
``inverse`` maps latents back to data and is what sampling needs. Both work
on a batch and return the log-determinant per example::

    forward(x: [B, ...]) -> (z: [B, ...], log_det: [B])   # log |det dz/dx|
    inverse(z: [B, ...]) -> (x: [B, ...], log_det: [B])   # log |det dx/dz|

so ``inverse(forward(x)[0])[1] == -forward(x)[1]``. Conditional flows p(x | y)
pass y's features as ``context`` `[B, C]` to both directions; layers with a
conditioner network (couplings, MAF/IAF) feed it to that network, the others
(permutations, ActNorm, 1x1 convolutions) ignore it. With ``context=None``
every layer is exactly the unconditional one, parameters included. A layer may change the
shape (squeeze, multi-scale factoring) but never the number of dimensions.
Parameters are created in ``forward``: initialise with
``module.init(rng, x, method="forward")`` so data-dependent initialisations
(ActNorm) see data.
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

Array = jax.Array


class Bijector(nn.Module):
    """Base class: subclasses implement ``forward`` and ``inverse`` (see the module docstring)."""

    def forward(self, x: Array, context: Array | None = None) -> tuple[Array, Array]:
        raise NotImplementedError

    def inverse(self, z: Array, context: Array | None = None) -> tuple[Array, Array]:
        raise NotImplementedError

    def __call__(self, x: Array, context: Array | None = None) -> tuple[Array, Array]:
        return self.forward(x, context)


class Chain(Bijector):
    """``layers[-1] ∘ ... ∘ layers[0]`` in the forward direction; log-dets add up.

    ``forward`` applies the layers first to last; ``inverse`` last to first.
    """

    layers: Sequence[Bijector]

    def forward(self, x: Array, context: Array | None = None) -> tuple[Array, Array]:
        log_det = jnp.zeros(x.shape[0], x.dtype)
        for layer in self.layers:
            x, layer_log_det = layer.forward(x, context)
            log_det = log_det + layer_log_det
        return x, log_det

    def inverse(self, z: Array, context: Array | None = None) -> tuple[Array, Array]:
        log_det = jnp.zeros(z.shape[0], z.dtype)
        for layer in reversed(self.layers):
            z, layer_log_det = layer.inverse(z, context)
            log_det = log_det + layer_log_det
        return z, log_det


class Reverse(Bijector):
    """Reverses the last axis (a fixed permutation between autoregressive or coupling layers)."""

    def forward(self, x: Array, context: Array | None = None) -> tuple[Array, Array]:
        return x[..., ::-1], jnp.zeros(x.shape[0], x.dtype)

    def inverse(self, z: Array, context: Array | None = None) -> tuple[Array, Array]:
        return z[..., ::-1], jnp.zeros(z.shape[0], z.dtype)


class Flatten(Bijector):
    """`[B, *shape] <-> [B, prod(shape)]`; ``shape`` is the per-example shape."""

    shape: tuple[int, ...]

    def forward(self, x: Array, context: Array | None = None) -> tuple[Array, Array]:
        return x.reshape(x.shape[0], -1), jnp.zeros(x.shape[0], x.dtype)

    def inverse(self, z: Array, context: Array | None = None) -> tuple[Array, Array]:
        return z.reshape(z.shape[0], *self.shape), jnp.zeros(z.shape[0], z.dtype)
