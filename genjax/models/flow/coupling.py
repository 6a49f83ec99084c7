"""Coupling layers: NICE's additive coupling and scaling, RealNVP's affine coupling, squeeze.

A coupling layer keeps part of its input, ``x_a``, and transforms the rest
elementwise with parameters computed from the kept part:

    additive (NICE):   z_b = x_b + t(x_a)                  log_det = 0
    affine (RealNVP):  z_b = x_b * exp(s(x_a)) + t(x_a)    log_det = sum s(x_a)

The split is either along the last axis (``mask="half"``: halves of a vector
or of the channels, as in NICE, Glow and RealNVP's channel masks) or a
spatial checkerboard (``mask="checkerboard"``, RealNVP). ``parity`` swaps
which part is kept, so alternating layers transform every dimension.

The log-scale ``s`` is bounded so that training does not blow up at start
(no batch norm needed): ``tanh`` gives ``s = c * tanh(raw)`` with a learned
per-dimension ``c`` (RealNVP), ``sigmoid`` gives ``exp(s) = sigmoid(raw + 2)``
(Glow), ``exp`` leaves ``s = raw`` unbounded (for comparison only).
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from genjax.models.flow.bijector import Bijector
from genjax.models.flow.conditioners import Conditioner
from genjax.reduce import sum_except_batch

Array = jax.Array
MASKS = ("half", "checkerboard")
SCALE_FNS = ("tanh", "sigmoid", "exp")


def checkerboard(height: int, width: int, parity: int) -> Array:
    """`[H, W, 1]` float mask, 1 where ``(i + j + parity)`` is even (the kept pixels)."""
    rows = jnp.arange(height)[:, None]
    cols = jnp.arange(width)[None, :]
    return (((rows + cols + parity) % 2) == 0).astype(jnp.float32)[..., None]


def bounded_log_scale(raw: Array, scale_fn: str, tanh_scale: Array | None = None) -> Array:
    """The log-scale ``s`` from the conditioner's raw output (see the module docstring)."""
    if scale_fn == "tanh":
        return tanh_scale * jnp.tanh(raw)
    if scale_fn == "sigmoid":
        return jax.nn.log_sigmoid(raw + 2.0)
    if scale_fn == "exp":
        return raw
    raise ValueError(f"scale_fn: got {scale_fn!r}; allowed: {', '.join(SCALE_FNS)}")


