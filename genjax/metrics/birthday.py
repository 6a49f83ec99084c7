"""The birthday-paradox test of support size, after Arora & Zhang (2017).

Arora and Zhang ("Do GANs actually learn the distribution? An empirical
study", 2017) estimate how many distinct outputs a generator really has from
the birthday paradox: among ``s`` draws from a distribution over ``N``
equally likely atoms, a repeated atom becomes likely once ``s`` is of the
order of ``sqrt(N)``. They look at the closest pairs of each batch, call the
batch a collision when a pair is a (near-)duplicate, and read the support
size off the batch size at which collisions become common.

The estimate returned here. The ``s (s - 1) / 2`` pairs of a batch each
collide with probability ``1 / N`` under the uniform model, and the
probability that none does is

    P(no duplicate) = prod_{i < s} (1 - i / N) ~= exp(-s (s - 1) / (2 N)),

(``log(1 - i / N) ~= -i / N`` for ``s << N``). Equating that to
``1 - p``, with ``p`` the measured duplicate probability, and solving for N:

    N ~= s (s - 1) / (2 ln(1 / (1 - p))).

It agrees with the paper's ``s^2`` rule of thumb up to the factor ``1 - 1/s``
(``p = 1/2`` gives ``N ~= s^2 / (2 ln 2) ~= 0.72 s^2``). For non-uniform
distributions collisions come sooner, so the estimate is best read as an
effective support size (a lower bound on the number of atoms). It is most
precise when ``p`` is between about 0.2 and 0.8: choose ``batch_size`` near
``sqrt(N)``. ``p = 0`` gives an infinite estimate (no evidence of a small
support) and ``p = 1`` gives 0 (the batch is far too large).

Duplicates are decided by Euclidean distance on the flattened samples:
a pair is a duplicate when its distance is at most ``threshold``. The paper
inspects the closest pairs by eye; here they are returned for inspection.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

Array = jax.Array


class BirthdayResult(NamedTuple):
    """What `birthday_paradox_support` returns (B = ``num_batches``, P = ``num_pairs``).

    Attributes:
      duplicate_probability: scalar share of batches whose closest pair is within ``threshold``.
      support_size: scalar estimate ``s (s - 1) / (2 ln(1 / (1 - p)))`` (inf when p = 0, 0 when p = 1).
      num_duplicate_batches: scalar int count of such batches.
      pair_indices: `[B, P, 2]` int32 row indices into ``samples`` of each batch's P closest pairs,
        closest first.
      pair_distances: `[B, P]` their Euclidean distances, ascending.
    """

    duplicate_probability: Array
    support_size: Array
    num_duplicate_batches: Array
    pair_indices: Array
    pair_distances: Array


@functools.partial(jax.jit, static_argnums=(2, 3, 4))
def _closest_pairs(
    rng: Array, samples: Array, batch_size: int, num_pairs: int, num_batches: int
) -> tuple[Array, Array]:
    """`[M, D]` -> (`[B, P, 2]` indices, `[B, P]` distances) of each batch's P closest pairs."""
    num_rows = samples.shape[0]
    upper = jnp.arange(batch_size)[:, None] < jnp.arange(batch_size)[None, :]

    def one_batch(key: Array) -> tuple[Array, Array]:
        # Without replacement: the same stored row twice is not a duplicate of the generator.
        # The s largest of M uniforms are a uniform s-subset, at O(M) cost (choice sorts all M rows).
        _, rows = jax.lax.top_k(jax.random.uniform(key, (num_rows,)), batch_size)
        x = samples[rows]
        x = x - jnp.mean(x, axis=0)  # centring shrinks the norms, and the rounding of the expansion below
        sq_norm = jnp.sum(x * x, axis=1)
        cross = jnp.matmul(x, x.T, precision=jax.lax.Precision.HIGHEST)
        sq_dist = jnp.maximum(sq_norm[:, None] + sq_norm[None, :] - 2.0 * cross, 0.0)
        sq_dist = jnp.where(upper, sq_dist, jnp.inf).reshape(-1)
        _, flat = jax.lax.top_k(-sq_dist, num_pairs)
        first, second = flat // batch_size, flat % batch_size
        # The expanded form loses ~sqrt(eps) |x| to cancellation: recompute the chosen pairs directly.
        dist = jnp.sqrt(jnp.sum((x[first] - x[second]) ** 2, axis=1))
        order = jnp.argsort(dist)
        pairs = jnp.stack([rows[first], rows[second]], axis=-1)[order]
        return pairs.astype(jnp.int32), dist[order]

    return jax.lax.map(one_batch, jax.random.split(rng, num_batches))


