"""Quantisation by Lloyd's algorithm: k-means (vector) and Lloyd-Max (scalar).

Both alternate the two optimality conditions of a quantiser under squared error:
each point goes to its nearest centre (nearest-neighbour condition), and each
centre moves to the mean of its points (centroid condition). Neither step can
raise the distortion, so the distortion history is non-increasing.

* `kmeans(rng, x, num_clusters, *, num_iters, init=None)`: vectors `[N, D]`,
  k-means++ initialisation (Arthur & Vassilvitskii 2007) unless ``init`` is given.
* `lloyd_max(rng, x, num_levels, *, num_iters, init=None, weights=None)`: scalars
  `[N]` (Lloyd 1982; Max 1960); optional per-point ``weights`` let a caller
  quantise a density on a fine grid instead of a sample.

A cluster that loses all its points keeps its centre (no relocation), so a run
from given centres is the plain Lloyd iteration.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp

Array = jax.Array


class KMeansResult(NamedTuple):
    """Output of `kmeans`.

    Attributes:
      centres: `[K, D]` final centres.
      assignments: `[N]` int32 index of each point's nearest final centre.
      inertia: `[]` sum of squared distances of the points to their nearest final centre.
      inertia_history: `[num_iters]` inertia of the assignment made at each iteration
        (before that iteration's centre update); non-increasing.
    """

    centres: Array
    assignments: Array
    inertia: Array
    inertia_history: Array


class LloydMaxResult(NamedTuple):
    """Output of `lloyd_max`.

    Attributes:
      levels: `[L]` sorted reproduction levels.
      thresholds: `[L - 1]` decision thresholds, the midpoints of adjacent levels.
      assignments: `[N]` int32 level index of each point.
      mse: `[]` (weighted) mean squared error of the final quantiser.
      mse_history: `[num_iters]` mean squared error at each iteration's assignment.
    """

    levels: Array
    thresholds: Array
    assignments: Array
    mse: Array
    mse_history: Array


def squared_distances(x: Array, centres: Array) -> Array:
    """`[N, D]`, `[K, D]` -> `[N, K]` squared Euclidean distances (clipped at 0 against round-off)."""
    cross = x @ centres.T
    distances = jnp.sum(x**2, axis=1)[:, None] - 2.0 * cross + jnp.sum(centres**2, axis=1)[None, :]
    return jnp.maximum(distances, 0.0)


def kmeans_plus_plus(rng: Array, x: Array, num_clusters: int) -> Array:
    """k-means++ seeding: `[N, D]` -> `[K, D]` centres, each next one drawn with probability ∝ D(x)²."""
    first_key, rest_key = jax.random.split(rng)
    first = x[jax.random.randint(first_key, (), 0, x.shape[0])]
    centres = jnp.zeros((num_clusters, x.shape[1]), x.dtype).at[0].set(first)
    nearest = jnp.sum((x - first) ** 2, axis=1)

    def add_centre(k, carry):
        centres, nearest = carry
        # Points already chosen have D = 0 and cannot be drawn again (unless all are at distance 0).
        logits = jnp.where(nearest > 0, jnp.log(jnp.maximum(nearest, 1e-30)), -jnp.inf)
        logits = jnp.where(jnp.all(nearest <= 0), 0.0, logits)
        choice = jax.random.categorical(jax.random.fold_in(rest_key, k), logits)
        centre = x[choice]
        nearest = jnp.minimum(nearest, jnp.sum((x - centre) ** 2, axis=1))
        return centres.at[k].set(centre), nearest

    centres, _ = jax.lax.fori_loop(1, num_clusters, add_centre, (centres, nearest))
    return centres


def _centroids(x: Array, weights: Array, assignments: Array, previous: Array) -> Array:
    """Weighted mean of each cluster's points; an empty cluster keeps its previous centre."""
    num_clusters = previous.shape[0]
    one_hot = jax.nn.one_hot(assignments, num_clusters, dtype=x.dtype) * weights[:, None]
    mass = jnp.sum(one_hot, axis=0)
    sums = one_hot.T @ x
    return jnp.where(mass[:, None] > 0, sums / jnp.maximum(mass, 1e-30)[:, None], previous)


def _lloyd(x: Array, weights: Array, centres: Array, num_iters: int) -> tuple[Array, Array]:
    """`num_iters` Lloyd iterations from ``centres``: (final centres, distortion history `[num_iters]`)."""

    def iteration(centres, _):
        distances = squared_distances(x, centres)
        assignments = jnp.argmin(distances, axis=1)
        distortion = jnp.sum(weights * jnp.min(distances, axis=1))
        return _centroids(x, weights, assignments, centres), distortion

    return jax.lax.scan(iteration, centres, None, length=num_iters)


@functools.partial(jax.jit, static_argnames=("num_clusters", "num_iters"))
def kmeans(
    rng: Array, x: Array, num_clusters: int, *, num_iters: int, init: Array | None = None
) -> KMeansResult:
    """k-means by Lloyd's algorithm.

    Args:
      rng: key for the k-means++ seeding (unused when ``init`` is given).
      x: `[N, D]` points.
      num_clusters: K.
      num_iters: Lloyd iterations (assignment then centroid update), a fixed count.
      init: optional `[K, D]` initial centres.
    Returns:
      `KMeansResult`; ``inertia`` matches scikit-learn's ``KMeans(init=init, n_init=1).inertia_``
      once both have converged.
    """
    x = jnp.asarray(x, jnp.float32)
    chex.assert_rank(x, 2, custom_message="kmeans: x must be [N, D]")
    if num_clusters < 1 or num_clusters > x.shape[0]:
        raise ValueError(f"num_clusters must be in [1, N={x.shape[0]}], got {num_clusters}")
    if num_iters < 1:
        raise ValueError(f"num_iters must be positive, got {num_iters}")
    if init is None:
        centres = kmeans_plus_plus(rng, x, num_clusters)
    else:
        centres = jnp.asarray(init, jnp.float32)
        chex.assert_shape(centres, (num_clusters, x.shape[1]), custom_message="kmeans: init must be [K, D]")
    weights = jnp.ones(x.shape[0], x.dtype)
    centres, history = _lloyd(x, weights, centres, num_iters)
    distances = squared_distances(x, centres)
    assignments = jnp.argmin(distances, axis=1).astype(jnp.int32)
    return KMeansResult(centres, assignments, jnp.sum(distances.min(1)), history)


@functools.partial(jax.jit, static_argnames=("num_levels", "num_iters"))
def lloyd_max(
    rng: Array,
    x: Array,
    num_levels: int,
    *,
    num_iters: int,
    init: Array | None = None,
    weights: Array | None = None,
) -> LloydMaxResult:
    """The Lloyd-Max scalar quantiser minimising the mean squared error.

    Args:
      rng: key for the default initialisation, ``num_levels`` distinct points of
        ``x`` drawn at random (with probability ∝ weight) and sorted.
      x: `[N]` samples, or grid points when ``weights`` are given.
      num_levels: L reproduction levels.
      num_iters: iterations of (thresholds at midpoints, levels at conditional means).
      init: optional `[L]` initial levels.
      weights: optional `[N]` non-negative weights (e.g. a density times the grid step);
        normalised to sum to 1. Default: equal weights (the empirical distribution).
    Returns:
      `LloydMaxResult` with sorted levels and the (weighted) mean squared error.
    """
    x = jnp.asarray(x, jnp.float32)
    chex.assert_rank(x, 1, custom_message="lloyd_max: x must be [N]")
    if num_levels < 1 or num_levels > x.shape[0]:
        raise ValueError(f"num_levels must be in [1, N={x.shape[0]}], got {num_levels}")
    if num_iters < 1:
        raise ValueError(f"num_iters must be positive, got {num_iters}")
    weights = jnp.ones_like(x) if weights is None else jnp.asarray(weights, jnp.float32)
    chex.assert_equal_shape((x, weights), custom_message="lloyd_max: weights must be [N] like x")
    weights = weights / jnp.sum(weights)
    if init is None:
        chosen = jax.random.choice(rng, x.shape[0], (num_levels,), replace=False, p=weights)
        levels = x[chosen]
    else:
        levels = jnp.asarray(init, jnp.float32)
        chex.assert_shape(levels, (num_levels,), custom_message="lloyd_max: init must be [L]")
    # In one dimension the nearest-level rule is the midpoint-threshold rule, so this is Lloyd's
    # iteration on [N, 1] vectors; the sort keeps levels and thresholds ordered.
    levels, history = _lloyd(x[:, None], weights, jnp.sort(levels)[:, None], num_iters)
    levels = jnp.sort(levels[:, 0])
    thresholds = 0.5 * (levels[1:] + levels[:-1])
    assignments = jnp.searchsorted(thresholds, x).astype(jnp.int32)
    mse = jnp.sum(weights * (x - levels[assignments]) ** 2)
    return LloydMaxResult(levels, thresholds, assignments, mse, history)
