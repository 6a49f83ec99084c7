"""The InfoVAE objective: the ELBO at α = 0, λ = 1, the MMD against numpy, the weights as stated."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.configs import vae as vae_config
from genjax import losses, models
from genjax.distributions import gaussian_kl, normal_log_prob
from genjax.errors import ConfigError
from genjax.spec import DataSpec

LATENT, DIMS, BATCH = 3, 5, 9
WEIGHT = np.random.default_rng(0).normal(size=(DIMS, LATENT)).astype(np.float32)
X = jnp.asarray(np.random.default_rng(1).normal(size=(BATCH, DIMS)), jnp.float32)


def encode(x):
    mean = x[:, :LATENT] * 0.5
    return mean, jnp.full(mean.shape, -1.0) + 0.1 * x[:, LATENT:].sum(axis=1, keepdims=True)


def decode_log_prob(z, x):
    return normal_log_prob(x, z @ WEIGHT.T, jnp.zeros_like(x))


@jax.jit
def terms(rng, alpha, lambda_):
    """The objective, the ELBO, its KL and the MMD the objective must have used (same folded keys)."""
    objective = losses.info_vae_objective(rng, encode, decode_log_prob, X, alpha=alpha, lambda_=lambda_)
    elbo = losses.elbo(rng, encode, decode_log_prob, X)
    mean, log_var = encode(X)
    z_q = mean + jnp.exp(0.5 * log_var) * jax.random.normal(jax.random.fold_in(rng, 1), mean.shape)
    z_p = jax.random.normal(jax.random.fold_in(rng, 2), mean.shape)
    return objective, elbo, gaussian_kl(mean, log_var), losses.mmd_penalty(z_q, z_p)


def numpy_mmd(x, y, kernel, scale=1.0):
    c = 2.0 * scale * x.shape[1]
    if kernel == "gaussian":
        k = lambda a, b: np.exp(-np.sum((a - b) ** 2) / c)
    else:
        k = lambda a, b: c / (c + np.sum((a - b) ** 2))
    mean_k = lambda a, b: np.mean([[k(u, v) for v in b] for u in a])
    return mean_k(x, x) + mean_k(y, y) - 2 * mean_k(x, y)


def test_alpha_zero_lambda_one_is_exactly_the_elbo():
    objective, elbo, _, _ = terms(jax.random.key(0), 0.0, 1.0)
    np.testing.assert_array_equal(objective, elbo)


def test_weights_enter_as_stated():
    rng = jax.random.key(3)
    _, elbo, kl, mmd = terms(rng, 0.0, 1.0)
    assert float(mmd) > 0
    for alpha, lambda_ in [(0.0, 10.0), (1.0, 1.0), (0.5, 3.0)]:
        objective, *_ = terms(rng, alpha, lambda_)
        # ELBO = reconstruction - KL, so the objective is ELBO + alpha KL - (alpha + lambda - 1) MMD.
        expected = elbo + alpha * kl - (alpha + lambda_ - 1) * mmd
        np.testing.assert_allclose(objective, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kernel", ["gaussian", "imq"])
def test_mmd_penalty_equals_the_numpy_formula(kernel):
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(6, 3)), rng.normal(loc=0.5, size=(8, 3))
    got = losses.mmd_penalty(
        jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32), kernel=kernel, scale=0.7
    )
    np.testing.assert_allclose(got, numpy_mmd(x, y, kernel, scale=0.7), rtol=1e-5)
    assert float(losses.mmd_penalty(jnp.asarray(x, jnp.float32), jnp.asarray(x, jnp.float32))) == 0.0


def test_bad_options_raise():
    with pytest.raises(ValueError, match="kernel"):
        losses.mmd_penalty(X[:, :2], X[:, :2], kernel="laplace")
    with pytest.raises(ValueError, match="lambda_"):
        losses.info_vae_objective(jax.random.key(0), encode, decode_log_prob, X, lambda_=0.0)


DIGITS = DataSpec(name="digits", element_shape=(8, 8, 1), num_levels=17)


@pytest.mark.slow
def test_vae_family_trains_on_the_infovae_objective():
    config = vae_config.get_config("smoke")
    config.model.update(objective="infovae", info_alpha=0.5, info_lambda=10.0, hidden_sizes=(32,))
    model = models.build(config, DIGITS)
    x = (np.random.default_rng(5).integers(0, 17, size=(32, 8, 8, 1)) > 8).astype(np.float32)
    batch = {"x": jnp.asarray(x)}
    params = model.init(jax.random.key(0), batch)
    loss_and_grad = jax.jit(jax.value_and_grad(lambda p, key: model.losses["model"](p, batch, key)[0]))
    before, _ = loss_and_grad(params, jax.random.key(1))
    for step in range(10):
        _, grads = loss_and_grad(params, jax.random.key(step))
        params = jax.tree.map(lambda p, g: p - 3e-3 * g, params, grads)
    after, _ = loss_and_grad(params, jax.random.key(1))
    assert np.isfinite(after) and after < before
    # log_prob stays the IWAE estimate, a log-likelihood in nats (<= 0 for binary data).
    log_prob = jax.jit(model.log_prob)(params, batch, jax.random.key(2))
    assert log_prob.shape == (32,) and float(log_prob.max()) <= 0


@pytest.mark.parametrize(
    ("field", "value"), [("info_alpha", 1.5), ("info_lambda", 0.0), ("info_kernel", "laplace")]
)
def test_bad_infovae_fields_raise_config_error(field, value):
    config = vae_config.get_config("digits_infovae")
    config.model[field] = value
    with pytest.raises(ConfigError, match=f"model.{field}"):
        models.build(config, DIGITS)
