"""Autoencoder regularisers: contractive penalty against jacfwd, sparsity formulas, corruption rates."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.losses import contractive_penalty, corrupt, sparsity_penalty


def sigmoid_encoder(seed: int = 0, num_dims: int = 6, code_dim: int = 3):
    """A one-layer sigmoid encoder `[B, ...] -> [B, K]` with fixed random weights."""
    rng = np.random.default_rng(seed)
    weights = jnp.asarray(rng.normal(size=(num_dims, code_dim)), jnp.float32)
    bias = jnp.asarray(rng.normal(size=code_dim), jnp.float32)
    return lambda x: jax.nn.sigmoid(x.reshape(x.shape[0], -1) @ weights + bias), weights


@pytest.fixture(scope="module")
def inputs() -> jnp.ndarray:
    return jnp.asarray(np.random.default_rng(1).normal(size=(5, 6)), jnp.float32)


def test_exact_contractive_penalty_is_the_squared_frobenius_norm_of_jacfwd(inputs):
    encode, weights = sigmoid_encoder()
    expected = jnp.stack([jnp.sum(jax.jacfwd(lambda e: encode(e[None])[0])(e) ** 2) for e in inputs])
    np.testing.assert_allclose(contractive_penalty(None, encode, inputs), expected, rtol=1e-5)
    # And the closed form of a sigmoid layer: sum_k (h_k (1 - h_k))^2 |W_:k|^2.
    h = encode(inputs)
    closed_form = jnp.sum((h * (1 - h)) ** 2 * jnp.sum(weights**2, axis=0), axis=1)
    np.testing.assert_allclose(contractive_penalty(None, encode, inputs), closed_form, rtol=1e-5)
    # Images: the Jacobian is taken over every pixel.
    images = inputs.reshape(5, 2, 3, 1)
    np.testing.assert_allclose(contractive_penalty(None, encode, images), expected, rtol=1e-5)


def test_projection_estimator_is_unbiased(inputs):
    encode, _ = sigmoid_encoder()
    exact = np.asarray(contractive_penalty(None, encode, inputs))
    estimates = jax.jit(jax.vmap(lambda key: contractive_penalty(key, encode, inputs, num_projections=4)))(
        jax.random.split(jax.random.key(0), 2000)
    )
    estimates = np.asarray(estimates)  # [2000, B], each row an independent 4-projection estimate
    standard_error = estimates.std(axis=0) / np.sqrt(estimates.shape[0])
    assert np.all(np.abs(estimates.mean(axis=0) - exact) < 4 * standard_error)
    assert np.all(estimates.std(axis=0) > 0)  # an estimator, not the exact value in disguise


def test_l1_sparsity_penalty_is_the_mean_code_l1_norm():
    codes = jnp.asarray([[1.0, -2.0, 0.0], [0.5, 0.5, -0.5]])
    np.testing.assert_allclose(sparsity_penalty(codes, kind="l1"), (3.0 + 1.5) / 2, rtol=1e-6)
    # The mask drops padded rows.
    np.testing.assert_allclose(sparsity_penalty(codes, kind="l1", mask=jnp.asarray([1.0, 0.0])), 3.0)


def test_kl_sparsity_penalty_is_the_bernoulli_kl_to_the_target_rate():
    codes = jnp.asarray([[0.1, 0.8], [0.3, 0.4]])  # mean activations 0.2 and 0.6
    rho = 0.05

    def kl(rate):
        return rho * np.log(rho / rate) + (1 - rho) * np.log((1 - rho) / (1 - rate))

    expected = kl(0.2) + kl(0.6)
    np.testing.assert_allclose(sparsity_penalty(codes, kind="kl", target_rate=rho), expected, rtol=1e-5)
    at_target = jnp.full((4, 3), rho)
    np.testing.assert_allclose(sparsity_penalty(at_target, kind="kl", target_rate=rho), 0.0, atol=1e-6)


def test_corruption_levels_are_what_they_say():
    x = jnp.full((200, 500), 0.5)
    key = jax.random.key(3)
    noisy = corrupt(key, x, kind="gaussian", level=0.3)
    np.testing.assert_allclose(float(jnp.std(noisy - x)), 0.3, rtol=0.01)
    np.testing.assert_allclose(float(jnp.mean(noisy - x)), 0.0, atol=0.003)
    masked = corrupt(key, x, kind="masking", level=0.25)
    assert set(np.unique(np.asarray(masked))) == {0.0, 0.5}
    np.testing.assert_allclose(float(jnp.mean(masked == 0.0)), 0.25, atol=0.005)  # 100k Bernoullis: sd 0.0014
    salted = np.asarray(corrupt(key, x, kind="salt_and_pepper", level=0.2))
    np.testing.assert_allclose(np.mean(salted == 0.0), 0.1, atol=0.004)
    np.testing.assert_allclose(np.mean(salted == 1.0), 0.1, atol=0.004)
    np.testing.assert_allclose(np.mean(salted == 0.5), 0.8, atol=0.005)


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: sparsity_penalty(jnp.ones((2, 3)), kind="l2"), "kind: got 'l2'"),
        (lambda: sparsity_penalty(jnp.ones((2, 3)) / 2, kind="kl", target_rate=1.5), "target_rate"),
        (lambda: corrupt(jax.random.key(0), jnp.ones((2, 3)), kind="blur", level=0.1), "kind: got 'blur'"),
        (lambda: corrupt(jax.random.key(0), jnp.ones((2, 3)), kind="masking", level=1.5), "level: got 1.5"),
        (
            lambda: contractive_penalty(jax.random.key(0), lambda x: x, jnp.ones((2, 3)), num_projections=0),
            "num_projections",
        ),
    ],
)
def test_bad_options_are_value_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()