class Coupling(Bijector):
    """An additive or affine coupling layer on vectors `[B, D]` or images `[B, H, W, C]`.

    Attributes:
      hidden_sizes: the conditioner's hidden widths (dense units or conv channels).
      affine: False for NICE's additive coupling (volume preserving).
      mask: "half" (split the last axis) or "checkerboard" (images only).
      parity: 0 or 1; which part is kept unchanged.
      scale_fn: "tanh", "sigmoid" or "exp" (affine only).
    """

    hidden_sizes: Sequence[int]
    affine: bool = True
    mask: str = "half"
    parity: int = 0
    scale_fn: str = "tanh"
    activation: str = "relu"

    @nn.compact
    def _conditioner(self, kept: Array, out_features: int, context: Array | None) -> tuple[Array, Array]:
        """Shift and log-scale for the transformed part, each `[..., out_features]`."""
        width = 2 * out_features if self.affine else out_features
        raw = Conditioner(self.hidden_sizes, width, self.activation, name="conditioner")(kept, context)
        if not self.affine:
            return raw, jnp.zeros_like(raw)
        shift, raw_scale = jnp.split(raw, 2, axis=-1)
        tanh_scale = None
        if self.scale_fn == "tanh":
            tanh_scale = self.param("tanh_scale", nn.initializers.ones, (out_features,))
        return shift, bounded_log_scale(raw_scale, self.scale_fn, tanh_scale)

    def _halves(self, x: Array) -> tuple[Array, Array]:
        """(kept, changed): the first and second blocks of the last axis, swapped for parity 1."""
        cut = x.shape[-1] // 2
        first, second = x[..., :cut], x[..., cut:]
        return (first, second) if self.parity == 0 else (second, first)

    def _join(self, kept: Array, changed: Array) -> Array:
        parts = (kept, changed) if self.parity == 0 else (changed, kept)
        return jnp.concatenate(parts, axis=-1)

    def _transform(self, x: Array, inverse: bool, context: Array | None) -> tuple[Array, Array]:
        if self.mask == "checkerboard":
            if x.ndim != 4:
                raise ValueError(f"checkerboard coupling needs images [B, H, W, C]; got shape {x.shape}")
            keep = checkerboard(x.shape[1], x.shape[2], self.parity).astype(x.dtype)
            shift, log_scale = self._conditioner(x * keep, x.shape[-1], context)
            shift, log_scale = shift * (1 - keep), log_scale * (1 - keep)
            if inverse:
                return (x - shift) * jnp.exp(-log_scale), -sum_except_batch(log_scale)
            return x * jnp.exp(log_scale) + shift, sum_except_batch(log_scale)
        kept, changed = self._halves(x)
        shift, log_scale = self._conditioner(kept, changed.shape[-1], context)
        if inverse:
            changed = (changed - shift) * jnp.exp(-log_scale)
            return self._join(kept, changed), -sum_except_batch(log_scale)
        changed = changed * jnp.exp(log_scale) + shift
        return self._join(kept, changed), sum_except_batch(log_scale)

    def forward(self, x: Array, context: Array | None = None) -> tuple[Array, Array]:
        return self._transform(x, inverse=False, context=context)

    def inverse(self, z: Array, context: Array | None = None) -> tuple[Array, Array]:
        return self._transform(z, inverse=True, context=context)


class DiagonalScaling(Bijector):
    """NICE's last layer: ``z = x * exp(log_scale)`` with one learned log-scale per dimension.

    Additive couplings preserve volume; this layer lets the model weight
    dimensions (the NICE paper's ``S``). ``log_det = sum(log_scale)``.
    """

    @nn.compact
    def _log_scale(self, shape: tuple[int, ...]) -> Array:
        return self.param("log_scale", nn.initializers.zeros, shape)

    def forward(self, x: Array, context: Array | None = None) -> tuple[Array, Array]:
        log_scale = self._log_scale(x.shape[1:])
        return x * jnp.exp(log_scale), jnp.full(x.shape[0], jnp.sum(log_scale), x.dtype)

    def inverse(self, z: Array, context: Array | None = None) -> tuple[Array, Array]:
        log_scale = self._log_scale(z.shape[1:])
        return z * jnp.exp(-log_scale), jnp.full(z.shape[0], -jnp.sum(log_scale), z.dtype)


class Squeeze(Bijector):
    """`[B, H, W, C] -> [B, H/2, W/2, 4C]`: each 2x2 patch becomes channels (RealNVP, Glow).

    A permutation, so log_det = 0. H and W must be even.
    """

    def forward(self, x: Array, context: Array | None = None) -> tuple[Array, Array]:
        batch, height, width, channels = x.shape
        if height % 2 or width % 2:
            raise ValueError(f"squeeze needs even height and width; got shape {x.shape}")
        x = x.reshape(batch, height // 2, 2, width // 2, 2, channels)
        x = x.transpose(0, 1, 3, 2, 4, 5).reshape(batch, height // 2, width // 2, 4 * channels)
        return x, jnp.zeros(batch, x.dtype)

    def inverse(self, z: Array, context: Array | None = None) -> tuple[Array, Array]:
        batch, height, width, channels = z.shape
        z = z.reshape(batch, height, width, 2, 2, channels // 4)
        z = z.transpose(0, 1, 3, 2, 4, 5).reshape(batch, 2 * height, 2 * width, channels // 4)
        return z, jnp.zeros(batch, z.dtype)
