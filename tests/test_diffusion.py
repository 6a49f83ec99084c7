"""The forward diffusion process in closed form: schedules, q(x_t | x_0), the posterior, the eps form."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax import diffusion

MEANS = np.array([0.3, -0.5])
STDS = np.array([0.5, 0.2])


def test_linear_betas_endpoints_and_rescaling():
    np.testing.assert_allclose(diffusion.linear_betas(1000)[[0, -1]], [1e-4, 0.02], rtol=1e-12)
    betas = diffusion.linear_betas(100)
    np.testing.assert_allclose(betas[[0, -1]], [1e-3, 0.2], rtol=1e-12)
    np.testing.assert_allclose(np.diff(betas), (0.2 - 1e-3) / 99, rtol=1e-9)
    # Rescaling keeps the total noise (sum of betas) of the T = 1000 process.
    np.testing.assert_allclose(betas.sum(), diffusion.linear_betas(1000).sum(), rtol=1e-12)
    np.testing.assert_allclose(diffusion.linear_betas(100, rescale=False)[[0, -1]], [1e-4, 0.02])
    with pytest.raises(ValueError, match="num_steps=10"):
        diffusion.linear_betas(10)


def test_cosine_schedule_follows_cos_squared_until_clipped():
    num_steps, s = 50, 0.008
    betas = diffusion.cosine_betas(num_steps)
    assert np.all(betas > 0) and np.all(betas <= 0.999)
    assert betas[-1] == 0.999  # abar(1) = cos^2(pi/2) ~ 0 would need beta = 1
    u = np.arange(1, num_steps + 1) / num_steps
    expected = np.cos((u + s) / (1 + s) * np.pi / 2) ** 2 / np.cos(s / (1 + s) * np.pi / 2) ** 2
    schedule = diffusion.make_schedule(betas)
    np.testing.assert_allclose(schedule.alpha_bars[:-1], expected[:-1], rtol=2e-5, atol=1e-7)
    assert schedule.num_steps == num_steps


def test_beta_schedule_dispatch_and_error():
    np.testing.assert_array_equal(diffusion.beta_schedule("linear", 40), diffusion.linear_betas(40))
    np.testing.assert_array_equal(diffusion.beta_schedule("cosine", 40), diffusion.cosine_betas(40))
    with pytest.raises(ValueError, match="linear, cosine"):
        diffusion.beta_schedule("quadratic", 40)


def test_q_sample_matches_chained_single_steps():
    betas = diffusion.linear_betas(100)
    schedule = diffusion.make_schedule(betas)
    num_draws, x0 = 10_000, jnp.array([0.7, -0.4])
    probe = np.array([0, 10, 50, 99])

    @jax.jit
    def draw(key):
        def noise_step(x, inputs):  # x_t = sqrt(alpha_t) x_{t-1} + sqrt(beta_t) z: never reads alpha_bars
            beta, step_key = inputs
            x = jnp.sqrt(1 - beta) * x + jnp.sqrt(beta) * jax.random.normal(step_key, x.shape)
            return x, x

        start = jnp.broadcast_to(x0, (num_draws, 2))
        chain_key, direct_key = jax.random.split(key)
        keys = jax.random.split(chain_key, 100)
        _, chain = jax.lax.scan(noise_step, start, (jnp.asarray(betas, jnp.float32), keys))
        noise = jax.random.normal(direct_key, (len(probe), num_draws, 2))
        direct = jax.vmap(lambda t, z: diffusion.q_sample(start, jnp.full((num_draws,), t), z, schedule))(
            jnp.asarray(probe), noise
        )
        return chain[probe], direct

    chain, direct = map(np.asarray, draw(jax.random.key(0)))
    abar = np.cumprod(1 - betas)[probe]
    for i in range(len(probe)):
        for draws in (chain[i], direct[i]):
            sem = np.sqrt((1 - abar[i]) / num_draws)
            np.testing.assert_allclose(draws.mean(0), np.sqrt(abar[i]) * x0, atol=5 * sem)
            np.testing.assert_allclose(draws.var(0), 1 - abar[i], rtol=0.06)  # 4.2 sigma


@pytest.mark.parametrize("t", [1, 5, 60, 99])
def test_q_posterior_matches_bayes_rule_on_a_grid(t):
    betas = diffusion.linear_betas(100)
    schedule = diffusion.make_schedule(betas)
    x0, x_t = 0.4, -0.3
    abar_prev = np.prod(1 - betas[:t])
    grid = np.linspace(-4, 4, 400_001)
    # log q(x_{t-1} | x_0) + log q(x_t | x_{t-1}), then normalise numerically.
    log_post = -0.5 * (grid - np.sqrt(abar_prev) * x0) ** 2 / (1 - abar_prev)
    log_post += -0.5 * (x_t - np.sqrt(1 - betas[t]) * grid) ** 2 / betas[t]
    weights = np.exp(log_post - log_post.max())
    weights /= weights.sum()
    mean = np.sum(weights * grid)
    var = np.sum(weights * (grid - mean) ** 2)
    got_mean, got_var, got_log_var = diffusion.q_posterior(
        jnp.array([[x0]]), jnp.array([[x_t]]), jnp.array([t]), schedule
    )
    np.testing.assert_allclose(float(got_mean[0, 0]), mean, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(float(got_var[0, 0]), var, rtol=1e-4)
    np.testing.assert_allclose(float(got_log_var[0, 0]), np.log(var), atol=1e-4)


def test_q_posterior_at_first_step_is_the_data_and_predict_x0_inverts_q_sample():
    schedule = diffusion.make_schedule(diffusion.linear_betas(100))
    x0 = jax.random.uniform(jax.random.key(0), (4, 3), minval=-1, maxval=1)
    noise = jax.random.normal(jax.random.key(1), (4, 3))
    t = jnp.array([0, 3, 40, 99])

    @jax.jit
    def run(x0, noise):
        x_t = diffusion.q_sample(x0, t, noise, schedule)
        return diffusion.q_posterior(x0, x_t, t, schedule), diffusion.predict_x0(x_t, t, noise, schedule)

    (mean, var, log_var), x0_back = run(x0, noise)
    np.testing.assert_allclose(mean[0], x0[0], atol=1e-6)
    assert float(var[0, 0]) == 0.0 and np.isfinite(log_var).all()
    np.testing.assert_allclose(log_var[0, 0], schedule.posterior_log_variance_clipped[1])
    np.testing.assert_allclose(x0_back, x0, atol=2e-4)


def test_eps_form_mean_equals_posterior_of_predicted_x0():
    schedule = diffusion.make_schedule(diffusion.cosine_betas(30))
    x_t = jax.random.normal(jax.random.key(0), (6, 2)) * 0.3  # predictions stay inside [-1, 1]
    t = jnp.array([1, 4, 9, 15, 22, 29])
    eps_fn = lambda x, t: 0.5 * jnp.tanh(x) + 0.01 * t[:, None]

    @jax.jit
    def both_means(x_t):
        mean_eps, log_var, _ = diffusion.p_mean_variance(eps_fn, x_t, t, schedule, clip_denoised=False)
        x0 = diffusion.predict_x0(x_t, t, eps_fn(x_t, t), schedule)
        return mean_eps, diffusion.q_posterior(x0, x_t, t, schedule)[0], log_var

    mean_eps, mean_posterior, log_var = both_means(x_t)
    np.testing.assert_allclose(mean_eps, mean_posterior, rtol=1e-4, atol=1e-5)
    expected_log_var = np.log(diffusion.cosine_betas(30)[np.asarray(t)])
    np.testing.assert_allclose(log_var[:, 0], expected_log_var, rtol=1e-5, atol=1e-6)
