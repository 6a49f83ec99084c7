"""Tempered sequential Monte Carlo: chains that cross energy barriers and land in the right modes.

Local samplers (ULA, MALA) started from broad noise fall into whichever basin is nearest and
stay there, so on a multimodal density the fraction of chains in each mode is set by the
basins' catchment areas, not by the modes' masses. Tempered SMC (Neal 2001, annealed
importance sampling; Del Moral, Doucet & Jasra 2006, SMC samplers; Chopin 2002) fixes the
weights. N particles drawn from a prior pi_0 are carried through the bridge

    pi_k(x) ∝ pi_0(x) L(x)^beta_k,    0 = beta_0 < beta_1 < ... < beta_K = 1,

and at each level:

1. reweight: log w <- log w + (beta_k - beta_{k-1}) log L(x), the exact importance weight
   of pi_k against pi_{k-1} at the current particles;
2. resample (systematic) when the effective sample size falls below a fraction of N, so
   particles stuck in low-mass basins are replaced by copies of those in high-mass ones;
3. move: ``steps_per_beta`` MALA steps that leave pi_k exactly invariant.

Without resampling (``resample_threshold=0``) this is annealed importance sampling. The mean
of the incremental weights is an unbiased estimate of Z_K / Z_0, so the sampler also
returns log(Z_K / Z_0). The geometric path between a normalised base q and a target p is
``log_prior = log q`` and ``log_likelihood = log p - log q``; an energy-based model started
from uniform noise on a box is ``log_prior`` = 0 on the box (-inf off it) and
``log_likelihood = -E``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np

from genjax.samplers.langevin import _check_chains, _check_steps, mala

Array = jax.Array
Scalar = float | Array


class TemperedSMCResult(NamedTuple):
    """What `tempered_smc` returns (a pytree).

    Attributes:
      samples: `[N, ...]` final particles.
      log_weights: `[N]` their normalised log weights (logsumexp 0; all -log N after a final
        resampling). Expectations under the target are ``sum(exp(log_weights) * f(samples))``.
      log_normalizer: scalar, the estimate of log(Z_K / Z_0), Z_k the normaliser of
        pi_0 L^beta_k (log Z_K when the prior is normalised).
      ess: `[K]` effective sample size at each level after reweighting, before resampling.
      acceptance: `[K]` mean MALA acceptance probability at each level (0 with no moves).
    """

    samples: Array
    log_weights: Array
    log_normalizer: Array
    ess: Array
    acceptance: Array


def effective_sample_size(log_weights: Array) -> Array:
    """Kish's ESS 1 / sum(W_i^2) of `[N]` (unnormalised) log weights; a scalar in [1, N]."""
    chex.assert_rank(log_weights, 1, custom_message="log_weights must be [N]")
    normalised = log_weights - jax.nn.logsumexp(log_weights)
    return jnp.exp(-jax.nn.logsumexp(2.0 * normalised))


def systematic_resample(rng: Array, log_weights: Array, num: int) -> Array:
    """`[num]` int32 ancestor indices by systematic resampling (Kitagawa 1996).

    One uniform u, then the points (u + j) / num, j = 0..num-1, are located in the cumulative
    weights. Index i is drawn floor(num W_i) or ceil(num W_i) times (W the normalised
    weights), so the resampling adds less noise than multinomial draws.

    Args:
      rng: PRNG key.
      log_weights: `[N]` log weights, normalised or not.
      num: how many indices to draw (static).
    """
    chex.assert_rank(log_weights, 1, custom_message="log_weights must be [N]")
    if not isinstance(num, (int, np.integer)) or num < 1:
        raise ValueError(f"num must be a positive int, got {num!r}")
    weights = jnp.exp(log_weights - jax.nn.logsumexp(log_weights))
    cumulative = jnp.cumsum(weights)
    # Rounding can leave the last cumulative weight a hair below 1; a point past it would
    # index out of range, so the top is pinned to 1.
    cumulative = cumulative.at[-1].set(1.0)
    points = (jax.random.uniform(rng, (), weights.dtype) + jnp.arange(num, dtype=weights.dtype)) / num
    indices = jnp.searchsorted(cumulative, points, side="right")
    return jnp.minimum(indices, log_weights.shape[0] - 1).astype(jnp.int32)


def geometric_betas(num: int, beta_min: float) -> Array:
    """`[num]` float32 inverse temperatures from ``beta_min`` up to 1 with a constant ratio.

    Equal ratios give equal steps in log beta, which suits energies whose typical scale
    spans orders of magnitude between the prior and the target (Neal 2001).
    """
    if not isinstance(num, (int, np.integer)) or num < 1:
        raise ValueError(f"num must be a positive int, got {num!r}")
    if not 0 < beta_min <= 1:
        raise ValueError(f"beta_min must be in (0, 1], got {beta_min}")
    return jnp.asarray(np.geomspace(beta_min, 1.0, num), jnp.float32)


