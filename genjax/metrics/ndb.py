"""Number of statistically different bins (NDB), after Richardson & Weiss (NeurIPS 2018).

Richardson and Weiss ("On GANs and GMMs", NeurIPS 2018) proposed a test of
mode collapse and mode invention that needs no classifier: partition the
feature space into K cells with k-means fitted on the *training* features,
count how the training set and the generated set fall into those cells, and
ask for each cell whether the two proportions differ. A model that matches
the data distribution has about ``alpha * K`` significant cells (the false
positives of K tests at level alpha); a model that drops or over-produces
modes has many more.

Per cell ``k`` with training count ``a_k`` out of ``N`` and generated count
``b_k`` out of ``M``, the two-proportion z-test with the pooled proportion
``p_k = (a_k + b_k) / (N + M)`` uses

    z_k = (a_k / N - b_k / M) / sqrt(p_k (1 - p_k) (1 / N + 1 / M)),

and the two-sided p-value ``erfc(|z_k| / sqrt 2)``; a cell is flagged when
that p-value is below ``alpha``. A cell empty in both sets has no variance and
is never flagged. The tests are not corrected for multiplicity: NDB is a
count, read against its null level ``alpha * K``.

The summary also reports the Jensen-Shannon divergence (in nats, at most
``ln 2``) between the two cell histograms.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

Array = jax.Array

# Rows per block when assigning points to centres, so [block, K] stays small for large N.
_ASSIGN_BLOCK = 8192


class NDBResult(NamedTuple):
    """What `number_of_different_bins` returns (K = ``num_bins``).

    Attributes:
      num_different_bins: scalar int, the number of significantly different cells.
      different: `[K]` bool, which cells differ at level alpha.
      p_values: `[K]` two-sided p-values of the per-cell z-tests (1 for cells empty in both sets).
      z_scores: `[K]` z statistics, positive where the training set has the larger share.
      train_proportions: `[K]` share of the training features in each cell (sums to 1).
      fake_proportions: `[K]` share of the generated features in each cell (sums to 1).
      js_divergence: scalar Jensen-Shannon divergence of the two histograms, in nats.
      centers: `[K, D]` the k-means centres fitted on the training features.
    """

    num_different_bins: Array
    different: Array
    p_values: Array
    z_scores: Array
    train_proportions: Array
    fake_proportions: Array
    js_divergence: Array
    centers: Array


def _as_matrix(x: ArrayLike) -> Array:
    """`[N, ...]` -> `[N, D]` floating array."""
    x = jnp.asarray(x)
    chex.assert_rank(x, {2, 3, 4, 5}, custom_message="expected a batch of features [N, ...]")
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.float32)
    return x.reshape(x.shape[0], -1)


def _squared_distances(x: Array, y: Array) -> Array:
    """`[N, D]`, `[K, D]` -> `[N, K]` squared Euclidean distances (clipped at 0 against rounding)."""
    cross = jnp.matmul(x, y.T, precision=jax.lax.Precision.HIGHEST)
    return jnp.maximum(jnp.sum(x * x, 1)[:, None] + jnp.sum(y * y, 1)[None, :] - 2.0 * cross, 0.0)


def _assign(x: Array, centers: Array) -> Array:
    """`[N, D]`, `[K, D]` -> `[N]` int32 index of the nearest centre, in row blocks of ``x``."""
    num = x.shape[0]
    block = min(_ASSIGN_BLOCK, num)
    num_blocks = -(-num // block)
    padded = jnp.pad(x, ((0, num_blocks * block - num), (0, 0))).reshape(num_blocks, block, -1)
    labels = jax.lax.map(lambda rows: jnp.argmin(_squared_distances(rows, centers), axis=1), padded)
    return labels.reshape(-1)[:num].astype(jnp.int32)


def _kmeans_plus_plus(rng: Array, x: Array, num_clusters: int) -> Array:
    """k-means++ seeding (Arthur & Vassilvitskii 2007): `[N, D]` -> `[K, D]` initial centres.

    The first centre is a uniformly drawn row; each next one is drawn with
    probability proportional to its squared distance to the nearest chosen centre.
    """
    first_key, rest_key = jax.random.split(rng)
    first = x[jax.random.randint(first_key, (), 0, x.shape[0])]
    centers = jnp.zeros((num_clusters, x.shape[1]), x.dtype).at[0].set(first)
    min_sq = jnp.sum((x - first) ** 2, axis=1)

    def step(k, carry):
        centers, min_sq = carry
        # log(0) = -inf gives already chosen rows zero probability; all-zero falls back to uniform.
        logits = jnp.where(jnp.max(min_sq) > 0, jnp.log(min_sq), jnp.zeros_like(min_sq))
        index = jax.random.categorical(jax.random.fold_in(rest_key, k), logits)
        chosen = x[index]
        return centers.at[k].set(chosen), jnp.minimum(min_sq, jnp.sum((x - chosen) ** 2, axis=1))

    centers, _ = jax.lax.fori_loop(1, num_clusters, step, (centers, min_sq))
    return centers


def _kmeans(rng: Array, x: Array, *, num_clusters: int, num_iters: int) -> Array:
    """Lloyd's k-means with k-means++ seeding: `[N, D]` -> `[K, D]` centres (jitted).

    Each iteration assigns every row to its nearest centre and moves each
    centre to the mean of its rows; a centre that loses all its rows stays put.
    """
    return _kmeans_jit(rng, x, num_clusters, num_iters)


@functools.partial(jax.jit, static_argnums=(2, 3))
def _kmeans_jit(rng: Array, x: Array, num_clusters: int, num_iters: int) -> Array:
    centers = _kmeans_plus_plus(rng, x, num_clusters)

    def lloyd(_, centers):
        labels = _assign(x, centers)
        sums = jax.ops.segment_sum(x, labels, num_segments=num_clusters)
        counts = jax.ops.segment_sum(jnp.ones_like(labels, x.dtype), labels, num_segments=num_clusters)
        return jnp.where(counts[:, None] > 0, sums / jnp.maximum(counts, 1.0)[:, None], centers)

    return jax.lax.fori_loop(0, num_iters, lloyd, centers)


def _js_divergence(p: Array, q: Array) -> Array:
    """Jensen-Shannon divergence in nats of `[K]` histograms p and q (each summing to 1); scalar."""
    m = 0.5 * (p + q)

    def kl_to_m(a: Array) -> Array:
        return jnp.sum(jnp.where(a > 0, a * (jnp.log(jnp.where(a > 0, a, 1.0)) - jnp.log(m)), 0.0))

    return 0.5 * kl_to_m(p) + 0.5 * kl_to_m(q)


@functools.partial(jax.jit, static_argnums=(3,))
def _bin_test(train: Array, fake: Array, centers: Array, alpha: float) -> tuple[Array, ...]:
    """The per-cell z-tests and JS divergence given fitted centres (jitted core)."""
    num_bins = centers.shape[0]
    count = lambda x: jax.ops.segment_sum(
        jnp.ones((x.shape[0],), jnp.float32), _assign(x, centers), num_segments=num_bins
    )
    n, m = train.shape[0], fake.shape[0]
    train_counts, fake_counts = count(train), count(fake)
    p_train, p_fake = train_counts / n, fake_counts / m
    pooled = (train_counts + fake_counts) / (n + m)
    std_err = jnp.sqrt(pooled * (1.0 - pooled) * (1.0 / n + 1.0 / m))
    valid = std_err > 0
    z = jnp.where(valid, (p_train - p_fake) / jnp.where(valid, std_err, 1.0), 0.0)
    p_values = jax.scipy.special.erfc(jnp.abs(z) / math.sqrt(2.0))
    different = valid & (p_values < alpha)
    return (
        jnp.sum(different).astype(jnp.int32),
        different,
        p_values,
        z,
        p_train,
        p_fake,
        _js_divergence(p_train, p_fake),
    )


def number_of_different_bins(
    rng: Array,
    train_feats: ArrayLike,
    fake_feats: ArrayLike,
    *,
    num_bins: int = 100,
    alpha: float = 0.05,
    num_iters: int = 50,
) -> NDBResult:
    """Counts the k-means cells where generated and training features fall in different proportions.

    Fits ``num_bins`` centres on ``train_feats`` (k-means++ seeding keyed by
    ``rng``, then ``num_iters`` Lloyd iterations), assigns both sets to their
    nearest centre and runs a two-sided two-proportion z-test per cell at
    level ``alpha`` (see the module docstring). When both sets come from the
    same distribution about ``alpha * num_bins`` cells are flagged; collapsed
    or invented modes flag many more. Bins are fitted on the training set
    only, as in the paper, so ``train_feats`` and ``fake_feats`` are not
    interchangeable. Needs ``N >> num_bins`` for the normal approximation.

    Args:
      rng: PRNG key for the k-means seeding.
      train_feats: `[N, ...]` training (reference) features, flattened to `[N, D]`.
      fake_feats: `[M, ...]` generated features, the same D.
      num_bins: K, the number of k-means cells (<= N).
      alpha: significance level of each per-cell test, in (0, 1).
      num_iters: Lloyd iterations after seeding.
    Returns:
      an `NDBResult`: the scalar count ``num_different_bins``, the `[K]` flags,
      p-values, z-scores and proportions, the scalar JS divergence in nats, and
      the `[K, D]` centres.
    """
    train, fake = _as_matrix(train_feats), _as_matrix(fake_feats)
    chex.assert_equal_shape_suffix(
        [train, fake], 1, custom_message="train_feats and fake_feats must have the same feature size"
    )
    if not (isinstance(num_bins, int) and 1 <= num_bins <= train.shape[0]):
        raise ValueError(f"num_bins: got {num_bins!r}; must be an int in [1, {train.shape[0]}] (N)")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha: got {alpha!r}; must be in (0, 1)")
    if not (isinstance(num_iters, int) and num_iters >= 0):
        raise ValueError(f"num_iters: got {num_iters!r}; must be an int >= 0")
    centers = _kmeans(rng, train, num_clusters=num_bins, num_iters=num_iters)
    return NDBResult(*_bin_test(train, fake, centers, float(alpha)), centers=centers)
