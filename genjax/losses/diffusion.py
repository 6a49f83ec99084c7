"""DDPM objectives: the simple noise-prediction loss and the full variational bound.

Ho et al. 2020 ("Denoising Diffusion Probabilistic Models") train a noise
predictor ``eps_fn(x_t, t)`` with L_simple = E_{t, x_0, eps} |eps - eps_fn(x_t, t)|^2,
x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps, t uniform. The likelihood is
bounded by the negative ELBO (Sohl-Dickstein et al. 2015), with 0-based t as in
`genjax.diffusion` (index t holds Ho's x_{t+1}):

    -log p(x_0) <= KL(q(x_{T-1} | x_0) || N(0, I))                        prior
                 + sum_{t=1}^{T-1} E_q KL(q(x_{t-1} | x_t, x_0) || p(x_{t-1} | x_t))   diffusion
                 + E_q[-log p(x_0 | x_{t=0})]                              decoder

The decoder is a Gaussian N(mean(x_{t=0}), sigma_0^2) discretized onto the
``num_levels`` evenly spaced values of [-1, 1], end bins reaching -+inf, so it is
a proper distribution over the levels (Ho et al. use 256 levels). Each expectation
over x_t is estimated with one draw, independent across t. Bits per dimension of
the discrete data: ``genjax.metrics.bits_per_dim(bound, D)``.

Pure functions of arrays and callables; no Flax.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp

from genjax.diffusion import DiffusionSchedule, EpsFn, p_mean_variance, q_posterior, q_sample
from genjax.distributions import discretized_gaussian_log_prob, gaussian_kl, normal_kl
from genjax.reduce import mean_except_batch, sum_except_batch

Array = jax.Array


def _flatten(x: Array) -> Array:
    return x.reshape(x.shape[0], -1)


def ddpm_loss(rng: Array, eps_fn: EpsFn, x0: Array, schedule: DiffusionSchedule) -> Array:
    """Ho et al.'s L_simple per example: mean over non-batch dims of (eps - eps_fn(x_t, t))^2.

    t ~ Uniform{0, ..., T-1} and eps ~ N(0, I) are drawn per example.

    Args:
      rng: PRNG key.
      x0: `[B, ...]` data in [-1, 1].
    Returns:
      `[B]`.
    """
    chex.assert_shape(x0, (None, ...), custom_message="x0 must be a batch [B, ...]")
    t_key, noise_key = jax.random.split(rng)
    t = jax.random.randint(t_key, x0.shape[:1], 0, schedule.num_steps, dtype=jnp.int32)
    noise = jax.random.normal(noise_key, x0.shape, x0.dtype)
    eps = eps_fn(q_sample(x0, t, noise, schedule), t)
    chex.assert_equal_shape([eps, x0], custom_message="eps_fn(x_t, t) must return an array shaped like x_t")
    error = noise - eps
    return mean_except_batch(error**2)


def _prior_term(x0: Array, schedule: DiffusionSchedule) -> Array:
    """KL(q(x_{T-1} | x_0) || N(0, I)) `[B]`, exact."""
    last = schedule.num_steps - 1
    mean = schedule.sqrt_alpha_bars[last] * _flatten(x0)
    log_var = jnp.broadcast_to(jnp.log1p(-schedule.alpha_bars[last]), mean.shape)
    return gaussian_kl(mean, log_var)


def _term_at(
    noise_key: Array,
    eps_fn: EpsFn,
    x0: Array,
    t: Array,
    schedule: DiffusionSchedule,
    *,
    num_levels: int,
    variance: str,
    clip_denoised: bool,
) -> Array:
    """The bound's t-th term `[B]` for per-example timesteps t `[B]` (one draw of x_t, one network call).

    t = 0: the decoder's -log p(x_0 | x_{t=0}); t >= 1: KL(q(x_{t-1} | x_t, x_0) || p(x_{t-1} | x_t)).
    """
    noise = jax.random.normal(noise_key, x0.shape, x0.dtype)
    x_t = q_sample(x0, t, noise, schedule)
    mean, log_var, _ = p_mean_variance(
        eps_fn, x_t, t, schedule, variance=variance, clip_denoised=clip_denoised
    )
    true_mean, _, true_log_var = q_posterior(x0, x_t, t, schedule)
    kl = sum_except_batch(normal_kl(true_mean, true_log_var, mean, log_var))
    decoder = -discretized_gaussian_log_prob(x0, mean, log_var, num_levels=num_levels)
    return jnp.where(t == 0, decoder, kl)


def ddpm_bound_terms(
    rng: Array,
    eps_fn: EpsFn,
    x0: Array,
    schedule: DiffusionSchedule,
    *,
    num_levels: int,
    variance: str = "beta",
    clip_denoised: bool = True,
) -> dict[str, Array]:
    """Every term of the negative ELBO, in nats per example.

    p(x_{t-1} | x_t) is `genjax.diffusion.p_mean_variance` with the same ``variance``
    ("beta" or "posterior") and ``clip_denoised`` as the sampler; the decoder's
    variance is beta_tilde at t = 1 for both (Ho et al.). The T network calls run in
    one ``lax.map``, so memory stays at one call.

    Args:
      rng: PRNG key; the draw of x_t for timestep t uses ``fold_in(split(rng)[1], t)``.
      x0: `[B, ...]` data on the grid of ``num_levels`` values in [-1, 1].
    Returns:
      {"prior": `[B]`, "diffusion": `[B, T-1]` (column j is timestep t = j + 1),
      "decoder": `[B]`}; the bound is prior + diffusion.sum(-1) + decoder.
    """
    noise_root = jax.random.split(rng)[1]

    def term(t: Array) -> Array:
        t_vec = jnp.full(x0.shape[:1], t, jnp.int32)
        return _term_at(
            jax.random.fold_in(noise_root, t),
            eps_fn,
            x0,
            t_vec,
            schedule,
            num_levels=num_levels,
            variance=variance,
            clip_denoised=clip_denoised,
        )

    terms = jax.lax.map(term, jnp.arange(schedule.num_steps, dtype=jnp.int32))  # [T, B]
    return {"prior": _prior_term(x0, schedule), "diffusion": terms[1:].T, "decoder": terms[0]}


def ddpm_variational_bound(
    rng: Array,
    eps_fn: EpsFn,
    x0: Array,
    schedule: DiffusionSchedule,
    *,
    num_levels: int,
    timesteps: int | None = None,
    variance: str = "beta",
    clip_denoised: bool = True,
) -> Array:
    """The ELBO, a lower bound on log P(x_0) of the discrete data, in nats per example `[B]` (<= 0).

    Minus the sum of the prior, diffusion and decoder terms of Ho et al. 2020's
    bound (`ddpm_bound_terms` returns them one by one).

    ``timesteps=None`` sums all T terms (T network calls in one scan). An int K
    estimates the sum over t without bias from K stratified timesteps per
    example: {0..T-1} is cut into K contiguous strata, one t is drawn uniformly
    in each and its term weighted by the stratum's size. The prior term is
    always exact. With the same rng, K = T gives exactly the full sum.

    Args:
      rng: PRNG key (timesteps from ``split(rng)[0]``, x_t draws from ``split(rng)[1]``).
      x0: `[B, ...]` data on the grid of ``num_levels`` values in [-1, 1].
    Returns:
      `[B]` nats; bits/dim: ``genjax.metrics.bits_per_dim(-bound, D)``.
    """
    num_train_steps = schedule.num_steps
    if timesteps is None:
        terms = ddpm_bound_terms(
            rng, eps_fn, x0, schedule, num_levels=num_levels, variance=variance, clip_denoised=clip_denoised
        )
        return -(terms["prior"] + jnp.sum(terms["diffusion"], axis=-1) + terms["decoder"])
    if not 1 <= timesteps <= num_train_steps:
        raise ValueError(f"timesteps must be None or in 1..{num_train_steps}, got {timesteps}")
    t_key, noise_root = jax.random.split(rng)
    # Stratum k is [starts[k], starts[k + 1]); sizes differ by at most one when K does not divide T.
    starts = (jnp.arange(timesteps + 1) * num_train_steps) // timesteps
    sizes = starts[1:] - starts[:-1]
    offsets = jax.random.randint(t_key, (timesteps, x0.shape[0]), 0, sizes[:, None], dtype=jnp.int32)
    t = (starts[:-1, None] + offsets).astype(jnp.int32)  # [K, B]

    def weighted_term(inputs: tuple[Array, Array, Array]) -> Array:
        k, t_k, size = inputs
        term = _term_at(
            jax.random.fold_in(noise_root, k),
            eps_fn,
            x0,
            t_k,
            schedule,
            num_levels=num_levels,
            variance=variance,
            clip_denoised=clip_denoised,
        )
        return size.astype(term.dtype) * term

    weighted = jax.lax.map(weighted_term, (jnp.arange(timesteps), t, sizes))  # [K, B]
    return -(_prior_term(x0, schedule) + jnp.sum(weighted, axis=0))