def _check_betas(betas: Array) -> None:
    chex.assert_rank(betas, 1, custom_message="betas must have shape [K] with K >= 1")
    chex.assert_axis_dimension_gteq(betas, 0, 1, custom_message="betas must have shape [K] with K >= 1")
    if isinstance(betas, jax.core.Tracer):
        return  # values unknown at trace time; a traced schedule is the caller's contract
    values = np.asarray(betas, np.float64)
    if not (values[0] > 0 and np.all(np.diff(values) > 0) and values[-1] == 1.0):
        raise ValueError(f"betas must increase strictly from above 0 to exactly 1, got {values}")


def tempered_smc(
    rng: Array,
    log_likelihood: Callable[[Array], Array],
    log_prior: Callable[[Array], Array],
    x0: Array,
    betas: Array,
    *,
    step_size: Scalar,
    steps_per_beta: int,
    resample_threshold: float = 0.5,
) -> TemperedSMCResult:
    """Tempered SMC from pi_0 (``log_prior``) to pi_0 L (``L = exp(log_likelihood)``) in one scan.

    Level k reweights by (beta_k - beta_{k-1}) log L, resamples systematically when the
    ESS is below ``resample_threshold * N``, then runs ``steps_per_beta`` MALA steps on
    log pi_0 + beta_k log L (``step_size`` is MALA's eps). The returned particles carry
    their weights; `systematic_resample` turns them into an equally weighted set.

    Args:
      rng: PRNG key.
      log_likelihood: `x [N, ...] -> [N]`, the tempered term log L per particle.
      log_prior: `x [N, ...] -> [N]`, log pi_0 per particle (it may be -inf off its support,
        where MALA then rejects; it need not be normalised, but log_normalizer is then
        relative to its mass).
      x0: `[N, ...]` particles drawn from pi_0.
      betas: `[K]` inverse temperatures, strictly increasing from above 0 to exactly 1.
      step_size: MALA's eps, a scalar for every level or `[K]` one per level.
      steps_per_beta: MALA steps per level (static; 0 gives pure importance sampling).
      resample_threshold: resample when ESS < threshold * N: 0 never (annealed importance
        sampling), 1 at every level.
    Returns:
      A `TemperedSMCResult`: particles `[N, ...]`, log weights `[N]`, log(Z_K / Z_0), and
      per-level ESS and acceptance `[K]`.
    """
    _check_steps(steps_per_beta, "steps_per_beta")
    if not 0.0 <= resample_threshold <= 1.0:
        raise ValueError(f"resample_threshold must be in [0, 1], got {resample_threshold}")
    x0 = jnp.asarray(x0)
    _check_chains(x0)
    betas = jnp.asarray(betas, x0.dtype) if not isinstance(betas, jax.core.Tracer) else betas
    _check_betas(betas)
    step_sizes = jnp.broadcast_to(jnp.asarray(step_size, x0.dtype), betas.shape)
    num = x0.shape[0]

    def per_particle(fn, x, what):
        values = fn(x)
        chex.assert_shape(values, (num,), custom_message=f"{what}(x) must return [N], one per particle")
        return values

    def level(carry, inputs):
        x, log_w, log_z, previous_beta = carry
        key, beta, eps = inputs
        resample_key, move_key = jax.random.split(key)
        increment = (beta - previous_beta) * per_particle(log_likelihood, x, "log_likelihood")
        # A NaN likelihood (e.g. off an energy's valid range) gets zero weight rather than
        # poisoning every weight through the normaliser.
        increment = jnp.where(jnp.isnan(increment), -jnp.inf, increment)
        unnormalised = log_w + increment
        level_log_z = jax.nn.logsumexp(unnormalised)
        log_w = unnormalised - level_log_z
        ess = effective_sample_size(log_w)
        resample = ess < resample_threshold * num
        ancestors = jnp.where(resample, systematic_resample(resample_key, log_w, num), jnp.arange(num))
        x = x[ancestors]
        log_w = jnp.where(resample, jnp.full_like(log_w, -jnp.log(num)), log_w)

        def tempered(y):
            return per_particle(log_prior, y, "log_prior") + beta * per_particle(
                log_likelihood, y, "log_likelihood"
            )

        if steps_per_beta:
            x, accept = mala(
                move_key, tempered, x, step_size=eps, num_steps=steps_per_beta, return_acceptance=True
            )
            acceptance = jnp.mean(accept)
        else:
            acceptance = jnp.zeros((), x0.dtype)
        return (x, log_w, log_z + level_log_z, beta), (ess, acceptance)

    log_w0 = jnp.full((num,), -jnp.log(num), x0.dtype)
    init = (x0, log_w0, jnp.zeros((), x0.dtype), jnp.zeros((), x0.dtype))
    keys = jax.random.split(rng, betas.shape[0])
    (x, log_w, log_z, _), (ess, acceptance) = jax.lax.scan(level, init, (keys, betas, step_sizes))
    return TemperedSMCResult(
        samples=x, log_weights=log_w, log_normalizer=log_z, ess=ess, acceptance=acceptance
    )
