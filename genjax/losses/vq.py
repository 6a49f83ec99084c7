"""Vector quantisation for VQ-VAEs (van den Oord, Vinyals & Kavukcuoglu 2017).

Pure functions of arrays; no Flax.

* `vector_quantize`: nearest-code lookup with the straight-through estimator and
  the paper's two auxiliary losses (codebook and commitment).
* `ema_codebook_init` / `ema_codebook_update`: the codebook as exponential moving
  averages of the encoder outputs assigned to each code (the paper's appendix A.1),
  with Laplace smoothing of the cluster sizes (Razavi, van den Oord & Vinyals 2019),
  an optax-style pure ``state -> state`` update.
"""

from __future__ import annotations

from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp

Array = jax.Array

__all__ = ["VQEMAState", "VQOutput", "ema_codebook_init", "ema_codebook_update", "vector_quantize"]


class VQOutput(NamedTuple):
    """Output of `vector_quantize` for encoder outputs ``z_e [..., D]``.

    Attributes:
      quantized: `[..., D]` z_e + stop_gradient(z_q - z_e): equal to z_q = codebook[indices]
        in value, with the identity as its derivative with respect to z_e (straight-through)
        and none with respect to the codebook.
      indices: `[...]` int32 index of each vector's nearest code (ties: the lowest index).
      codebook_loss: `[...]` |sg(z_e) - z_q|² per vector, summed over D: moves the codes
        (gradient to the codebook only).
      commitment_loss: `[...]` commitment_cost · |z_e - sg(z_q)|² per vector, summed over D:
        keeps the encoder near its codes (gradient to z_e only).
    """

    quantized: Array
    indices: Array
    codebook_loss: Array
    commitment_loss: Array


class VQEMAState(NamedTuple):
    """The EMA codebook's statistics.

    Attributes:
      cluster_size: `[K]` moving average of how many vectors each code was assigned.
      embed_sum: `[K, D]` moving average of the sum of those vectors.
      codebook: `[K, D]` embed_sum over the Laplace-smoothed cluster_size.
    """

    cluster_size: Array
    embed_sum: Array
    codebook: Array


def nearest_code(z: Array, codebook: Array) -> Array:
    """`[N, D]`, `[K, D]` -> `[N]` int32 argmin_k |z - e_k|² (ties: the lowest k)."""
    distances = (
        jnp.sum(z**2, axis=-1, keepdims=True) - 2.0 * z @ codebook.T + jnp.sum(codebook**2, axis=-1)[None, :]
    )
    return jnp.argmin(distances, axis=-1).astype(jnp.int32)


def vector_quantize(z_e: Array, codebook: Array, *, commitment_cost: float) -> VQOutput:
    """Quantises each D-vector of ``z_e`` to its nearest code.

    Args:
      z_e: `[..., D]` encoder outputs (e.g. `[B, h, w, D]`).
      codebook: `[K, D]` codes.
      commitment_cost: β >= 0, the commitment loss's weight (0.25 in the paper).
    Returns:
      `VQOutput`. The losses are per vector (summed over D, not averaged): sum or
      average them over the grid and the batch as the objective needs. Both are
      minimised; a VQ-VAE minimises -log p(x | quantized) + codebook_loss +
      commitment_loss (or drops codebook_loss when the codebook follows an EMA).
    Raises:
      ValueError: a negative ``commitment_cost``.
    """
    if commitment_cost < 0:
        raise ValueError(f"commitment_cost must be >= 0, got {commitment_cost}")
    chex.assert_rank(codebook, 2, custom_message="vector_quantize: codebook must be [K, D]")
    chex.assert_axis_dimension(
        z_e, -1, codebook.shape[1], custom_message="vector_quantize: z_e must be [..., D], D the codebook's"
    )
    flat = z_e.reshape(-1, z_e.shape[-1])
    # The assignment is a discrete choice: no gradient flows through the argmin.
    indices = nearest_code(jax.lax.stop_gradient(flat), jax.lax.stop_gradient(codebook))
    z_q = jnp.take(codebook, indices, axis=0).reshape(z_e.shape)
    indices = indices.reshape(z_e.shape[:-1])
    codebook_loss = jnp.sum((jax.lax.stop_gradient(z_e) - z_q) ** 2, axis=-1)
    commitment_loss = commitment_cost * jnp.sum((z_e - jax.lax.stop_gradient(z_q)) ** 2, axis=-1)
    quantized = z_e + jax.lax.stop_gradient(z_q - z_e)
    return VQOutput(quantized, indices, codebook_loss, commitment_loss)


def ema_codebook_init(codebook: Array) -> VQEMAState:
    """The EMA state of a codebook `[K, D]`: each code counts as one vector at its own position.

    Starting the counts at 1 (not 0) keeps a code that is not yet used at its initial
    position while its weight decays, instead of dividing a decayed sum by a
    near-zero count and throwing the code far away.
    """
    chex.assert_rank(codebook, 2, custom_message="ema_codebook_init: codebook must be [K, D]")
    return VQEMAState(jnp.ones(codebook.shape[0], codebook.dtype), codebook, codebook)


def ema_codebook_update(
    state: VQEMAState, z_e: Array, indices: Array, *, decay: float, epsilon: float = 1e-5
) -> VQEMAState:
    """One EMA step of the codebook from encoder outputs and their assigned codes.

    With counts n_k and sums s_k of the vectors assigned to code k in this batch:

        N_k <- decay · N_k + (1 - decay) · n_k
        m_k <- decay · m_k + (1 - decay) · s_k
        e_k <- m_k / Ñ_k,   Ñ_k = (N_k + ε) / (Σ_j N_j + K ε) · Σ_j N_j   (Laplace smoothing)

    Args:
      state: the current `VQEMAState`.
      z_e: `[..., D]` encoder outputs (treated as constants).
      indices: `[...]` their codes, as `vector_quantize` returns them.
      decay: γ in [0, 1) (0.99 in the paper).
      epsilon: ε > 0, the Laplace smoothing pseudo-count.
    Returns:
      The new `VQEMAState`.
    Raises:
      ValueError: decay outside [0, 1) or a non-positive epsilon.
    """
    if not 0.0 <= decay < 1.0:
        raise ValueError(f"decay must be in [0, 1), got {decay}")
    if epsilon <= 0:
        raise ValueError(f"epsilon must be positive, got {epsilon}")
    num_codes, dim = state.codebook.shape
    chex.assert_equal_shape_prefix((z_e, indices), indices.ndim, custom_message="indices must be z_e's [...]")
    flat = jax.lax.stop_gradient(z_e).reshape(-1, dim)
    one_hot = jax.nn.one_hot(indices.reshape(-1), num_codes, dtype=flat.dtype)
    cluster_size = decay * state.cluster_size + (1.0 - decay) * jnp.sum(one_hot, axis=0)
    embed_sum = decay * state.embed_sum + (1.0 - decay) * one_hot.T @ flat
    total = jnp.sum(cluster_size)
    smoothed = (cluster_size + epsilon) / (total + num_codes * epsilon) * total
    return VQEMAState(cluster_size, embed_sum, embed_sum / smoothed[:, None])
