"""Sampling primitives: every distribution from uniform noise, as pure functions with ``rng`` first.

The constructions of the lecture notes. A uniform draw ``u ~ U(0, 1)`` pushed
through a distribution's inverse CDF has that distribution; two uniforms make two
independent normals (Box–Muller); adding Gumbel noise to logits and taking the
argmax draws a categorical; and a proposal q with ``p(x) <= M q(x)`` gives exact
samples of p by accepting each draw with probability ``p(x) / (M q(x))``.

Derived distributions by inverse CDF (each checked by ``doctest``; the tests run
``doctest.testmod`` on this module):

>>> import jax, jax.numpy as jnp
>>> rng = jax.random.key(0)
>>> def close(value, target, tol):
...     return bool(abs(float(value) - target) < tol)

Exponential(rate) by ``-log(u) / rate`` (mean 1 / rate):

>>> x = inverse_cdf_sample(rng, lambda u: -jnp.log(u) / 2.0, (20_000,))
>>> close(x.mean(), 0.5, 0.02), bool(x.min() >= 0)
(True, True)

Logistic by ``log(u / (1 - u))`` (mean 0, variance pi^2 / 3):

>>> x = inverse_cdf_sample(rng, lambda u: jnp.log(u) - jnp.log1p(-u), (20_000,))
>>> close(x.mean(), 0.0, 0.05), close(x.var(), jnp.pi**2 / 3, 0.15)
(True, True)

Gumbel by ``-log(-log u)`` (mean: the Euler–Mascheroni constant 0.5772):

>>> x = inverse_cdf_sample(rng, lambda u: -jnp.log(-jnp.log(u)), (20_000,))
>>> close(x.mean(), 0.5772, 0.03)
True

Cauchy by ``tan(pi (u - 1/2))`` (no mean; its median is 0 and quartiles are -1 and 1):

>>> x = inverse_cdf_sample(rng, lambda u: jnp.tan(jnp.pi * (u - 0.5)), (20_000,))
>>> [close(q, t, 0.05) for q, t in zip(jnp.quantile(x, jnp.array([0.25, 0.5, 0.75])), (-1, 0, 1))]
[True, True, True]

Rayleigh(sigma) by ``sigma sqrt(-2 log u)`` (mean sigma sqrt(pi / 2)):

>>> x = inverse_cdf_sample(rng, lambda u: 3.0 * jnp.sqrt(-2.0 * jnp.log(u)), (20_000,))
>>> close(x.mean(), 3.0 * (jnp.pi / 2) ** 0.5, 0.05)
True

Bernoulli(p) by thresholding, ``u < p``, and a die by ``floor(6 u)``:

>>> coin = inverse_cdf_sample(rng, lambda u: (u < 0.3).astype(jnp.int32), (20_000,))
>>> die = inverse_cdf_sample(rng, lambda u: jnp.floor(6 * u).astype(jnp.int32), (20_000,))
>>> close(coin.mean(), 0.3, 0.01), sorted(set(die.tolist())) == list(range(6))
(True, True)

Standard normals by Box–Muller, then N(mu, s^2) by ``mu + s z``:

>>> z = 1.0 + 2.0 * box_muller(rng, (20_000,))
>>> close(z.mean(), 1.0, 0.05), close(z.std(), 2.0, 0.05)
(True, True)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp

Array = jax.Array
# log p - log q - log M a float32 evaluation may overshoot by at an exactly tight bound.
_ROUND_OFF = 1e-5

__all__ = ["RejectionSamples", "box_muller", "gumbel_max_sample", "inverse_cdf_sample", "rejection_sample"]


def _open_uniform(rng: Array, shape: tuple[int, ...]) -> Array:
    """U(0, 1) float32 excluding 0, so ``log u`` and ``1 / u`` stay finite."""
    return jax.random.uniform(rng, shape, minval=jnp.finfo(jnp.float32).tiny, maxval=1.0)


def box_muller(rng: Array, shape: tuple[int, ...]) -> Array:
    """Standard normals `[*shape]` from uniforms by the Box–Muller transform.

    Each pair ``(u1, u2)`` gives ``r = sqrt(-2 log u1)`` (a Rayleigh radius) and an
    angle ``2 pi u2``; ``(r cos, r sin)`` are two independent N(0, 1) draws.

    >>> x = box_muller(jax.random.key(1), (3, 5))
    >>> x.shape, x.dtype
    ((3, 5), dtype('float32'))
    """
    size = math.prod(shape)
    num_pairs = (size + 1) // 2
    u1, u2 = jnp.split(_open_uniform(rng, (2, num_pairs)), 2)
    radius = jnp.sqrt(-2.0 * jnp.log(u1[0]))
    angle = 2.0 * jnp.pi * u2[0]
    normals = jnp.concatenate([radius * jnp.cos(angle), radius * jnp.sin(angle)])
    return normals[:size].reshape(shape)


def inverse_cdf_sample(rng: Array, inverse_cdf: Callable[[Array], Array], shape: tuple[int, ...]) -> Array:
    """``inverse_cdf(u)`` for ``u ~ U(0, 1)`` of ``shape``: draws `[*shape]` from the distribution whose
    (generalised) inverse CDF is ``inverse_cdf`` (elementwise, e.g. ``lambda u: -jnp.log(u)``).

    ``u`` is never exactly 0, so ``log u`` is finite.
    """
    return inverse_cdf(_open_uniform(rng, tuple(shape)))


def gumbel_max_sample(rng: Array, logits: Array, *, num_samples: int) -> Array:
    """Categorical draws `[num_samples, ...]` (int32 indices into the last axis of ``logits`` `[..., K]`).

    The Gumbel-max trick: ``argmax_k (logits_k + g_k)`` with ``g_k = -log(-log u_k)``
    i.i.d. Gumbel is distributed as ``softmax(logits)``; logits need not be normalised.
    """
    chex.assert_shape(logits, (..., None), custom_message="logits must be [..., K]")
    if num_samples <= 0:
        raise ValueError(f"num_samples must be positive, got {num_samples}")
    gumbels = inverse_cdf_sample(rng, lambda u: -jnp.log(-jnp.log(u)), (num_samples, *logits.shape))
    return jnp.argmax(logits + gumbels, axis=-1).astype(jnp.int32)


class RejectionSamples(NamedTuple):
    """What `rejection_sample` returns.

    Attributes:
      samples: `[num_samples, ...]`; rows at and after ``num_filled`` are zeros.
      filled: `[num_samples]` bool, True for the rows holding accepted draws.
      num_filled: scalar int, accepted draws kept (``num_samples`` unless ``max_rounds`` ran out).
      acceptance_rate: scalar, accepted / proposed over every round run; 1 / M when the bound is exact.
      max_log_excess: scalar, the largest ``log_target - proposal_log_prob - log_bound`` seen.
      bound_violated: scalar bool, ``max_log_excess > 1e-5`` (float32 round-off allowed, so a bound
        that is exactly tight does not fire): some proposal had p(x) > M q(x), so the samples are
        NOT exact draws from the target (they under-represent where the bound fails).
    """

    samples: Array
    filled: Array
    num_filled: Array
    acceptance_rate: Array
    max_log_excess: Array
    bound_violated: Array


def rejection_sample(
    rng: Array,
    log_target: Callable[[Array], Array],
    proposal_sample: Callable[[Array, int], Array],
    proposal_log_prob: Callable[[Array], Array],
    *,
    log_bound: float,
    num_samples: int,
    max_rounds: int = 100,
) -> RejectionSamples:
    """Exact draws from ``exp(log_target)`` by rejection from a proposal with ``p <= M q``, log M = log_bound.

    Each round draws ``num_samples`` proposals at once (fixed shapes, so it jits) and
    accepts each with probability ``exp(log_target(x) - proposal_log_prob(x) - log_bound)``;
    rounds repeat until ``num_samples`` are accepted or ``max_rounds`` have run.
    ``log_target`` may be unnormalised (then the acceptance rate is Z / M).

    Args:
      rng: PRNG key.
      log_target: `[n, ...] -> [n]` log target density.
      proposal_sample: ``(rng, n) -> [n, ...]`` proposal draws.
      proposal_log_prob: `[n, ...] -> [n]` log proposal density.
      log_bound: log M.
      num_samples: draws wanted.
      max_rounds: most proposal rounds (the expected number is about M).
    Returns:
      `RejectionSamples`; check ``num_filled`` and ``bound_violated``.
    """
    if num_samples <= 0 or max_rounds <= 0:
        raise ValueError(f"num_samples and max_rounds must be positive, got {num_samples}, {max_rounds}")
    example = jax.eval_shape(lambda key: proposal_sample(key, num_samples), rng)
    chex.assert_shape(example, (num_samples, ...), custom_message="proposal_sample(rng, n) must be [n, ...]")

    def round_(state):
        round_index, samples, num_filled, num_accepted, max_excess = state
        key_x, key_u = jax.random.split(jax.random.fold_in(rng, round_index))
        x = proposal_sample(key_x, num_samples)
        log_ratio = log_target(x) - proposal_log_prob(x)
        chex.assert_shape(log_ratio, (num_samples,), custom_message="log densities must be [n]")
        excess = log_ratio - log_bound
        accept = jnp.log(_open_uniform(key_u, (num_samples,))) < excess
        # Accepted draws go to the next free rows in order; any beyond num_samples are dropped.
        slots = jnp.where(accept, num_filled + jnp.cumsum(accept) - 1, num_samples)
        samples = samples.at[slots].set(x, mode="drop")
        total = jnp.sum(accept)
        return (
            round_index + 1,
            samples,
            jnp.minimum(num_filled + total, num_samples),
            num_accepted + total,
            jnp.maximum(max_excess, jnp.max(excess)),
        )

    def not_done(state):
        round_index, _, num_filled, _, _ = state
        return (round_index < max_rounds) & (num_filled < num_samples)

    zero = jnp.zeros((), jnp.int32)
    initial = (zero, jnp.zeros(example.shape, example.dtype), zero, zero, jnp.array(-jnp.inf, jnp.float32))
    rounds, samples, num_filled, num_accepted, max_excess = jax.lax.while_loop(not_done, round_, initial)
    return RejectionSamples(
        samples=samples,
        filled=jnp.arange(num_samples) < num_filled,
        num_filled=num_filled,
        acceptance_rate=num_accepted / (rounds * num_samples),
        max_log_excess=max_excess,
        bound_violated=max_excess > _ROUND_OFF,
    )
