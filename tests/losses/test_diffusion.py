"""DDPM losses: L_simple and the variational bound against closed forms on Gaussian data.

With x_0 ~ N(m, s^2) the Bayes-optimal noise predictor is linear in x_t (see
tests/samplers/test_diffusion.py), so the expected L_simple and each expected
KL term of the bound have closed forms, computed here in float64 numpy from the
betas alone (never from the schedule object under test).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from genjax.diffusion import linear_betas, make_schedule
from genjax.losses import diffusion as losses


def negative_bound(*args, **kwargs):
    """-ddpm_variational_bound: the negative ELBO these closed forms are written for."""
    return -losses.ddpm_variational_bound(*args, **kwargs)


def exact_eps_fn(schedule, mean, std):
    """E[eps | x_t] for x_0 ~ N(mean, std^2) per dimension; x: [N, D]."""

    def eps_fn(x, t):
        a = schedule.sqrt_alpha_bars[t][:, None]
        b = schedule.sqrt_one_minus_alpha_bars[t][:, None]
        return b * (x - a * mean) / (a**2 * std**2 + b**2)

    return eps_fn


def true_noise_eps_fn(schedule, x0):
    """An oracle that reads the noise back from x_t, knowing x_0: x0_hat = x_0 exactly."""

    def eps_fn(x, t):
        a = schedule.sqrt_alpha_bars[t][:, None]
        b = schedule.sqrt_one_minus_alpha_bars[t][:, None]
        return (x - a * x0) / b

    return eps_fn


def numpy_schedule(betas):
    alpha_bars = np.cumprod(1 - betas)
    prev = np.append(1.0, alpha_bars[:-1])
    return alpha_bars, prev, betas * (1 - prev) / (1 - alpha_bars), betas * np.sqrt(prev) / (1 - alpha_bars)


def levels(num_levels):
    return np.linspace(-1.0, 1.0, num_levels)


def test_ddpm_loss_matches_closed_forms():
    betas = linear_betas(40)
    schedule = make_schedule(betas)
    mean, std = np.array([0.2, -0.3]), np.array([0.4, 0.8])
    x0 = jnp.asarray(np.random.default_rng(0).normal(mean, std, size=(40_000, 2)), jnp.float32)
    sqrt_t_eps_fn = lambda x, t: jnp.sqrt(t[:, None] * jnp.ones_like(x))

    @jax.jit
    def both(key, x):
        return (
            losses.ddpm_loss(key, exact_eps_fn(schedule, mean, std), x, schedule),
            losses.ddpm_loss(key, sqrt_t_eps_fn, x, schedule),
        )

    loss, by_t = both(jax.random.key(0), x0)
    alpha_bars = np.cumprod(1 - betas)[:, None]
    # Per dim: E[(eps - E[eps | x_t])^2] = 1 - (1 - abar) / (abar s^2 + 1 - abar), t uniform.
    expected = np.mean(1 - (1 - alpha_bars) / (alpha_bars * std**2 + 1 - alpha_bars))
    assert loss.shape == (40_000,)
    assert abs(float(loss.mean()) - expected) < 4 * float(loss.std()) / np.sqrt(len(loss))
    # eps_fn = sqrt(t): E[(eps - sqrt t)^2] = 1 + t, whose mean over uniform t is 1 + (T - 1) / 2.
    assert abs(float(by_t.mean()) - 20.5) < 4 * float(by_t.std()) / np.sqrt(len(by_t))


@pytest.mark.slow
def test_bound_terms_with_true_noise_oracle_are_closed_forms():
    betas = linear_betas(50)
    schedule = make_schedule(betas)
    num_levels = 16
    x0 = jnp.asarray(levels(num_levels)[[0, 3, 8, 15]][:, None], jnp.float32)  # both end bins included
    alpha_bars, _, beta_tilde, _ = numpy_schedule(betas)
    half_bin = 1 / (num_levels - 1)
    # The decoder's scale is beta_tilde at t = 1 for both variances; its mean is x_0 itself.
    inner = np.log(2 * stats.norm.cdf(half_bin / np.sqrt(beta_tilde[1])) - 1)
    edge = np.log(stats.norm.cdf(half_bin / np.sqrt(beta_tilde[1])))
    prior = 0.5 * (alpha_bars[-1] * np.asarray(x0[:, 0]) ** 2 - alpha_bars[-1] - np.log1p(-alpha_bars[-1]))
    all_terms = jax.jit(
        lambda k, x: [
            losses.ddpm_bound_terms(
                k,
                true_noise_eps_fn(schedule, x),
                x,
                schedule,
                num_levels=num_levels,
                variance=variance,
                clip_denoised=False,
            )
            for variance in ("beta", "posterior")
        ]
    )(jax.random.key(0), x0)
    for terms, model_var in zip(all_terms, (betas, beta_tilde), strict=True):
        kl = 0.5 * (np.log(model_var[1:] / beta_tilde[1:]) + beta_tilde[1:] / model_var[1:] - 1)
        assert terms["diffusion"].shape == (4, 49)
        np.testing.assert_allclose(terms["diffusion"], np.broadcast_to(kl, (4, 49)), rtol=1e-3, atol=2e-6)
        np.testing.assert_allclose(terms["decoder"], -np.array([edge, inner, inner, edge]), rtol=1e-4)
        np.testing.assert_allclose(terms["prior"], prior, rtol=1e-4, atol=1e-7)


def test_expected_kl_terms_with_exact_gaussian_predictor():
    betas = linear_betas(30)
    schedule = make_schedule(betas)
    mean, std, replicas = 0.1, 0.4, 3000
    data = np.array([-0.6, 0.8])
    x0 = jnp.asarray(np.repeat(data, replicas)[:, None], jnp.float32)
    terms = jax.jit(
        lambda k, x: losses.ddpm_bound_terms(
            k, exact_eps_fn(schedule, mean, std), x, schedule, num_levels=256, clip_denoised=False
        )
    )(jax.random.key(1), x0)
    diffusion = np.asarray(terms["diffusion"]).reshape(2, replicas, 29)
    alpha_bars, _, beta_tilde, coef1 = numpy_schedule(betas)
    a, b = np.sqrt(alpha_bars[1:]), np.sqrt(1 - alpha_bars[1:])
    gain = b / (a**2 * std**2 + b**2)
    for i, x in enumerate(data):
        # x0 - x0_hat = -(b/a) [eps (1 - gain b) - gain a (x0 - m)]: its second moment in closed form.
        error_sq = (b / a) ** 2 * ((1 - gain * b) ** 2 + gain**2 * a**2 * (x - mean) ** 2)
        v1, v2 = beta_tilde[1:], betas[1:]
        expected = 0.5 * (np.log(v2 / v1) + (v1 + coef1[1:] ** 2 * error_sq) / v2 - 1)
        sem = diffusion[i].std(0) / np.sqrt(replicas)
        np.testing.assert_array_less(np.abs(diffusion[i].mean(0) - expected), 4 * sem + 1e-5)


def _bound_fn(schedule, num_levels, mean, std, timesteps=(None,)):
    """One jitted call (one compilation): the bound for each pair of key and ``timesteps`` entry."""
    eps_fn = exact_eps_fn(schedule, mean, std)
    return jax.jit(
        lambda keys, x: [
            negative_bound(
                key, eps_fn, x, schedule, num_levels=num_levels, timesteps=steps, clip_denoised=False
            )
            for key, steps in zip(keys, timesteps, strict=True)
        ]
    )


def test_bound_upper_bounds_entropy_of_discretized_gaussian_data():
    # E_data[bound] >= E_data[-log p_model] >= H(data): cross-entropy exceeds entropy.
    schedule, num_levels, mean, std, replicas = make_schedule(linear_betas(50)), 256, 0.1, 0.4, 40
    grid = levels(num_levels)
    edges = np.concatenate([[-np.inf], grid[:-1] + 1 / (num_levels - 1), [np.inf]])
    probs = np.diff(stats.norm(mean, std).cdf(edges))
    entropy = -np.sum(probs * np.log(probs))
    x0 = jnp.asarray(np.repeat(grid, replicas)[:, None], jnp.float32)
    bound = np.asarray(_bound_fn(schedule, num_levels, mean, std)([jax.random.key(2)], x0)[0]).reshape(
        -1, replicas
    )
    expected_bound = np.sum(probs * bound.mean(1))
    sem = np.sqrt(np.sum(probs**2 * bound.var(1) / replicas))
    assert expected_bound > entropy - 3 * sem
    assert expected_bound - entropy < 0.15  # ~0.06 nats at T = 50


@pytest.mark.slow
def test_stratified_estimate_is_unbiased_and_exact_with_all_timesteps():
    schedule, num_levels, mean, std = make_schedule(linear_betas(30)), 32, 0.1, 0.4
    replicas = 2000
    x0 = jnp.asarray(np.repeat(levels(num_levels)[[5, 20]], replicas)[:, None], jnp.float32)
    # K = 7 does not divide T = 30: strata of 4 and 5 steps, each weighted by its size.
    key, other_key = jax.random.key(3), jax.random.key(4)
    bounds = _bound_fn(schedule, num_levels, mean, std, (None, 30, 7))([key, key, other_key], x0)
    full, every, estimate = map(np.asarray, bounds)
    np.testing.assert_allclose(every, full, rtol=1e-5, atol=1e-5)  # same x_t draws, weights 1
    for rows in (slice(0, replicas), slice(replicas, None)):
        sem = np.sqrt(full[rows].var() / replicas + estimate[rows].var() / replicas)
        assert abs(estimate[rows].mean() - full[rows].mean()) < 4 * sem
        assert estimate[rows].var() > full[rows].var()  # K < T draws are noisier


@pytest.mark.slow
def test_bound_sums_its_terms_and_traces_one_network_call():
    schedule = make_schedule(linear_betas(30))
    x0 = jnp.asarray(levels(8)[[1, 6]][:, None], jnp.float32)
    eps_fn = lambda x, t: jnp.tanh(x)
    key = jax.random.key(5)
    terms, bound = jax.jit(
        lambda x: (
            losses.ddpm_bound_terms(key, eps_fn, x, schedule, num_levels=8),
            negative_bound(key, eps_fn, x, schedule, num_levels=8),
        )
    )(x0)
    np.testing.assert_allclose(
        bound, terms["prior"] + terms["diffusion"].sum(-1) + terms["decoder"], rtol=1e-6
    )
    calls = []
    counting_eps_fn = lambda x, t: calls.append(1) or jnp.tanh(x)
    jax.make_jaxpr(lambda x: negative_bound(key, counting_eps_fn, x, schedule, num_levels=8))(x0)
    assert len(calls) == 1
    with pytest.raises(ValueError, match="timesteps"):
        negative_bound(key, eps_fn, x0, schedule, num_levels=8, timesteps=31)
