"""DDPM and DDIM samplers: whole reverse chains in one ``lax.scan``.

The forward process, schedules and the reverse-step parametrisation they use
are in `genjax.diffusion`.

* `ddpm_sample`: ancestral sampling of p(x_{t-1} | x_t) = N(mean, sigma_t^2 I) with
  sigma_t^2 = beta_t ("beta", Ho's "fixedlarge") or beta_tilde_t ("posterior",
  "fixedsmall"), T network calls.
* `ddim_sample`: Song, Meng & Ermon 2021 ("Denoising Diffusion Implicit Models"):
  a non-Markovian process with the same marginals, run on a sub-sequence of
  timesteps; eta = 0 is deterministic, eta = 1 on all T steps is DDPM with
  the "posterior" variance.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np

from genjax.diffusion import (
    DiffusionSchedule,
    EpsFn,
    at_timestep,
    check_variance,
    p_mean_variance,
    predict_x0,
)

Array = jax.Array


def ddpm_sample(
    rng: Array,
    eps_fn: EpsFn,
    x_T: Array,
    schedule: DiffusionSchedule,
    *,
    variance: str = "beta",
    clip_denoised: bool = True,
) -> Array:
    """Ancestral sampling x_{T-1} -> ... -> x_0, one ``lax.scan`` over t = T-1, ..., 0.

    x_{t-1} = mean(x_t, t) + sigma_t z with sigma_t^2 = beta_t ("beta") or
    beta_tilde_t ("posterior"), z ~ N(0, I); the last step (t = 0) returns its mean.

    Args:
      rng: PRNG key; the step at scan position i uses ``split(rng, T)[i]``.
      x_T: `[N, ...]` start, usually N(0, I).
    Returns:
      x_0 `[N, ...]`.
    """
    check_variance(variance)
    chex.assert_shape(x_T, (None, ...), custom_message="x_T must be a batch [N, ...]")
    num_samples = x_T.shape[0]

    def step(x: Array, inputs: tuple[Array, Array]) -> tuple[Array, None]:
        t, key = inputs
        t_vec = jnp.full((num_samples,), t, jnp.int32)
        mean, log_var, _ = p_mean_variance(
            eps_fn, x, t_vec, schedule, variance=variance, clip_denoised=clip_denoised
        )
        noise = jax.random.normal(key, x.shape, x.dtype)
        scale = jnp.where(t > 0, jnp.exp(0.5 * log_var), 0.0).astype(x.dtype)
        return (mean + scale * noise).astype(x.dtype), None  # float32 schedule must not upcast the carry

    timesteps = jnp.arange(schedule.num_steps - 1, -1, -1, dtype=jnp.int32)
    x0, _ = jax.lax.scan(step, x_T, (timesteps, jax.random.split(rng, schedule.num_steps)))
    return x0


def ddim_timesteps(num_train_steps: int, num_steps: int) -> np.ndarray:
    """The evenly spaced ``num_steps`` timesteps `[num_steps]` int32, descending from T-1 (to 0 when > 1)."""
    if not 1 <= num_steps <= num_train_steps:
        raise ValueError(f"num_steps must be in 1..{num_train_steps}, got {num_steps}")
    # Spacing >= 1 before rounding, so the rounded values stay distinct.
    return np.round(np.linspace(num_train_steps - 1, 0, num_steps)).astype(np.int32)


def ddim_sample(
    rng: Array,
    eps_fn: EpsFn,
    x_T: Array,
    schedule: DiffusionSchedule,
    *,
    num_steps: int,
    eta: float = 0.0,
    clip_denoised: bool = True,
) -> Array:
    """DDIM sampling (Song et al. 2021) on ``ddim_timesteps(T, num_steps)``, one ``lax.scan``.

    From timestep t to the previous one in the sub-sequence, t' (abar_{t'} = 1 after
    the last, t = 0's step):

        x_{t'} = sqrt(abar_{t'}) x0_hat + sqrt(1 - abar_{t'} - sigma^2) eps_hat + sigma z,
        sigma = eta sqrt((1 - abar_{t'}) / (1 - abar_t)) sqrt(1 - abar_t / abar_{t'}).

    eta = 0 is deterministic (the same x_T gives the same x_0 for any rng); eta = 1
    with num_steps = T reproduces `ddpm_sample` with variance="posterior" (same rng,
    same draws). With ``clip_denoised``, x0_hat is clipped to [-1, 1] and eps_hat
    re-derived from it, so the update stays consistent with x_t.

    Args:
      rng: PRNG key; scan position i uses ``split(rng, num_steps)[i]``.
      x_T: `[N, ...]`.
      num_steps: sub-sequence length, 1..T.
    Returns:
      x_0 `[N, ...]`.
    """
    chex.assert_shape(x_T, (None, ...), custom_message="x_T must be a batch [N, ...]")
    timesteps = ddim_timesteps(schedule.num_steps, num_steps)
    num_samples = x_T.shape[0]
    alpha_bars_next = jnp.concatenate(
        [schedule.alpha_bars[jnp.asarray(timesteps[1:])], jnp.ones((1,), schedule.alpha_bars.dtype)]
    )

    def step(x: Array, inputs: tuple[Array, Array, Array]) -> tuple[Array, None]:
        t, alpha_bar_next, key = inputs
        t_vec = jnp.full((num_samples,), t, jnp.int32)
        eps = eps_fn(x, t_vec)
        chex.assert_equal_shape(
            [eps, x], custom_message="eps_fn(x_t, t) must return an array shaped like x_t"
        )
        x0 = predict_x0(x, t_vec, eps, schedule)
        if clip_denoised:
            x0 = jnp.clip(x0, -1.0, 1.0)
            eps = (x - at_timestep(schedule.sqrt_alpha_bars, t_vec, x) * x0) / at_timestep(
                schedule.sqrt_one_minus_alpha_bars, t_vec, x
            )
        alpha_bar = schedule.alpha_bars[t]
        # Song et al.'s sigma(eta): eta = 1 is the posterior std of q(x_{t'} | x_t, x_0).
        sigma = eta * jnp.sqrt(
            (1.0 - alpha_bar_next) / (1.0 - alpha_bar) * (1.0 - alpha_bar / alpha_bar_next)
        )
        direction = jnp.sqrt(jnp.maximum(1.0 - alpha_bar_next - sigma**2, 0.0))
        noise = jax.random.normal(key, x.shape, x.dtype)
        x_next = jnp.sqrt(alpha_bar_next) * x0 + direction * eps + sigma * noise
        return x_next.astype(x.dtype), None

    xs = (jnp.asarray(timesteps), alpha_bars_next, jax.random.split(rng, num_steps))
    x0, _ = jax.lax.scan(step, x_T, xs)
    return x0