def birthday_paradox_support(
    rng: Array,
    samples: ArrayLike,
    *,
    batch_size: int,
    num_pairs: int = 20,
    threshold: float,
    num_batches: int = 100,
) -> BirthdayResult:
    """Estimates the support size of the distribution behind ``samples`` by the birthday paradox.

    Draws ``num_batches`` batches of ``s = batch_size`` distinct rows of
    ``samples`` (keyed by ``rng``), finds the closest pairs of each batch and
    calls a batch a duplicate when its closest pair is within ``threshold``
    (Euclidean distance of the flattened samples). The share ``p`` of
    duplicate batches estimates the collision probability, and the support
    size is ``N ~= s (s - 1) / (2 ln(1 / (1 - p)))`` (derived in the module
    docstring). ``num_pairs`` does not enter the estimate: it is how many of
    each batch's closest pairs are returned (indices into ``samples`` and
    their distances) for looking at, as the paper does by eye. ``samples``
    should hold many more rows than ``batch_size`` so batches are nearly
    independent draws from the generator.

    Args:
      rng: PRNG key for drawing the batches.
      samples: `[M, ...]` generated samples (flattened to `[M, D]`), M >= batch_size.
      batch_size: s >= 2, the rows per batch.
      num_pairs: P, closest pairs returned per batch, 1 <= P <= s (s - 1) / 2.
      threshold: distance at or below which a pair counts as a duplicate (>= 0).
      num_batches: B, batches drawn.
    Returns:
      a `BirthdayResult`: scalars ``duplicate_probability``, ``support_size`` and
      ``num_duplicate_batches``; `[B, P, 2]` ``pair_indices`` and `[B, P]` ``pair_distances``.
    """
    samples = jnp.asarray(samples)
    chex.assert_rank(samples, {2, 3, 4, 5}, custom_message="expected a batch of samples [M, ...]")
    samples = samples.reshape(samples.shape[0], -1)
    if not jnp.issubdtype(samples.dtype, jnp.floating):
        samples = samples.astype(jnp.float32)
    if not (isinstance(batch_size, int) and 2 <= batch_size <= samples.shape[0]):
        raise ValueError(f"batch_size: got {batch_size!r}; must be an int in [2, {samples.shape[0]}] (M)")
    max_pairs = batch_size * (batch_size - 1) // 2
    if not (isinstance(num_pairs, int) and 1 <= num_pairs <= max_pairs):
        raise ValueError(f"num_pairs: got {num_pairs!r}; must be an int in [1, {max_pairs}]")
    if not threshold >= 0:
        raise ValueError(f"threshold: got {threshold!r}; must be >= 0")
    if not (isinstance(num_batches, int) and num_batches >= 1):
        raise ValueError(f"num_batches: got {num_batches!r}; must be an int >= 1")
    pair_indices, pair_distances = _closest_pairs(rng, samples, batch_size, num_pairs, num_batches)
    duplicates = pair_distances[:, 0] <= threshold
    count = jnp.sum(duplicates).astype(jnp.int32)
    p = count / num_batches
    num_pairs_per_batch = batch_size * (batch_size - 1) / 2.0
    # -log1p(-p) = ln(1 / (1 - p)): 0 at p = 0 (estimate inf), inf at p = 1 (estimate 0).
    support = num_pairs_per_batch / -jnp.log1p(-p)
    return BirthdayResult(
        duplicate_probability=p,
        support_size=support,
        num_duplicate_batches=count,
        pair_indices=pair_indices,
        pair_distances=pair_distances,
    )
