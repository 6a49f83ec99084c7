"""Probabilistic PCA (Tipping & Bishop 1999) as pure functions of arrays.

The model: ``z ~ N(0, I_q)``, ``x = W z + mu + eps`` with ``eps ~ N(0, sigma^2 I_D)``, so
``x ~ N(mu, C)`` with ``C = W W^T + sigma^2 I_D``.

Maximum likelihood has a closed form (Tipping & Bishop 1999, eqs. 7-8): with
``lambda_1 >= ... >= lambda_D`` the eigenvalues of the sample covariance ``S`` and
``U_q`` its leading eigenvectors,

    sigma^2 = mean(lambda_{q+1}, ..., lambda_D),   W = U_q (Lambda_q - sigma^2 I)^{1/2}

(up to a rotation of the latent space, which leaves the likelihood unchanged).

Covariance normalisation: ``S`` divides by ``n - ddof``. ``ddof=0`` (the default) is
the exact maximum-likelihood fit of the training data; ``ddof=1`` is what
scikit-learn's ``PCA`` uses, and then `ppca_log_prob` equals
``PCA(q).fit(x).score_samples`` whenever ``n > D`` (scikit-learn averages the
discarded eigenvalues over ``min(n, D) - q`` of them, the MLE over ``D - q``).

`ppca_log_prob` never forms the ``D x D`` covariance: by the Woodbury identity and the
matrix determinant lemma, with ``M = W^T W + sigma^2 I_q`` (``q x q``),

    C^{-1} = (I - W M^{-1} W^T) / sigma^2,   log|C| = (D - q) log sigma^2 + log|M|,

so a batch costs ``O(B D q + q^3)``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp

Array = jax.Array


class PPCAParams(NamedTuple):
    """Parameters of a probabilistic PCA model.

    Attributes:
      mean: `[D]` mu.
      weights: `[D, q]` W, the factor loadings.
      noise_variance: `[]` sigma^2 > 0, the isotropic noise variance.
    """

    mean: Array
    weights: Array
    noise_variance: Array


def _flatten(x: Array) -> Array:
    chex.assert_rank(x, {2, 3, 4}, custom_message="x must be a batch [B, ...] of vectors or images")
    return x.reshape(x.shape[0], -1)


def fit_ppca(x: Array, num_components: int, *, ddof: int = 0) -> PPCAParams:
    """The closed-form maximum-likelihood probabilistic PCA fit (jittable; ``num_components`` static).

    Args:
      x: `[N, ...]` data; non-batch axes are flattened to ``D``.
      num_components: q, with ``0 < q < D``.
      ddof: the covariance divides by ``N - ddof``: 0 is the exact MLE, 1 matches scikit-learn.
    Returns:
      `PPCAParams` with mean `[D]`, weights `[D, q]` (columns in decreasing variance,
      orthogonal) and noise_variance `[]`.
    """
    flat = _flatten(x).astype(jnp.float32)
    num_dims = flat.shape[1]
    if not 0 < num_components < num_dims:
        raise ValueError(
            f"num_components: got {num_components}; must be in [1, {num_dims - 1}] (D={num_dims})"
        )
    mean = flat.mean(axis=0)
    centred = flat - mean
    covariance = centred.T @ centred / (flat.shape[0] - ddof)
    eigenvalues, eigenvectors = jnp.linalg.eigh(covariance)  # ascending
    eigenvalues = jnp.maximum(eigenvalues[::-1], 0.0)  # round-off can make the smallest negative
    eigenvectors = eigenvectors[:, ::-1]
    noise_variance = eigenvalues[num_components:].mean()
    # A floor keeps the model proper when the data lie exactly in a q-dimensional subspace.
    noise_variance = jnp.maximum(noise_variance, 1e-12 * jnp.maximum(eigenvalues[0], 1e-30))
    scales = jnp.sqrt(jnp.maximum(eigenvalues[:num_components] - noise_variance, 0.0))
    return PPCAParams(mean, eigenvectors[:, :num_components] * scales, noise_variance)


def _check(params: PPCAParams, flat: Array) -> None:
    num_dims = flat.shape[1]
    chex.assert_shape(params.mean, (num_dims,), custom_message="params.mean must be [D], D = x's dimensions")
    chex.assert_shape(params.weights, (num_dims, None), custom_message="params.weights must be [D, q]")
    chex.assert_shape(params.noise_variance, (), custom_message="params.noise_variance must be a scalar")


def _inner(params: PPCAParams) -> tuple[Array, Array]:
    """Cholesky factor of ``M = W^T W + sigma^2 I_q`` `[q, q]` and ``log|M|``."""
    weights = params.weights
    m = weights.T @ weights + params.noise_variance * jnp.eye(weights.shape[1], dtype=weights.dtype)
    chol = jnp.linalg.cholesky(m)
    return chol, 2.0 * jnp.sum(jnp.log(jnp.diagonal(chol)))


def ppca_log_prob(params: PPCAParams, x: Array) -> Array:
    """Exact log N(x; mu, W W^T + sigma^2 I) per example, in nats, without forming the covariance.

    Args:
      params: `PPCAParams` for D dimensions and q components.
      x: `[B, ...]` data; non-batch axes flatten to D.
    Returns:
      `[B]` log-densities.
    """
    flat = _flatten(x)
    _check(params, flat)
    num_dims, num_components = params.weights.shape
    sigma2 = params.noise_variance
    chol, log_det_m = _inner(params)
    residual = flat - params.mean  # [B, D]
    projected = residual @ params.weights  # [B, q]
    # r^T W M^{-1} W^T r = |L^{-1} W^T r|^2 with M = L L^T.
    whitened = jax.scipy.linalg.solve_triangular(chol, projected.T, lower=True)  # [q, B]
    mahalanobis = (jnp.sum(residual**2, axis=1) - jnp.sum(whitened**2, axis=0)) / sigma2
    log_det = (num_dims - num_components) * jnp.log(sigma2) + log_det_m
    return -0.5 * (num_dims * math.log(2.0 * math.pi) + log_det + mahalanobis)


def posterior_mean(params: PPCAParams, x: Array) -> Array:
    """E[z | x] = M^{-1} W^T (x - mu), `[B, ...]` -> `[B, q]`: the PPCA code of each example."""
    flat = _flatten(x)
    _check(params, flat)
    chol, _ = _inner(params)
    projected = (flat - params.mean) @ params.weights
    return jax.scipy.linalg.cho_solve((chol, True), projected.T).T


def reconstruct(params: PPCAParams, x: Array, *, orthogonal: bool = False) -> Array:
    """Reconstructions `[B, ...]` (x's shape) from the q-dimensional code.

    ``orthogonal=False``: ``W E[z|x] + mu``, the posterior mean of the noise-free
    ``W z + mu`` (shrunk towards mu by ``sigma^2``). ``orthogonal=True``: the least-squares
    projection ``W (W^T W)^{-1} W^T (x - mu) + mu`` onto the principal subspace, PCA's
    reconstruction (the ``sigma^2 -> 0`` limit of the first).
    """
    flat = _flatten(x)
    _check(params, flat)
    residual = flat - params.mean
    if orthogonal:
        coefficients, *_ = jnp.linalg.lstsq(params.weights, residual.T)
        out = params.weights @ coefficients
    else:
        out = params.weights @ posterior_mean(params, x).T
    return (out.T + params.mean).reshape(x.shape)


def explained_variance(params: PPCAParams) -> Array:
    """`[q]` model variance along its q principal directions, decreasing: ``s_i^2 + sigma^2``.

    ``s_i`` are W's singular values. For `fit_ppca(x, q, ddof=1)` these are the q largest
    eigenvalues of the sample covariance, scikit-learn's ``explained_variance_``.
    """
    singular_values = jnp.linalg.svd(params.weights, compute_uv=False)
    return singular_values**2 + params.noise_variance


def explained_variance_ratio(params: PPCAParams) -> Array:
    """`[q]` explained variance over the model's total variance ``trace(C) = |W|_F^2 + D sigma^2``.

    For the closed-form fit ``trace(C)`` equals the data's total variance, so this is
    scikit-learn's ``explained_variance_ratio_``.
    """
    num_dims = params.weights.shape[0]
    total = jnp.sum(params.weights**2) + num_dims * params.noise_variance
    return explained_variance(params) / total


def ppca_sample(rng: Array, params: PPCAParams, num_samples: int) -> Array:
    """`[N, D]` draws ``W z + mu + sigma eps`` from the model."""
    num_dims, num_components = params.weights.shape
    latent_key, noise_key = jax.random.split(rng)
    z = jax.random.normal(latent_key, (num_samples, num_components))
    noise = jax.random.normal(noise_key, (num_samples, num_dims))
    return z @ params.weights.T + params.mean + jnp.sqrt(params.noise_variance) * noise
