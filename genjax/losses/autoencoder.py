"""Regularisers of autoencoders: contractive and sparsity penalties, and input corruption.

An autoencoder minimises a reconstruction error plus, depending on its kind:

* contractive (Rifai et al. 2011): ``||J_f(x)||_F^2``, the squared Frobenius norm of
  the encoder's Jacobian, which flattens the code along directions the data does not
  vary in. Exact, it costs D forward-mode derivative passes (`jax.jacfwd`). For
  Rademacher (or any) directions ``v`` with ``E[v v^T] = I``,
  ``E_v ||J v||^2 = tr(J^T J) = ||J||_F^2``, so the mean over N Jacobian-vector
  products is an unbiased estimate at N passes;
* sparse: an L1 penalty on the code, or (Ng's sparse autoencoder notes) for sigmoid
  codes the KL divergence ``sum_j KL(Bern(rho) || Bern(rho_hat_j))`` from a target
  rate ``rho`` to each unit's mean activation ``rho_hat_j`` over the batch;
* denoising (Vincent et al. 2008): reconstruct the clean x from a corrupted copy
  (`corrupt`: additive Gaussian noise, masking noise, salt-and-pepper noise).

Every penalty is minimised. ``encode`` maps `[B, ...] -> [B, K]` row by row (no batch
statistics), so per-example derivatives can be taken through the whole batch at once.
"""

from __future__ import annotations

from collections.abc import Callable

import chex
import jax
import jax.numpy as jnp

Array = jax.Array
SPARSITY_KINDS = ("l1", "kl")
CORRUPTIONS = ("gaussian", "masking", "salt_and_pepper")


def contractive_penalty(
    rng: Array | None, encode: Callable[[Array], Array], x: Array, *, num_projections: int | None = None
) -> Array:
    """``||d encode(x) / dx||_F^2`` per example: exact, or unbiased from random projections.

    Args:
      rng: PRNG key for the projections (unused, may be None, when exact).
      encode: `[B, ...] -> [B, K]`, each row a function of that example only.
      x: `[B, ...]` inputs.
      num_projections: None for the exact norm (one `jax.jacfwd` column per input
        dimension); N > 0 for the mean of ``||J v||^2`` over N Rademacher ``v`` (N jvps).
    Returns:
      `[B]` penalties.
    """
    chex.assert_rank(x, {2, 3, 4}, custom_message="x must be a batch [B, ...]")
    if num_projections is None:

        def one(example: Array) -> Array:
            jacobian = jax.jacfwd(lambda e: encode(e[None])[0])(example)  # [K, *element_shape]
            return jnp.sum(jacobian**2)

        return jax.vmap(one)(x)
    if num_projections <= 0:
        raise ValueError(f"num_projections: got {num_projections}; must be positive or None (exact)")

    def projected(key: Array) -> Array:
        direction = jax.random.rademacher(key, x.shape, dtype=x.dtype)
        _, tangent = jax.jvp(encode, (x,), (direction,))
        return jnp.sum(tangent.reshape(x.shape[0], -1) ** 2, axis=1)

    keys = jax.random.split(rng, num_projections)
    return jnp.mean(jax.lax.map(projected, keys), axis=0)


def _batch_mean(values: Array, mask: Array | None) -> Array:
    if mask is None:
        return values.mean(axis=0)
    weights = mask.astype(values.dtype)
    return jnp.tensordot(weights, values, axes=1) / jnp.maximum(weights.sum(), 1.0)


def sparsity_penalty(
    codes: Array, *, kind: str, target_rate: float = 0.05, mask: Array | None = None
) -> Array:
    """Sparsity penalty of a batch of codes, a scalar.

    Args:
      codes: `[B, K]` codes.
      kind: ``"l1"``: the batch mean of ``sum_j |h_j|``. ``"kl"``: ``sum_j KL(Bern(rho) ||
        Bern(rho_hat_j))`` with ``rho_hat_j`` unit j's mean activation over the batch,
        for codes in (0, 1) (sigmoid units). The KL is a function of the batch's mean
        activations, not of single examples, so both kinds return one number.
      target_rate: rho in (0, 1), for ``"kl"``.
      mask: optional `[B]` weights (1 for real rows, 0 for padding).
    Returns:
      `[]` the penalty (minimised).
    """
    chex.assert_rank(codes, 2, custom_message="codes must be [B, K]")
    if kind == "l1":
        return _batch_mean(jnp.sum(jnp.abs(codes), axis=1), mask)
    if kind != "kl":
        raise ValueError(f"kind: got {kind!r}; allowed: {', '.join(SPARSITY_KINDS)}")
    if not 0.0 < target_rate < 1.0:
        raise ValueError(f"target_rate: got {target_rate!r}; must be in (0, 1)")
    eps = 1e-6
    rate = jnp.clip(_batch_mean(codes, mask), eps, 1.0 - eps)
    rho = target_rate
    kl = rho * jnp.log(rho / rate) + (1.0 - rho) * jnp.log((1.0 - rho) / (1.0 - rate))
    return jnp.sum(kl)


def corrupt(rng: Array, x: Array, *, kind: str, level: float, low: float = 0.0, high: float = 1.0) -> Array:
    """A corrupted copy of x for a denoising autoencoder.

    Args:
      rng: PRNG key.
      x: `[B, ...]` inputs.
      kind: ``"gaussian"``: ``x + level * eps``, eps ~ N(0, 1). ``"masking"``: each entry
        set to ``low`` with probability ``level``. ``"salt_and_pepper"``: each entry, with
        probability ``level``, set to ``low`` or ``high`` with equal odds.
      level: the noise standard deviation (gaussian) or the corrupted fraction (in [0, 1]).
      low, high: the values masking and salt-and-pepper noise write (the data's range).
    Returns:
      `[B, ...]` the corrupted inputs, x's shape and dtype.
    """
    if kind not in CORRUPTIONS:
        raise ValueError(f"kind: got {kind!r}; allowed: {', '.join(CORRUPTIONS)}")
    if level < 0 or (kind != "gaussian" and level > 1):
        raise ValueError(f"level: got {level!r}; must be >= 0 (gaussian), in [0, 1] otherwise")
    if kind == "gaussian":
        return x + level * jax.random.normal(rng, x.shape, x.dtype)
    hit_key, value_key = jax.random.split(rng)
    hit = jax.random.bernoulli(hit_key, level, x.shape)
    if kind == "masking":
        return jnp.where(hit, jnp.asarray(low, x.dtype), x)
    salt = jax.random.bernoulli(value_key, 0.5, x.shape)
    return jnp.where(hit, jnp.where(salt, jnp.asarray(high, x.dtype), jnp.asarray(low, x.dtype)), x)
