"""Nearest-neighbour fidelity and diversity: precision/recall and density/coverage.

Both pairs estimate each distribution's support by a union of balls: around
every point of a set sits a ball whose radius is the distance to that
point's k-th nearest neighbour *in the same set* (the point itself excluded).

**Improved precision and recall** (Kynkäänniemi et al., "Improved Precision
and Recall Metric for Assessing Generative Models", NeurIPS 2019):
precision is the fraction of fake samples inside the union of the real
balls (fidelity: do samples look real?), recall the fraction of real samples
inside the union of the fake balls (diversity: is the real data covered?).

**Density and coverage** (Naeem et al., "Reliable Fidelity and Diversity
Metrics for Generative Models", ICML 2020) use only the real balls, which
makes them robust to outlying fakes: density is the mean over fake samples of
the number of real balls containing it, divided by k (about 1 when the two
distributions agree, unbounded above, so not a fraction); coverage is the
fraction of real samples whose ball contains at least one fake sample.

All four are higher-is-better. Conventions, chosen to agree exactly with the
reference ``prdc`` package (Naeem et al.'s release), against which the tests
compare:

- Argument order is ``(real_feats, fake_feats)``: swapping them swaps
  precision with recall and changes density and coverage entirely.
- Ball membership is the *strict* ``distance < radius``. A point therefore
  never lies in its own ball of radius 0 (k duplicates of it), and a fake
  sample exactly on a ball's boundary is outside.
- Distances are Euclidean between flattened features.

Nothing of size N x M is ever held: the distances are computed one block of
``chunk_size`` query rows at a time against the whole other set, so memory is
``O(chunk_size * max(N, M))``. Both functions are jittable; they return
NamedTuples of scalar arrays (call ``float`` on them for Python numbers).
Distances are computed in the features' dtype (float32 unless float64 is
enabled), so a point within float32 rounding of a ball's boundary may be
classified differently from a float64 reference.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

Array = jax.Array

# Query rows per block: 1024 x 50_000 float32 distances are 200 MB.
_DEFAULT_CHUNK_SIZE = 1024


class PrecisionRecall(NamedTuple):
    """Scalars in [0, 1]: fraction of fakes in the real support, fraction of reals in the fake support."""

    precision: Array
    recall: Array


class DensityCoverage(NamedTuple):
    """Scalars: density (>= 0, about 1 when fake matches real) and coverage in [0, 1]."""

    density: Array
    coverage: Array


def _as_features(x: ArrayLike, name: str) -> Array:
    """`[N, ...]` -> `[N, D]` floating features."""
    x = jnp.asarray(x)
    if x.ndim < 1 or x.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty batch of features [N, ...], got shape {x.shape}")
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.float32)
    return x.reshape(x.shape[0], -1)


def _check_pair(real: Array, fake: Array, k: int, chunk_size: int, *, max_k: int) -> None:
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"real_feats has {real.shape[1]} features but fake_feats has {fake.shape[1]}")
    if not 1 <= k <= max_k:
        raise ValueError(f"k must be in [1, {max_k}] (each ball needs k other points in its set), got {k}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be positive, got {chunk_size}")


def _squared_distances(x: Array, y: Array) -> Array:
    """`[C, D]`, `[M, D]` -> `[C, M]` squared Euclidean distances (clipped at 0 against rounding)."""
    cross = jnp.matmul(x, y.T, precision=jax.lax.Precision.HIGHEST)
    sq = jnp.sum(x * x, axis=1)[:, None] + jnp.sum(y * y, axis=1)[None, :] - 2.0 * cross
    return jnp.maximum(sq, 0.0)


def _map_chunks(fn, queries: Array, chunk_size: int) -> Array:
    """Apply ``fn(block [C, D], row_ids [C]) -> [C, ...]`` to `[N, D]` C rows at a time: `[N, ...]`."""
    n = queries.shape[0]
    size = min(chunk_size, n)
    num_chunks = -(-n // size)
    padded = jnp.pad(queries, ((0, num_chunks * size - n), (0, 0)))
    ids = jnp.arange(num_chunks * size).reshape(num_chunks, size)
    out = jax.lax.map(lambda args: fn(*args), (padded.reshape(num_chunks, size, -1), ids))
    return out.reshape(num_chunks * size, *out.shape[2:])[:n]


def _knn_squared_radii(x: Array, k: int, chunk_size: int) -> Array:
    """`[N, D]` -> `[N]` squared distance from each point to its k-th nearest other point of x."""

    def block(rows: Array, row_ids: Array) -> Array:
        d2 = _squared_distances(rows, x)  # [C, N]
        d2 = jnp.where(row_ids[:, None] == jnp.arange(x.shape[0])[None, :], jnp.inf, d2)  # drop self
        return _kth_smallest(d2, k)

    return _map_chunks(block, x, chunk_size)


def _kth_smallest(d2: Array, k: int) -> Array:
    """`[C, N]` -> `[C]`: the k-th smallest value of each row, counting repeated values.

    For the small k of these metrics, k - 1 passes of "mask out the row minimum"
    and a final min are linear in N; XLA:CPU's ``top_k`` sorts whole rows, which
    made k-NN radii of 10k points take tens of seconds. Same values as ``top_k``.
    """
    if k > 16:
        return -jax.lax.top_k(-d2, k)[0][:, k - 1]
    rows = jnp.arange(d2.shape[0])
    for _ in range(k - 1):
        d2 = d2.at[rows, jnp.argmin(d2, axis=1)].set(jnp.inf)
    return jnp.min(d2, axis=1)


@functools.partial(jax.jit, static_argnames=("k", "chunk_size"))
def _precision_recall(real: Array, fake: Array, k: int, chunk_size: int) -> PrecisionRecall:
    real_r2 = _knn_squared_radii(real, k, chunk_size)  # [N]
    fake_r2 = _knn_squared_radii(fake, k, chunk_size)  # [M]
    # Fake j is real-like if it lies strictly inside some real ball.
    in_real = _map_chunks(
        lambda rows, _: jnp.any(_squared_distances(rows, real) < real_r2[None, :], axis=1), fake, chunk_size
    )
    # Real i is covered if it lies strictly inside some fake ball.
    in_fake = _map_chunks(
        lambda rows, _: jnp.any(_squared_distances(rows, fake) < fake_r2[None, :], axis=1), real, chunk_size
    )
    return PrecisionRecall(precision=jnp.mean(in_real), recall=jnp.mean(in_fake))


def precision_recall(
    real_feats: ArrayLike, fake_feats: ArrayLike, *, k: int = 3, chunk_size: int = _DEFAULT_CHUNK_SIZE
) -> PrecisionRecall:
    """Improved precision and recall (Kynkäänniemi et al. 2019) with k-NN balls; both higher-is-better.

    ``precision = mean_j 1[exists i: |f_j - r_i| < rad_k(r_i)]`` over fakes and
    ``recall = mean_i 1[exists j: |r_i - f_j| < rad_k(f_j)]`` over reals,
    with ``rad_k`` the distance to the k-th nearest neighbour within a
    point's own set (itself excluded) and the strict ``<`` of the ``prdc``
    package.

    Args:
      real_feats: `[N, ...]` real features (flattened to `[N, D]`); first.
      fake_feats: `[M, ...]` generated features, same D; second.
      k: neighbour rank for the radii, ``1 <= k < min(N, M)`` (the paper uses 3).
      chunk_size: query rows per block of distances; memory is
        ``O(chunk_size * max(N, M))``, results do not depend on it.

    Returns:
      ``PrecisionRecall(precision, recall)``: scalars in [0, 1].
    """
    real = _as_features(real_feats, "real_feats")
    fake = _as_features(fake_feats, "fake_feats")
    _check_pair(real, fake, k, chunk_size, max_k=min(real.shape[0], fake.shape[0]) - 1)
    dtype = jnp.promote_types(real.dtype, fake.dtype)
    return _precision_recall(real.astype(dtype), fake.astype(dtype), k, chunk_size)


@functools.partial(jax.jit, static_argnames=("k", "chunk_size"))
def _density_coverage(real: Array, fake: Array, k: int, chunk_size: int) -> DensityCoverage:
    real_r2 = _knn_squared_radii(real, k, chunk_size)  # [N]
    # For each fake: how many real balls contain it.
    counts = _map_chunks(
        lambda rows, _: jnp.sum(_squared_distances(rows, real) < real_r2[None, :], axis=1), fake, chunk_size
    )
    # For each real: distance to its nearest fake, inside its own ball?
    nearest_fake = _map_chunks(
        lambda rows, _: jnp.min(_squared_distances(rows, fake), axis=1), real, chunk_size
    )
    return DensityCoverage(density=jnp.mean(counts) / k, coverage=jnp.mean(nearest_fake < real_r2))


def density_coverage(
    real_feats: ArrayLike, fake_feats: ArrayLike, *, k: int = 5, chunk_size: int = _DEFAULT_CHUNK_SIZE
) -> DensityCoverage:
    """Density and coverage (Naeem et al. 2020) from the real k-NN balls only; both higher-is-better.

    ``density = (1 / (k M)) sum_j #{i: |f_j - r_i| < rad_k(r_i)}`` and
    ``coverage = mean_i 1[min_j |r_i - f_j| < rad_k(r_i)]``, with ``rad_k``
    the distance from a real point to its k-th nearest other real point and
    the strict ``<`` of the ``prdc`` package.

    Args:
      real_feats: `[N, ...]` real features (flattened to `[N, D]`); first.
      fake_feats: `[M, ...]` generated features, same D; second.
      k: neighbour rank for the real radii, ``1 <= k < N`` (the paper uses 5).
      chunk_size: query rows per block of distances; memory is
        ``O(chunk_size * max(N, M))``, results do not depend on it.

    Returns:
      ``DensityCoverage(density, coverage)``: scalars, density >= 0 (about 1
      when fake and real agree), coverage in [0, 1].
    """
    real = _as_features(real_feats, "real_feats")
    fake = _as_features(fake_feats, "fake_feats")
    _check_pair(real, fake, k, chunk_size, max_k=real.shape[0] - 1)
    dtype = jnp.promote_types(real.dtype, fake.dtype)
    return _density_coverage(real.astype(dtype), fake.astype(dtype), k, chunk_size)


class BallIndicators(NamedTuple):
    """Per-example terms whose means are the four k-NN metrics (N real, M fake rows).

    Attributes:
      fake_in_real: `[M]` bool, fake j inside some real ball; mean = precision.
      real_in_fake: `[N]` bool, real i inside some fake ball; mean = recall.
      real_balls_per_fake: `[M]` int, real balls containing fake j; mean / k = density.
      real_covered: `[N]` bool, real i's ball holds a fake; mean = coverage.
    """

    fake_in_real: Array
    real_in_fake: Array
    real_balls_per_fake: Array
    real_covered: Array


@functools.partial(jax.jit, static_argnames=("k", "chunk_size"))
def _ball_indicators(real: Array, fake: Array, k: int, chunk_size: int) -> BallIndicators:
    real_r2 = _knn_squared_radii(real, k, chunk_size)
    fake_r2 = _knn_squared_radii(fake, k, chunk_size)
    counts = _map_chunks(
        lambda rows, _: jnp.sum(_squared_distances(rows, real) < real_r2[None, :], axis=1), fake, chunk_size
    )
    in_fake = _map_chunks(
        lambda rows, _: jnp.any(_squared_distances(rows, fake) < fake_r2[None, :], axis=1), real, chunk_size
    )
    nearest_fake = _map_chunks(
        lambda rows, _: jnp.min(_squared_distances(rows, fake), axis=1), real, chunk_size
    )
    return BallIndicators(counts > 0, in_fake, counts, nearest_fake < real_r2)


def ball_indicators(
    real_feats: ArrayLike, fake_feats: ArrayLike, *, k: int, chunk_size: int = _DEFAULT_CHUNK_SIZE
) -> BallIndicators:
    """The per-example terms of precision, recall, density and coverage, one k for all four.

    Their means reproduce `precision_recall` and `density_coverage` at the same
    k exactly (same balls, same strict ``<``). They are what a confidence
    interval resamples: with the balls of the full sets held fixed, a
    bootstrap over the `[M]` fake terms (precision, density) or the `[N]` real
    terms (recall, coverage) gives the sampling spread of each mean without
    rebuilding balls on resamples, whose duplicated rows would shrink k-NN
    radii to 0 and bias every figure downwards.

    Args:
      real_feats: `[N, ...]` real features; first.
      fake_feats: `[M, ...]` generated features, same D; second.
      k: neighbour rank of the radii, ``1 <= k < min(N, M)``.
      chunk_size: query rows per block of distances.
    Returns:
      a `BallIndicators` of `[M]` and `[N]` arrays.
    """
    real = _as_features(real_feats, "real_feats")
    fake = _as_features(fake_feats, "fake_feats")
    _check_pair(real, fake, k, chunk_size, max_k=min(real.shape[0], fake.shape[0]) - 1)
    dtype = jnp.promote_types(real.dtype, fake.dtype)
    return _ball_indicators(real.astype(dtype), fake.astype(dtype), k, chunk_size)
