"""Diffusion schedules, forward process and samplers against closed forms on Gaussian data.

For data x_0 ~ N(m, s^2) (per dimension) every q(x_t) is Gaussian and the optimal
noise predictor is linear: with a = sqrt(abar_t), b = sqrt(1 - abar_t),
E[eps | x_t] = b (x_t - a m) / (a^2 s^2 + b^2). Samplers driven by it must return
N(m, s^2) up to their discretisation error.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax import diffusion, samplers

MEANS = np.array([0.3, -0.5])
STDS = np.array([0.5, 0.2])


def exact_eps_fn(schedule, mean=MEANS, std=STDS):
    """The Bayes-optimal eps predictor for x_0 ~ N(mean, diag(std^2)), x: [N, D]."""

    def eps_fn(x, t):
        a = schedule.sqrt_alpha_bars[t][:, None]
        b = schedule.sqrt_one_minus_alpha_bars[t][:, None]
        return b * (x - a * mean) / (a**2 * std**2 + b**2)

    return eps_fn


@pytest.mark.slow
def test_ddpm_with_exact_predictor_recovers_gaussian_data():
    schedule = diffusion.make_schedule(diffusion.linear_betas(1000))
    num = 10_000
    x_T = jax.random.normal(jax.random.key(0), (num, 2))
    eps_fn = exact_eps_fn(schedule)
    sample = jax.jit(
        lambda key, x: [
            samplers.ddpm_sample(key, eps_fn, x, schedule, variance=variance, clip_denoised=False)
            for variance in ("beta", "posterior")
        ]
    )
    for x0 in map(np.asarray, sample(jax.random.key(1), x_T)):
        np.testing.assert_array_less(np.abs(x0.mean(0) - MEANS), 4 * STDS / np.sqrt(num) + 2e-3)
        # MC error ~1.4% plus the T = 1000 discretisation bias (~2% for s = 0.2).
        np.testing.assert_allclose(x0.var(0), STDS**2, rtol=0.06)


def test_ddim_eta0_with_many_steps_recovers_gaussian_data_and_is_deterministic():
    schedule = diffusion.make_schedule(diffusion.linear_betas(1000))
    # eta = 0 makes the sampler an affine map per dimension, x_0 = gain x_T + offset: reading
    # it off at x_T = 0 and 1 gives the exact output law N(offset, gain^2) with no MC error.
    x_T = jnp.array([[0.0, 0.0], [1.0, 1.0]])
    run = jax.jit(
        lambda key: samplers.ddim_sample(
            key, exact_eps_fn(schedule), x_T, schedule, num_steps=1000, clip_denoised=False
        )
    )
    out = np.asarray(run(jax.random.key(0)))
    np.testing.assert_array_equal(out, np.asarray(run(jax.random.key(7))))
    offset, gain = out[0], out[1] - out[0]
    # The offset's ~1e-3 bias is the prior mismatch: q(x_T) has mean sqrt(abar_T) m, not 0.
    np.testing.assert_allclose(offset, MEANS, atol=3e-3)
    np.testing.assert_allclose(gain**2, STDS**2, rtol=0.02)


def test_ddim_eta1_on_all_steps_is_ddpm_with_posterior_variance():
    schedule = diffusion.make_schedule(diffusion.cosine_betas(30))
    eps_fn = lambda x, t: 0.8 * jnp.tanh(x) + 0.01 * t[:, None].astype(x.dtype)
    x_T = jax.random.normal(jax.random.key(0), (5, 3)) * 1.5

    @jax.jit
    def both(key, x):
        return [
            (
                samplers.ddim_sample(key, eps_fn, x, schedule, num_steps=30, eta=1.0, clip_denoised=clip),
                samplers.ddpm_sample(key, eps_fn, x, schedule, variance="posterior", clip_denoised=clip),
            )
            for clip in (False, True)
        ]

    (ddim, ddpm), (ddim_clipped, ddpm_clipped) = both(jax.random.key(1), x_T)
    np.testing.assert_allclose(ddim, ddpm, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(ddim_clipped, ddpm_clipped, rtol=1e-4, atol=1e-4)
    # The last step returns the clipped prediction itself; unclipped runs leave [-1, 1].
    assert np.abs(np.asarray(ddpm_clipped)).max() <= 1.0 < np.abs(np.asarray(ddpm)).max()


def test_ddim_timesteps_cover_the_range():
    np.testing.assert_array_equal(samplers.ddim_timesteps(10, 10), np.arange(9, -1, -1))
    steps = samplers.ddim_timesteps(1000, 7)
    assert steps[0] == 999 and steps[-1] == 0 and np.all(np.diff(steps) < 0) and len(steps) == 7
    np.testing.assert_array_equal(samplers.ddim_timesteps(1000, 1), [999])
    with pytest.raises(ValueError):
        samplers.ddim_timesteps(10, 11)


def _num_equations(fn, x):
    jaxpr = jax.make_jaxpr(fn)(x)
    assert sum(eqn.primitive.name == "scan" for eqn in jaxpr.eqns) == 1
    return len(jaxpr.eqns)


def test_samplers_trace_one_scan_whose_size_does_not_grow_with_steps():
    key, x = jax.random.key(0), jnp.zeros((2, 3))
    eps_fn = lambda x, t: jnp.tanh(x)

    def ddpm_size(num_steps):
        schedule = diffusion.make_schedule(diffusion.linear_betas(num_steps))
        return _num_equations(lambda x: samplers.ddpm_sample(key, eps_fn, x, schedule), x)

    def ddim_size(num_steps):
        schedule = diffusion.make_schedule(diffusion.linear_betas(90))
        sample = lambda x: samplers.ddim_sample(key, eps_fn, x, schedule, num_steps=num_steps)
        return _num_equations(sample, x)

    assert ddpm_size(30) == ddpm_size(90)
    assert ddim_size(5) == ddim_size(60)


def test_bad_variance_name_is_rejected():
    schedule = diffusion.make_schedule(diffusion.linear_betas(30))
    with pytest.raises(ValueError, match="beta, posterior"):
        samplers.ddpm_sample(jax.random.key(0), lambda x, t: x, jnp.zeros((1, 2)), schedule, variance="big")
