"""Glow's layers (Kingma & Dhariwal 2018): ActNorm, the invertible 1x1 convolution, a flow step.

All three act on the last axis, so they work on vectors `[B, C]` (one
"position" per example) and on images `[B, H, W, C]` (``H * W`` positions,
each transformed the same way). A per-position map with Jacobian ``J``
contributes ``positions * log|det J|`` to the per-example log-det.

    ActNorm:            z = (x + bias) * exp(log_scale)     log_det = P * sum(log_scale)
    InvertibleLinear:   z = W x  (per position)             log_det = P * log|det W|
    glow_step:          ActNorm -> InvertibleLinear -> affine half coupling
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.scipy.linalg import solve_triangular

from genjax.models.flow.bijector import Bijector, Chain
from genjax.models.flow.coupling import Coupling

Array = jax.Array


def num_positions(x: Array) -> int:
    """Positions per example of `[B, ..., C]`: prod of the middle axes (1 for vectors `[B, C]`)."""
    return math.prod(x.shape[1:-1])


def _per_position(x: Array, fn) -> Array:
    """Applies ``fn: [N, C] -> [N, C]`` to every position of `[B, ..., C]`."""
    return fn(x.reshape(-1, x.shape[-1])).reshape(x.shape)


class ActNorm(Bijector):
    """Per-channel affine map ``z = (x + bias) * exp(log_scale)`` with data-dependent init.

    When the parameters are created (``init`` through ``forward``), they are
    set from that batch so the output has zero mean and unit variance per
    channel (statistics over every axis but the last). This is Glow's
    replacement for batch norm: a well-scaled start without batch statistics
    at test time. Initialise on a batch of several examples (a single example
    of a vector has zero variance, and only ``eps`` keeps the scale finite).

    ``x: [B, C]`` or ``[B, H, W, C]``; ``log_det: [B] = positions * sum(log_scale)``.
    """

    eps: float = 1e-6

    @nn.compact
    def _params(self, x: Array) -> tuple[Array, Array]:
        """(bias, log_scale), each `[C]`; the init functions close over the batch ``x``."""
        axes = tuple(range(x.ndim - 1))
        shape = (x.shape[-1],)

        # Only called when the params are created; at apply time Flax only
        # evaluates these abstractly (for a shape check).
        def init_bias(_rng: Array, shape: tuple[int, ...]) -> Array:
            return -jnp.mean(x, axis=axes).reshape(shape)

        def init_log_scale(_rng: Array, shape: tuple[int, ...]) -> Array:
            return (-0.5 * jnp.log(jnp.var(x, axis=axes) + self.eps)).reshape(shape)

        return self.param("bias", init_bias, shape), self.param("log_scale", init_log_scale, shape)

    def forward(self, x: Array, context: Array | None = None) -> tuple[Array, Array]:
        bias, log_scale = self._params(x)
        log_det = num_positions(x) * jnp.sum(log_scale)
        return (x + bias) * jnp.exp(log_scale), jnp.full(x.shape[0], log_det, x.dtype)

    def inverse(self, z: Array, context: Array | None = None) -> tuple[Array, Array]:
        bias, log_scale = self._params(z)
        log_det = -num_positions(z) * jnp.sum(log_scale)
        return z * jnp.exp(-log_scale) - bias, jnp.full(z.shape[0], log_det, z.dtype)


def random_rotation(key: Array, size: int) -> Array:
    """`[size, size]` orthogonal matrix with det +1 or -1: Q of the QR of a Gaussian matrix."""
    q, _ = jnp.linalg.qr(jax.random.normal(key, (size, size)))
    return q


def lu_rotation_init(key: Array, size: int) -> tuple[Array, Array, Array]:
    """(lower, upper, log_s) of a random rotation, as ``InvertibleLinear(lu=True)`` stores them.

    With the pivoted LU ``Q = P L U`` of a random rotation Q, the rotation
    ``P^T Q`` has the LU decomposition ``L U`` *without* pivoting, so no
    permutation needs storing. Factoring Q itself without pivoting would
    also work in exact arithmetic, but its L is badly conditioned (entries in
    the hundreds, condition numbers ~1e6 for C = 24 in float32), so W would
    not even be orthogonal to 1e-4; partial pivoting keeps ``|L_ij| <= 1``.
    Flipping columns by ``D = diag(sign(diag U))`` gives the rotation
    ``P^T Q D = L (U D)`` whose pivots ``|diag U|`` are positive, so
    ``log_s = log|diag U|``. Returns `[C, C]`, `[C, C]`, `[C]`.
    """
    _, lower, upper = jax.scipy.linalg.lu(random_rotation(key, size))
    signs = jnp.sign(jnp.diagonal(upper))
    upper = upper * signs[None, :]  # U D: column j times sign(U_jj)
    return lower, upper, jnp.log(jnp.abs(jnp.diagonal(upper)))


class InvertibleLinear(Bijector):
    """Glow's invertible 1x1 convolution: ``z = W x`` at every position, W a C x C matrix.

    ``lu=False``: W is a free matrix initialised to a random rotation;
    ``log|det W|`` comes from ``slogdet`` (O(C^3)).

    ``lu=True``: ``W = L (U + diag(exp(log_s)))`` with L unit lower-triangular
    and U strictly upper-triangular (params ``lower``, ``upper``, ``log_s``,
    masked so only their strict parts are used); ``log|det W| = sum(log_s)``
    in O(C). Glow writes ``W = P L (U + diag(s))`` with a fixed permutation P
    and a fixed sign vector; we store neither, because the training loop
    differentiates every leaf of the params and supports no Flax buffers.
    Instead the init takes a random rotation, permuted so that it has an LU
    decomposition without pivoting (so P = I; see `lu_rotation_init`), and
    flips its columns so every pivot is positive (still a rotation). Then no
    sign is needed: ``det W = prod(exp(log_s)) > 0`` throughout training, so
    W can never pass through a singular matrix.

    ``x: [B, C]`` or ``[B, H, W, C]``; ``log_det: [B] = positions * log|det W|``.
    """

    lu: bool = True

    @nn.compact
    def _matrices(self, channels: int) -> tuple[Array, ...]:
        """lu=True: (L, V, log_s) with ``W = L @ V``, L unit lower-, V upper-triangular.

        lu=False: (W,).
        """
        shape = (channels, channels)
        if not self.lu:
            return (self.param("kernel", lambda rng, _shape: random_rotation(rng, channels), shape),)
        # One key for the three params, so they factor the same rotation.
        key = self.make_rng("params") if self.is_initializing() else jax.random.key(0)
        lower = self.param("lower", lambda _rng, _shape: lu_rotation_init(key, channels)[0], shape)
        upper = self.param("upper", lambda _rng, _shape: lu_rotation_init(key, channels)[1], shape)
        log_s = self.param("log_s", lambda _rng, _shape: lu_rotation_init(key, channels)[2], (channels,))
        # Masks: only the strict triangles of the free matrices are used.
        lower = jnp.tril(lower, k=-1) + jnp.eye(channels, dtype=lower.dtype)
        upper = jnp.triu(upper, k=1) + jnp.diag(jnp.exp(log_s))
        return lower, upper, log_s

    def weight(self, channels: int) -> tuple[Array, Array]:
        """(W `[C, C]`, log|det W|)."""
        if self.lu:
            lower, upper, log_s = self._matrices(channels)
            return lower @ upper, jnp.sum(log_s)
        (kernel,) = self._matrices(channels)
        return kernel, jnp.linalg.slogdet(kernel)[1]

    def forward(self, x: Array, context: Array | None = None) -> tuple[Array, Array]:
        weight, log_abs_det = self.weight(x.shape[-1])
        z = _per_position(x, lambda rows: rows @ weight.T)
        return z, jnp.full(x.shape[0], num_positions(x) * log_abs_det, x.dtype)

    def inverse(self, z: Array, context: Array | None = None) -> tuple[Array, Array]:
        channels = z.shape[-1]
        if self.lu:
            lower, upper, log_s = self._matrices(channels)
            log_abs_det = jnp.sum(log_s)

            def solve(rows: Array) -> Array:  # rows: [N, C]; x = V^-1 L^-1 z per row
                y = solve_triangular(lower, rows.T, lower=True, unit_diagonal=True)
                return solve_triangular(upper, y, lower=False).T

        else:
            (kernel,) = self._matrices(channels)
            log_abs_det = jnp.linalg.slogdet(kernel)[1]

            def solve(rows: Array) -> Array:
                return jnp.linalg.solve(kernel, rows.T).T

        x = _per_position(z, solve)
        return x, jnp.full(z.shape[0], -num_positions(z) * log_abs_det, z.dtype)


def glow_step(
    hidden_sizes: Sequence[int],
    *,
    lu: bool = True,
    scale_fn: str = "sigmoid",
    activation: str = "relu",
    name: str | None = None,
) -> Chain:
    """One step of Glow: ActNorm -> InvertibleLinear -> affine coupling on halves of the last axis.

    Works on vectors `[B, D]` (MLP conditioner; "Glow without convs" for toy
    data, D >= 2) and images `[B, H, W, C]` (conv conditioner, C >= 2). The
    coupling keeps the same half at every step: the 1x1 convolution before it
    mixes the channels, which replaces RealNVP's alternating masks.
    """
    return Chain(
        layers=(
            ActNorm(),
            InvertibleLinear(lu=lu),
            Coupling(hidden_sizes, affine=True, mask="half", scale_fn=scale_fn, activation=activation),
        ),
        name=name,
    )
