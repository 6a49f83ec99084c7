"""The VAE bounds against closed forms on a linear-Gaussian model."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from genjax import losses
from genjax.distributions import normal_log_prob

jax.config.update("jax_enable_x64", False)

LATENT, DIMS, NOISE_STD = 3, 5, 0.7


def linear_gaussian():
    """p(z) = N(0, I), p(x | z) = N(Wz + b, σ²I), W with orthogonal columns.

    Orthogonal columns make the exact posterior diagonal, so an encoder that
    returns it is expressible as (mean, log_var):
      S = (I + WᵀW/σ²)⁻¹,  m = S Wᵀ (x − b) / σ².
    """
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(DIMS, LATENT)))
    weight = q * np.array([2.0, 1.0, 0.5])  # columns orthogonal, norms 2, 1, 0.5
    bias = rng.normal(size=DIMS)
    posterior_var = 1.0 / (1.0 + np.sum(weight**2, axis=0) / NOISE_STD**2)

    def encode(x):
        mean = (x - bias) @ weight / NOISE_STD**2 * posterior_var
        return mean, jnp.broadcast_to(jnp.log(posterior_var), mean.shape)

    def decode_log_prob(z, x):
        return normal_log_prob(x, z @ weight.T + bias, jnp.full(x.shape, 2 * np.log(NOISE_STD)))

    marginal = stats.multivariate_normal(bias, weight @ weight.T + NOISE_STD**2 * np.eye(DIMS))
    x = jnp.asarray(rng.normal(size=(7, DIMS)) * 2, jnp.float32)
    return encode, decode_log_prob, marginal.logpdf(np.asarray(x)), x


def test_gaussian_kl_matches_closed_form_and_scipy_entropy():
    mean = jnp.array([[0.3, -1.2], [0.0, 0.0]])
    log_var = jnp.array([[0.5, -0.7], [0.0, 0.0]])
    var = np.exp(np.asarray(log_var))
    got = np.asarray(losses.gaussian_kl(mean, log_var))
    expected = 0.5 * np.sum(var + np.asarray(mean) ** 2 - 1 - np.asarray(log_var), axis=-1)
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    assert got[1] == 0.0
    # Independently: KL(q || N(0, I)) = cross-entropy - entropy, with scipy's exact entropy of q
    # and the standard normal's cross-entropy E_q[-log p(z)] = (log 2 pi + var + mean^2) / 2.
    entropy = stats.norm(np.asarray(mean), np.sqrt(var)).entropy().sum(-1)
    cross_entropy = 0.5 * np.sum(np.log(2 * np.pi) + var + np.asarray(mean) ** 2, axis=-1)
    np.testing.assert_allclose(got, cross_entropy - entropy, rtol=1e-5, atol=1e-6)
    # And by Monte Carlo, E_q[log q - log p] with scipy's log-densities.
    z = np.random.default_rng(1).normal(size=(400_000, 2)) * np.sqrt(var[0]) + np.asarray(mean[0])
    log_ratio = stats.norm(np.asarray(mean[0]), np.sqrt(var[0])).logpdf(z) - stats.norm().logpdf(z)
    assert abs(np.mean(log_ratio.sum(-1)) - got[0]) < 0.01


@pytest.mark.slow
def test_iwae_with_exact_posterior_equals_log_marginal():
    encode, decode_log_prob, log_px, x = linear_gaussian()
    for k in (1, 16):
        bound = losses.iwae_bound(jax.random.key(0), encode, decode_log_prob, x, num_samples=k)
        np.testing.assert_allclose(bound, log_px, rtol=1e-5, atol=1e-4)


@pytest.mark.slow
def test_elbo_with_exact_posterior_equals_log_marginal():
    encode, decode_log_prob, log_px, x = linear_gaussian()
    bound = losses.elbo(jax.random.key(0), encode, decode_log_prob, x, num_samples=200_000)
    np.testing.assert_allclose(bound, log_px, atol=0.015)


def test_beta_scales_only_the_kl_term():
    encode, decode_log_prob, _, x = linear_gaussian()
    key = jax.random.key(3)
    kl = losses.gaussian_kl(*encode(x))
    b1 = losses.elbo(key, encode, decode_log_prob, x, beta=1.0)
    b4 = losses.elbo(key, encode, decode_log_prob, x, beta=4.0)
    np.testing.assert_allclose(b1 - b4, 3.0 * kl, rtol=1e-4)


@pytest.mark.slow
def test_iwae_rises_with_k_and_stays_below_log_marginal():
    encode, decode_log_prob, log_px, x = linear_gaussian()

    def poor_encode(x):  # a deliberately wrong posterior: shifted, too narrow
        mean, log_var = encode(x)
        return mean + 0.8, log_var - 1.0

    means = []
    for k in (1, 5, 50, 500):
        draws = jax.vmap(
            lambda key, k=k: losses.iwae_bound(key, poor_encode, decode_log_prob, x, num_samples=k)
        )(jax.random.split(jax.random.key(1), 200))
        means.append(np.asarray(draws).mean(axis=0))
    means = np.stack(means)  # [num_k, B]
    assert np.all(np.diff(means, axis=0) > 0), means
    assert np.all(means < log_px[None])
    assert np.all(log_px - means[-1] < log_px - means[0])


@pytest.mark.slow
def test_iwae_chunks_combine_exactly():
    """With the exact posterior every weight is p(x): any chunking must give log p(x)."""
    encode, decode_log_prob, log_px, x = linear_gaussian()
    key = jax.random.key(2)
    for chunk in (1, 8, 64):
        bound = losses.iwae_bound(key, encode, decode_log_prob, x, num_samples=64, chunk_size=chunk)
        np.testing.assert_allclose(bound, log_px, rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(
        losses.iwae_bound(key, encode, decode_log_prob, x, num_samples=64, chunk_size=64),
        losses.iwae_bound(key, encode, decode_log_prob, x, num_samples=64),
    )
    with pytest.raises(ValueError, match="chunk_size"):
        losses.iwae_bound(key, encode, decode_log_prob, x, num_samples=10, chunk_size=3)


def test_reparameterized_gradient_matches_analytic():
    """d/dθ E_q[Σ z²] = (2m, exp(log_var)) for q = N(m, exp(log_var))."""
    mean = jnp.array([0.5, -1.0, 2.0])
    log_var = jnp.array([0.1, -0.5, 0.3])

    def objective(mean, log_var):
        z = losses.reparameterize(jax.random.key(0), mean, log_var, num_samples=200_000)
        return jnp.mean(jnp.sum(z**2, axis=-1))

    grad_mean, grad_log_var = jax.grad(objective, argnums=(0, 1))(mean, log_var)
    np.testing.assert_allclose(grad_mean, 2 * mean, atol=0.02)
    np.testing.assert_allclose(grad_log_var, jnp.exp(log_var), atol=0.02)


@pytest.mark.slow
def test_elbo_gradient_matches_closed_form_gradient():
    """ELBO gradients w.r.t. the encoder vs autodiff of the analytic ELBO."""
    encode, decode_log_prob, _, x = linear_gaussian()
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(DIMS, LATENT)))
    weight = q * np.array([2.0, 1.0, 0.5])
    bias = rng.normal(size=DIMS)

    def analytic_elbo(shift):
        mean, log_var = encode(x)
        mean = mean + shift
        var = jnp.exp(log_var)
        residual = x - (mean @ weight.T + bias)
        expected_log_lik = (
            -0.5 * DIMS * jnp.log(2 * jnp.pi * NOISE_STD**2)
            - 0.5 * jnp.sum(residual**2, -1) / NOISE_STD**2
            - 0.5 * jnp.sum(var * np.sum(weight**2, 0), -1) / NOISE_STD**2
        )
        return jnp.sum(expected_log_lik - losses.gaussian_kl(mean, log_var))

    def monte_carlo_elbo(shift):
        shifted = lambda x: (encode(x)[0] + shift, encode(x)[1])  # noqa: E731
        return jnp.sum(losses.elbo(jax.random.key(5), shifted, decode_log_prob, x, num_samples=50_000))

    shift = jnp.array([0.3, -0.2, 0.1])
    np.testing.assert_allclose(
        jax.grad(monte_carlo_elbo)(shift), jax.grad(analytic_elbo)(shift), rtol=0.03, atol=0.1
    )
