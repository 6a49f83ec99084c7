"""Contrastive divergence, the replay buffer and NCE against hand formulas and a known normaliser."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from genjax.losses import ebm

jax.config.update("jax_enable_x64", False)

X_DATA = np.array([[0.5, -1.0], [2.0, 0.3], [-0.7, 0.0], [1.1, 1.1], [0.0, -2.2]], np.float32)
X_MODEL = np.array([[1.5, 0.5], [-0.3, 0.8], [3.0, -1.0]], np.float32)  # a different batch size on purpose


def _quadratic_energy(params, x):
    """E(x) = 0.5 θ ||x||² + bᵀx, x: [N, 2] -> [N]."""
    theta, bias = params
    return 0.5 * theta * jnp.sum(x**2, -1) + x @ bias


PARAMS = (jnp.float32(1.7), jnp.array([0.2, -0.4], jnp.float32))


def _hand_energy(x):
    x = np.asarray(x, np.float64)
    return 0.5 * 1.7 * np.sum(x**2, -1) + x @ np.array([0.2, -0.4])


# ---------------------------------------------------------------- contrastive divergence


@pytest.mark.parametrize("energy_l2", [0.0, 0.3])
def test_cd_value_matches_hand_computation(energy_l2):
    got = ebm.contrastive_divergence(
        lambda x: _quadratic_energy(PARAMS, x), X_DATA, X_MODEL, energy_l2=energy_l2
    )
    e_data, e_model = _hand_energy(X_DATA), _hand_energy(X_MODEL)
    expected = e_data.mean() - e_model.mean() + energy_l2 * ((e_data**2).mean() + (e_model**2).mean())
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_cd_gradient_stops_at_model_samples():
    def loss(params, x_data, x_model):
        return ebm.contrastive_divergence(lambda x: _quadratic_energy(params, x), x_data, x_model)

    grad_params, grad_data, grad_model = jax.grad(loss, argnums=(0, 1, 2))(PARAMS, X_DATA, X_MODEL)
    np.testing.assert_array_equal(grad_model, np.zeros_like(X_MODEL))
    assert np.all(np.abs(np.asarray(grad_data)) > 0)
    # ∂/∂θ = 0.5 (mean ||x_data||² − mean ||x_model||²), ∂/∂b = mean x_data − mean x_model.
    half_norms = lambda x: 0.5 * np.sum(np.asarray(x, np.float64) ** 2, -1).mean()  # noqa: E731
    np.testing.assert_allclose(grad_params[0], half_norms(X_DATA) - half_norms(X_MODEL), rtol=1e-5)
    np.testing.assert_allclose(grad_params[1], X_DATA.mean(0) - X_MODEL.mean(0), rtol=1e-5, atol=1e-6)


def test_cd_gradient_is_the_maximum_likelihood_gradient():
    """E = 0.5 θ x² ⇒ p_θ = N(0, 1/θ), −log p = 0.5 θ x² + 0.5 log(2π/θ); model samples exact."""
    theta = 2.0
    rng = np.random.default_rng(0)
    x_data = jnp.asarray(rng.normal(size=1000) * 0.8 + 0.3, jnp.float32)
    x_model = jnp.asarray(rng.normal(size=200_000) / np.sqrt(theta), jnp.float32)

    def cd(t):
        return ebm.contrastive_divergence(lambda x: 0.5 * t * x**2, x_data, x_model)

    def negative_log_likelihood(t):
        return jnp.mean(0.5 * t * x_data**2) + 0.5 * jnp.log(2 * jnp.pi / t)

    # MC error of 0.5 mean x_model²: sqrt(0.5 / θ² / 200_000) ≈ 8e-4.
    np.testing.assert_allclose(jax.grad(cd)(theta), jax.grad(negative_log_likelihood)(theta), atol=4e-3)
    # The sign matters: a descent step on CD moves θ towards the data precision 1 / E[x²].
    assert float(jax.grad(cd)(theta)) > 0 and theta > 1 / float(jnp.mean(x_data**2))


# ---------------------------------------------------------------- replay buffer


# ---------------------------------------------------------------- noise-contrastive estimation


def _normal_log_prob(x, std):
    return -0.5 * (x / std) ** 2 - np.log(std) - 0.5 * np.log(2 * np.pi)


def test_nce_loss_matches_hand_value():
    x_data = np.array([0.3, -1.2, 2.0], np.float32)
    x_noise = np.array([0.0, 4.0, -3.0, 1.0, -0.5, 2.5], np.float32)  # ν = 2
    a, c, noise_std = 0.4, 1.1, 2.0

    def f(x):
        return -0.5 * x**2 * np.exp(a) + 0.2 * x

    loss = ebm.nce_loss(
        lambda x: f(x), lambda x: _normal_log_prob(x, noise_std), x_data, x_noise, jnp.float32(c)
    )
    sigmoid = lambda g: 1 / (1 + np.exp(-g))  # noqa: E731
    logit = lambda x: f(x.astype(np.float64)) - c - np.log(2.0) - _normal_log_prob(x.astype(np.float64), 2.0)  # noqa: E731
    expected = -np.mean(np.log(sigmoid(logit(x_data)))) - 2.0 * np.mean(np.log(1 - sigmoid(logit(x_noise))))
    np.testing.assert_allclose(loss, expected, rtol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("data_std", [1.0, 0.7])
def test_nce_recovers_the_log_normaliser(data_std):
    """Model f(x) = −0.5 x² eᵃ: the data density N(0, s²) has a = −2 log s and log Z = 0.5 log(2π s²)."""
    n = 20_000
    rng = np.random.default_rng(7)
    x_data = jnp.asarray(rng.normal(size=n) * data_std, jnp.float32)
    x_noise = jnp.asarray(rng.normal(size=n) * 2.0, jnp.float32)

    def loss(params):
        a, c = params
        return ebm.nce_loss(
            lambda x: -0.5 * x**2 * jnp.exp(a), lambda x: _normal_log_prob(x, 2.0), x_data, x_noise, c
        )

    optimizer = optax.adam(0.05)

    def step(carry, _):
        params, opt_state = carry
        updates, opt_state = optimizer.update(jax.grad(loss)(params), opt_state)
        return (optax.apply_updates(params, updates), opt_state), None

    init = jnp.array([0.5, 0.0])
    (params, _), _ = jax.jit(lambda p: jax.lax.scan(step, (p, optimizer.init(p)), length=300))(init)
    a, c = np.asarray(params, np.float64)
    assert abs(c - 0.5 * np.log(2 * np.pi * data_std**2)) < 0.05
    assert abs(a + 2 * np.log(data_std)) < 0.06
    assert np.max(np.abs(np.asarray(jax.grad(loss)(params)))) < 1e-3  # converged, not stopped early
