"""Score-matching objectives: fit ``s(x) ≈ ∇_x log p(x)`` without knowing log Z.

Exact score matching (Hyvärinen, 2005). For data density p and a model score
s, the Fisher divergence ``0.5 E_p ||s - ∇ log p||²`` equals, after integrating
by parts and dropping a term that does not depend on s,

    J(s) = E_p[ tr(∂s/∂x) + 0.5 ||s(x)||² ].

The trace needs the Jacobian's diagonal: D derivative passes for D data dims.

Sliced score matching (Song et al., 2019) projects onto random directions v
with ``E[v vᵀ] = I``: ``tr(A) = E_v[vᵀ A v]``, so

    J(s) = E_{p, v}[ vᵀ (∂s/∂x) v + 0.5 (vᵀ s)² ],

one Jacobian-vector product per projection. Its variance-reduced form (SSM-VR)
replaces ``0.5 (vᵀ s)²`` by its expectation ``0.5 ||s||²``.

Denoising score matching (Vincent, 2011). For ``x̃ = x + σ z``, ``z ~ N(0, I)``,

    0.5 E ||s(x̃) - ∇_x̃ log q_σ(x̃ | x)||² = 0.5 E ||s(x̃) - ∇ log q_σ(x̃)||² + const,

with ``∇_x̃ log q_σ(x̃ | x) = -(x̃ - x) / σ²``: it fits the score of the *noised*
density q_σ. NCSN (Song & Ermon, 2019) uses a schedule of σ's, one per example,
weighting each by λ(σ) = σ² so that every noise level contributes O(1).

Convention: ``score_fn(x, sigma) -> score`` with x `[N, ...]`, sigma `[N]` or
None, the output shaped like x. Every loss assumes the score of one example
depends on that example only (no batch statistics), as the per-example
derivatives are taken through the whole batch at once.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import chex
import jax
import jax.numpy as jnp

from genjax.reduce import sum_except_batch

Array = jax.Array
ScoreFn = Callable[[Array, Array | None], Array]
Projection = Literal["gaussian", "rademacher"]

__all__ = [
    "denoising_score_matching",
    "dsm_target",
    "exact_score_matching",
    "sliced_score_matching",
    "sliced_score_matching_from_projections",
]


def _per_example_sigma(sigma: Array | float | None, batch: int) -> Array | None:
    """None stays None; a scalar or `[B]` becomes `[B]`."""
    if sigma is None:
        return None
    sigma = jnp.asarray(sigma, dtype=jnp.float32)
    if sigma.ndim:
        chex.assert_shape(sigma, (batch,), custom_message="sigma must be a scalar or [B]")
    return jnp.broadcast_to(sigma, (batch,))


def _check_batch(x: Array) -> None:
    chex.assert_shape(x, (None, ...), custom_message="x must be a batch [B, ...]")


def _check_score(score: Array, x: Array) -> None:
    """A score has x's shape: a `[B]` energy or a flattened score would broadcast silently."""
    chex.assert_equal_shape(
        [score, x], custom_message="score_fn(x, sigma) must return an array shaped like x"
    )


def exact_score_matching(score_fn: ScoreFn, x: Array, *, sigma: Array | float | None = None) -> Array:
    """Hyvärinen's objective ``tr(∂s/∂x) + 0.5 ||s(x)||²`` per example, the trace exact.

    Its mean over data estimates the Fisher divergence to the data density up to
    a constant. Cost: D Jacobian-vector products (D = prod of the event shape),
    all batched through one ``vmap`` of the linearised score, so time and memory
    scale as D forward passes over the batch. Meant for small D (toy data,
    tests); use :func:`sliced_score_matching` for images.

    Args:
      score_fn: ``(x [N, ...], sigma [N] | None) -> [N, ...]``.
      x: `[B, ...]`.
      sigma: None, a scalar or `[B]`, handed to ``score_fn`` (as `[B]`).
    Returns:
      `[B]`.
    """
    _check_batch(x)
    batch, event_shape = x.shape[0], x.shape[1:]
    dims = math.prod(event_shape)
    sigma = _per_example_sigma(sigma, batch)
    score, jvp = jax.linearize(lambda inputs: score_fn(inputs, sigma), x)
    _check_score(score, x)
    # Tangent j is the j-th unit vector in *every* example at once; since the
    # examples do not interact, output j of example b is ∂s_bj/∂x_bj.
    basis = jnp.eye(dims, dtype=x.dtype).reshape((dims, 1, *event_shape))
    basis = jnp.broadcast_to(basis, (dims, *x.shape))
    columns = jax.vmap(jvp)(basis).reshape(dims, batch, dims)  # [D (tangent), B, D (output)]
    trace = jnp.einsum("jbj->b", columns)
    return trace + 0.5 * sum_except_batch(score**2)


