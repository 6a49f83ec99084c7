"""Classifier-based sample scores: Inception score and its relatives.

Every function takes class probabilities ``probs: [N, K]`` that a fixed
classifier assigns to N generated samples (rows are distributions over K
classes, e.g. a softmax). Write ``p(y|x)`` for one row and ``p(y)`` for the
mean row (the classifier's marginal over the generated set). All logs are
natural; zero probabilities are handled with ``xlogy`` (``0 log 0 = 0``), so
a KL divergence is finite whenever its first argument puts no mass where the
second has none, and ``+inf`` otherwise (the exact value, not a failure).

**Inception score** (Salimans et al., "Improved Techniques for Training
GANs", NeurIPS 2016): ``IS = exp(E_x KL(p(y|x) || p(y)))``. The exponent is
the mutual information between the sample and its label, so ``1 <= IS <= K``:
1 when every sample gets the same prediction, K when the predictions are
confident (one-hot) and the classes are balanced. Higher is better.

**Modified Inception score** (Gurumurthy et al., "DeLiGAN: Generative
Adversarial Networks for Diverse and Limited Data", CVPR 2017): the marginal
is replaced by another sample's prediction, ``MIS = exp(E_{x, x'} KL(p(y|x) ||
p(y|x')))`` with x, x' independent, which also rewards diversity *within* a
class. Higher is better.

**Mode score** (Che et al., "Mode Regularized Generative Adversarial
Networks", ICLR 2017): ``MS = exp(E_x KL(p(y|x) || p*(y)) - KL(p(y) ||
p*(y)))`` where ``p*(y)`` is the classifier's marginal over *real* data; the
second term penalises a generated label histogram that differs from the real
one. Higher is better (at most K).

**AM score** (Zhou et al., "Activation Maximization Generative Adversarial
Nets", ICLR 2018): ``AM = KL(p*(y) || p(y)) + E_x H(p(y|x))`` with ``p*(y)``
the marginal over the *training* data: a histogram mismatch plus the mean
prediction entropy. A divergence, so lower is better (0 is perfect).

The scores are jittable (``num_splits`` static); the row-sum check runs only
on concrete inputs and is skipped under tracing.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import xlogy
from jax.typing import ArrayLike

Array = jax.Array

# Rows may miss a total of 1 by this much (float32 softmax is good to ~1e-6).
_ROW_SUM_ATOL = 1e-3


def _as_probs(probs: ArrayLike, name: str = "probs") -> Array:
    """`[N, K]` -> floating `[N, K]`; a one-line ValueError (concrete input) unless rows are distributions."""
    if not isinstance(probs, jax.core.Tracer):
        arr = np.asarray(probs)
        if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
            raise ValueError(f"{name} must be class probabilities [N, K], N, K >= 1, got shape {arr.shape}")
        sums = arr.sum(axis=1, dtype=np.float64)
        if np.min(arr) < 0 or not np.all(np.abs(sums - 1.0) <= _ROW_SUM_ATOL):
            worst = float(np.max(np.abs(sums - 1.0)))
            raise ValueError(
                f"{name} rows must be non-negative and sum to 1 (max |sum - 1| = {worst:.3g}, "
                f"min entry = {float(np.min(arr)):.3g}); pass softmax outputs, not logits"
            )
    probs = jnp.asarray(probs)
    if not jnp.issubdtype(probs.dtype, jnp.floating):
        probs = probs.astype(jnp.float32)
    return probs


def _kl(p: Array, q: Array) -> Array:
    """`[..., K]`, `[..., K]` -> `[...]`: KL(p || q) in nats, 0 log 0 = 0, +inf where q = 0 < p."""
    return jnp.sum(xlogy(p, p) - xlogy(p, q), axis=-1)


def _entropy(p: Array) -> Array:
    """`[..., K]` -> `[...]`: Shannon entropy in nats."""
    return -jnp.sum(xlogy(p, p), axis=-1)


def _splits(probs: Array, num_splits: int) -> Array:
    """`[N, K]` -> `[num_splits, N // num_splits, K]`, consecutive rows; the last N mod num_splits dropped."""
    n, k = probs.shape
    if num_splits < 1 or n < num_splits:
        raise ValueError(f"num_splits must be in [1, N] = [1, {n}], got {num_splits}")
    size = n // num_splits
    return probs[: num_splits * size].reshape(num_splits, size, k)


@functools.partial(jax.jit, static_argnames="num_splits")
def _inception_score(probs: Array, num_splits: int) -> tuple[Array, Array]:
    parts = _splits(probs, num_splits)  # [S, n, K]
    marginal = jnp.mean(parts, axis=1, keepdims=True)  # [S, 1, K]
    scores = jnp.exp(jnp.mean(_kl(parts, marginal), axis=1))  # [S]
    return jnp.mean(scores), jnp.std(scores)


def inception_score(probs: ArrayLike, *, num_splits: int = 10) -> tuple[Array, Array]:
    """Inception score ``exp(E_x KL(p(y|x) || p(y)))``, mean and std over splits; higher is better.

    Args:
      probs: `[N, K]` class probabilities of N generated samples.
      num_splits: the rows are cut into this many consecutive splits of
        ``N // num_splits`` rows (a remainder is dropped, as in the original
        evaluation code); each split uses its own marginal ``p(y)``.

    Returns:
      ``(mean, std)``: scalars, the mean and population standard deviation
      (ddof 0) of the per-split scores, each in ``[1, K]``.
    """
    return _inception_score(_as_probs(probs), num_splits)


def _pairwise_kl_mean(part: Array) -> Array:
    """`[n, K]` -> scalar: mean of KL(p_i || p_j) over ordered pairs i != j, in O(n K).

    ``sum_{i != j} KL(p_i || p_j) = (n - 1) A - (sum_k S_k T_k - A)`` with ``A = sum_{i,k} p_ik log p_ik``,
    ``S_k = sum_i p_ik`` and ``T_k = sum_j log p_jk``. A column holding both a zero and a positive entry
    makes some pair infinite; other zero entries only meet zero weights and contribute nothing.
    """
    n = part.shape[0]
    positive = part > 0
    log_p = jnp.where(positive, jnp.log(jnp.where(positive, part, 1.0)), 0.0)  # [n, K], 0 where p = 0
    self_term = jnp.sum(part * log_p)  # sum_i sum_k p_ik log p_ik
    # sum_{i != j} sum_k p_ik log p_jk: all ordered pairs minus the diagonal.
    cross = jnp.sum(jnp.sum(part, axis=0) * jnp.sum(log_p, axis=0)) - self_term
    mean_kl = ((n - 1) * self_term - cross) / (n * (n - 1))
    mixed = jnp.any(jnp.any(positive, axis=0) & jnp.any(~positive, axis=0))
    return jnp.where(mixed, jnp.inf, mean_kl)


@functools.partial(jax.jit, static_argnames="num_splits")
def _modified_inception_score(probs: Array, num_splits: int) -> tuple[Array, Array]:
    parts = _splits(probs, num_splits)
    if parts.shape[1] < 2:
        raise ValueError(f"modified_inception_score needs at least 2 rows per split, got {parts.shape[1]}")
    scores = jnp.exp(jax.vmap(_pairwise_kl_mean)(parts))  # [S]
    return jnp.mean(scores), jnp.std(scores)


def modified_inception_score(probs: ArrayLike, *, num_splits: int = 10) -> tuple[Array, Array]:
    """Modified Inception score ``exp(E_{x, x'} KL(p(y|x) || p(y|x')))`` over splits; higher is better.

    Within each split of n rows the expectation is the unbiased average over
    the ``n (n - 1)`` ordered pairs of *distinct* rows (including the zero
    ``i = j`` terms would scale the exponent by ``(n - 1) / n``). It is
    computed in ``O(n K)`` without forming the pairwise matrix. The score is
    ``+inf`` when some class has probability exactly 0 for one sample and
    positive for another (one-hot predictions of two classes, for instance):
    that KL divergence is infinite, so pass softmax outputs, which are
    positive unless they underflow.

    Args:
      probs: `[N, K]` class probabilities of N generated samples.
      num_splits: consecutive splits of ``N // num_splits >= 2`` rows (a
        remainder is dropped).

    Returns:
      ``(mean, std)``: scalars over the per-split scores, each ``>= 1``.
    """
    return _modified_inception_score(_as_probs(probs), num_splits)


@jax.jit
def _mode_score(probs: Array, real_probs: Array) -> Array:
    real_marginal = jnp.mean(real_probs, axis=0)  # [K]
    marginal = jnp.mean(probs, axis=0)  # [K]
    return jnp.exp(jnp.mean(_kl(probs, real_marginal)) - _kl(marginal, real_marginal))


def mode_score(probs: ArrayLike, real_probs: ArrayLike) -> Array:
    """Mode score ``exp(E_x KL(p(y|x) || p*(y)) - KL(p(y) || p*(y)))``; higher is better.

    ``p(y)`` is the mean of ``probs`` and ``p*(y)`` the mean of
    ``real_probs``. With balanced one-hot real predictions it equals K for
    confident, balanced samples and 1 for samples that all get one label.
    It is ``+inf`` if ``p*`` is zero on a class that some sample gives mass.

    Args:
      probs: `[N, K]` class probabilities of N generated samples.
      real_probs: `[M, K]` class probabilities of M real samples (same K).

    Returns:
      scalar score, whole set (no splits).
    """
    probs = _as_probs(probs)
    real_probs = _as_probs(real_probs, "real_probs")
    if probs.shape[1] != real_probs.shape[1]:
        raise ValueError(f"probs has {probs.shape[1]} classes but real_probs has {real_probs.shape[1]}")
    return _mode_score(probs, real_probs)


@jax.jit
def _am_score(probs: Array, train_probs: Array) -> Array:
    train_marginal = jnp.mean(train_probs, axis=0)  # [K]
    marginal = jnp.mean(probs, axis=0)  # [K]
    return _kl(train_marginal, marginal) + jnp.mean(_entropy(probs))


def am_score(probs: ArrayLike, train_probs: ArrayLike) -> Array:
    """AM score ``KL(p*(y) || p(y)) + E_x H(p(y|x))`` in nats; lower is better, 0 is perfect.

    ``p*(y)`` is the mean of ``train_probs`` and ``p(y)`` the mean of
    ``probs``. It is 0 exactly when the samples get one-hot predictions whose
    histogram matches the training marginal, and ``+inf`` when the samples
    never produce a class that the training data do.

    Args:
      probs: `[N, K]` class probabilities of N generated samples.
      train_probs: `[M, K]` class probabilities of M training samples (same K).

    Returns:
      scalar score in nats, whole set (no splits).
    """
    probs = _as_probs(probs)
    train_probs = _as_probs(train_probs, "train_probs")
    if probs.shape[1] != train_probs.shape[1]:
        raise ValueError(f"probs has {probs.shape[1]} classes but train_probs has {train_probs.shape[1]}")
    return _am_score(probs, train_probs)