def sliced_score_matching_from_projections(
    score_fn: ScoreFn,
    x: Array,
    projections: Array,
    *,
    variance_reduced: bool = False,
    sigma: Array | float | None = None,
) -> Array:
    """Sliced score matching for given directions, averaged over them.

    ``vᵀ (∂s/∂x) v + 0.5 (vᵀ s)²`` (or ``+ 0.5 ||s||²`` when variance_reduced),
    one Jacobian-vector product per projection; the Jacobian is never built.

    Args:
      score_fn: ``(x [N, ...], sigma [N] | None) -> [N, ...]``.
      x: `[B, ...]`.
      projections: `[M, B, ...]`, M directions per example.
      variance_reduced: SSM-VR (Song et al., 2019); unbiased only if ``E[v vᵀ] = I``.
      sigma: None, a scalar or `[B]`, handed to ``score_fn``.
    Returns:
      `[B]`.
    """
    _check_batch(x)
    chex.assert_shape(projections, (None, *x.shape), custom_message="projections must be [M, *x.shape]")
    sigma = _per_example_sigma(sigma, x.shape[0])
    score, jvp = jax.linearize(lambda inputs: score_fn(inputs, sigma), x)
    _check_score(score, x)
    jacobian_times_v = jax.vmap(jvp)(projections)  # [M, B, ...]
    quadratic = jax.vmap(sum_except_batch)(projections * jacobian_times_v)  # [M, B]
    if variance_reduced:
        norm_term = 0.5 * sum_except_batch(score**2)  # [B]
    else:
        norm_term = 0.5 * jax.vmap(sum_except_batch)(projections * score) ** 2  # [M, B]
    return jnp.mean(quadratic + norm_term, axis=0)


def sliced_score_matching(
    rng: Array,
    score_fn: ScoreFn,
    x: Array,
    *,
    num_projections: int = 1,
    variance_reduced: bool = False,
    sigma: Array | float | None = None,
    projection: Projection = "gaussian",
) -> Array:
    """Sliced score matching (Song et al., 2019) with random directions, per example.

    An unbiased estimate of :func:`exact_score_matching` at the cost of
    ``num_projections`` Jacobian-vector products instead of D.

    Args:
      rng: PRNG key for the directions.
      score_fn: ``(x [N, ...], sigma [N] | None) -> [N, ...]``.
      x: `[B, ...]`.
      num_projections: M directions per example, averaged.
      variance_reduced: replace ``0.5 (vᵀ s)²`` by ``0.5 ||s||²`` (SSM-VR).
      sigma: None, a scalar or `[B]`, handed to ``score_fn``.
      projection: ``"gaussian"`` (v ~ N(0, I)) or ``"rademacher"`` (v ∈ {±1}^D);
        both have ``E[v vᵀ] = I``. Rademacher directions have lower variance
        (``vᵀ A v`` is exact for diagonal A).
    Returns:
      `[B]`.
    """
    shape = (num_projections, *x.shape)
    if projection == "gaussian":
        projections = jax.random.normal(rng, shape, dtype=x.dtype)
    elif projection == "rademacher":
        projections = jax.random.rademacher(rng, shape, dtype=x.dtype)
    else:
        raise ValueError(f"projection must be 'gaussian' or 'rademacher', got {projection!r}")
    return sliced_score_matching_from_projections(
        score_fn, x, projections, variance_reduced=variance_reduced, sigma=sigma
    )


def dsm_target(x: Array, x_tilde: Array, sigma: Array | float) -> Array:
    """``∇_x̃ log N(x̃; x, σ²I) = -(x̃ - x) / σ²``, the denoising regression target.

    Args:
      x, x_tilde: `[B, ...]`.
      sigma: a scalar or `[B]`.
    Returns:
      `[B, ...]`.
    """
    _check_batch(x)
    chex.assert_equal_shape([x, x_tilde], custom_message="x and x_tilde must have the same shape")
    sigma = _per_example_sigma(sigma, x.shape[0]).reshape((-1,) + (1,) * (x.ndim - 1))
    return -(x_tilde - x) / sigma**2


def denoising_score_matching(
    rng: Array,
    score_fn: ScoreFn,
    x: Array,
    sigmas: Array | float,
    *,
    weighting: float = 2.0,
) -> Array:
    """Denoising score matching, one random noise level per example (Song & Ermon, 2019).

    Each example draws σ uniformly from ``sigmas``, then ``x̃ = x + σ z`` and

        loss = σ^weighting · 0.5 ||score_fn(x̃, σ) + (x̃ - x)/σ²||².

    ``weighting=2`` is NCSN's λ(σ) = σ²: the loss becomes ``0.5 ||σ s + z||²``,
    whose minimum for Gaussian data N(0, s₀² I) is ``0.5 D s₀² / (s₀² + σ²)``,
    bounded by D/2 at every σ. ``weighting=0`` is Vincent's unweighted loss.
    Its minimiser over score functions is the score of the noised data density.

    Args:
      rng: PRNG key (noise levels and noise).
      score_fn: ``(x̃ [B, ...], sigma [B]) -> [B, ...]``.
      x: `[B, ...]` clean data.
      sigmas: a scalar or `[L]` noise levels.
      weighting: the exponent of λ(σ) = σ^weighting.
    Returns:
      `[B]`.
    """
    _check_batch(x)
    sigmas = jnp.asarray(sigmas, dtype=x.dtype)
    chex.assert_rank(sigmas, {0, 1}, custom_message="sigmas must be a scalar or [L]")
    batch = x.shape[0]
    sigmas = jnp.atleast_1d(sigmas)
    level_rng, noise_rng = jax.random.split(rng)
    if sigmas.shape[0] == 1:
        sigma = jnp.broadcast_to(sigmas, (batch,))
    else:
        sigma = sigmas[jax.random.randint(level_rng, (batch,), 0, sigmas.shape[0])]
    sigma_b = sigma.reshape((-1,) + (1,) * (x.ndim - 1))
    noise = jax.random.normal(noise_rng, x.shape, dtype=x.dtype)
    x_tilde = x + sigma_b * noise
    # (x̃ - x)/σ² written as z/σ: the same value without the cancellation in x̃ - x.
    score = score_fn(x_tilde, sigma)
    _check_score(score, x)
    residual = score + noise / sigma_b
    return sigma**weighting * 0.5 * sum_except_batch(residual**2)
