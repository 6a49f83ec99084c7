"""Probabilistic PCA's closed form and exact likelihood against scikit-learn, scipy and planted models."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats
from sklearn.decomposition import PCA

from genjax.models.pca import (
    PPCAParams,
    explained_variance,
    explained_variance_ratio,
    fit_ppca,
    posterior_mean,
    ppca_log_prob,
    ppca_sample,
    reconstruct,
)


def principal_angles(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angles (radians) between the column spans of a `[D, q]` and b `[D, q]`."""
    qa, _ = np.linalg.qr(np.asarray(a, np.float64))
    qb, _ = np.linalg.qr(np.asarray(b, np.float64))
    cosines = np.clip(np.linalg.svd(qa.T @ qb, compute_uv=False), -1.0, 1.0)
    return np.arccos(cosines)


@pytest.fixture(scope="module")
def correlated_data() -> np.ndarray:
    """`[400, 6]` anisotropic data with a non-zero mean."""
    rng = np.random.default_rng(0)
    mixing = rng.normal(size=(6, 6)) * np.array([3.0, 2.0, 1.0, 0.5, 0.3, 0.2])
    return (rng.normal(size=(400, 6)) @ mixing.T + rng.normal(size=6)).astype(np.float32)


def test_log_likelihood_and_explained_variance_equal_scikit_learn(correlated_data):
    x = correlated_data
    sklearn_pca = PCA(n_components=2).fit(x.astype(np.float64))
    params = fit_ppca(x, 2, ddof=1)  # scikit-learn's n - 1 normalisation
    np.testing.assert_allclose(ppca_log_prob(params, x), sklearn_pca.score_samples(x), rtol=2e-5, atol=1e-4)
    np.testing.assert_allclose(params.noise_variance, sklearn_pca.noise_variance_, rtol=1e-4)
    np.testing.assert_allclose(explained_variance(params), sklearn_pca.explained_variance_, rtol=1e-4)
    np.testing.assert_allclose(
        explained_variance_ratio(params), sklearn_pca.explained_variance_ratio_, rtol=1e-4
    )
    # The least-squares reconstruction is scikit-learn's inverse_transform of transform.
    np.testing.assert_allclose(
        reconstruct(params, x, orthogonal=True),
        sklearn_pca.inverse_transform(sklearn_pca.transform(x)),
        rtol=1e-4,
        atol=1e-3,
    )


def test_log_prob_equals_the_dense_multivariate_normal():
    rng = np.random.default_rng(1)
    num_dims, q = 7, 3
    # Non-orthogonal weights, as SGD leaves them: the Woodbury form must not assume orthogonality.
    params = PPCAParams(
        mean=jnp.asarray(rng.normal(size=num_dims), jnp.float32),
        weights=jnp.asarray(rng.normal(size=(num_dims, q)), jnp.float32),
        noise_variance=jnp.float32(0.3),
    )
    x = rng.normal(size=(20, num_dims)).astype(np.float32) * 2.0
    weights = np.asarray(params.weights, np.float64)
    covariance = weights @ weights.T + 0.3 * np.eye(num_dims)
    expected = scipy.stats.multivariate_normal(np.asarray(params.mean, np.float64), covariance).logpdf(x)
    np.testing.assert_allclose(ppca_log_prob(params, x), expected, rtol=1e-5, atol=1e-4)
    # Images flatten: the same numbers for [B, 7, 1].
    np.testing.assert_allclose(ppca_log_prob(params, x[:, :, None]), expected, rtol=1e-5, atol=1e-4)


def test_closed_form_is_the_maximum_likelihood_fit(correlated_data):
    """At ddof=0 the gradient of the mean log-likelihood vanishes at the closed form, for every parameter."""
    x = correlated_data
    params = fit_ppca(x, 2)

    def mean_log_prob(mean, weights, log_noise_variance):
        return jnp.mean(ppca_log_prob(PPCAParams(mean, weights, jnp.exp(log_noise_variance)), x))

    grads = jax.jit(jax.grad(mean_log_prob, argnums=(0, 1, 2)))(
        params.mean, params.weights, jnp.log(params.noise_variance)
    )
    for grad in grads:
        assert float(jnp.max(jnp.abs(grad))) < 2e-4
    # And it is a maximum: a rotated-away subspace or another noise level scores lower.
    best = float(mean_log_prob(params.mean, params.weights, jnp.log(params.noise_variance)))
    assert float(mean_log_prob(params.mean, params.weights, jnp.log(params.noise_variance) + 0.1)) < best
    assert float(mean_log_prob(params.mean, params.weights[::-1], jnp.log(params.noise_variance))) < best


def test_fit_recovers_a_planted_model():
    rng = np.random.default_rng(2)
    num_dims, q, noise_variance = 8, 2, 0.1
    weights = rng.normal(size=(num_dims, q)) * 2.0
    mean = rng.normal(size=num_dims)
    planted = PPCAParams(jnp.asarray(mean), jnp.asarray(weights), jnp.asarray(noise_variance))
    x = np.asarray(ppca_sample(jax.random.key(0), planted, 40_000), np.float32)
    fitted = fit_ppca(x, q)
    np.testing.assert_allclose(fitted.noise_variance, noise_variance, rtol=0.03)
    standard_errors = np.sqrt((np.sum(weights**2, axis=1) + noise_variance) / x.shape[0])
    assert np.all(np.abs(np.asarray(fitted.mean) - mean) < 5 * standard_errors)
    assert np.max(principal_angles(fitted.weights, weights)) < 0.02
    # W is identified up to a rotation: W W^T is not.
    fitted_outer = np.asarray(fitted.weights) @ np.asarray(fitted.weights).T
    np.testing.assert_allclose(
        fitted_outer, weights @ weights.T, atol=0.15 * np.abs(weights @ weights.T).max()
    )


def test_posterior_mean_is_the_gaussian_conditional_and_shrinks_to_the_projection():
    rng = np.random.default_rng(3)
    weights = rng.normal(size=(5, 2))
    params = PPCAParams(jnp.zeros(5), jnp.asarray(weights, jnp.float32), jnp.float32(0.5))
    x = rng.normal(size=(4, 5)).astype(np.float32)
    # E[z | x] = Cov(z, x) Cov(x)^{-1} x = W^T (W W^T + s I)^{-1} x.
    expected = x @ np.linalg.inv(weights @ weights.T + 0.5 * np.eye(5)) @ weights
    np.testing.assert_allclose(posterior_mean(params, x), expected, rtol=1e-4, atol=1e-5)
    tiny = params._replace(noise_variance=jnp.float32(1e-6))
    np.testing.assert_allclose(
        reconstruct(tiny, x), reconstruct(tiny, x, orthogonal=True), rtol=1e-3, atol=1e-4
    )


def test_samples_have_the_model_covariance():
    rng = np.random.default_rng(4)
    weights = rng.normal(size=(4, 2))
    params = PPCAParams(jnp.arange(4.0), jnp.asarray(weights, jnp.float32), jnp.float32(0.2))
    samples = np.asarray(ppca_sample(jax.random.key(1), params, 100_000))
    np.testing.assert_allclose(samples.mean(axis=0), np.arange(4.0), atol=0.03)
    np.testing.assert_allclose(np.cov(samples.T), weights @ weights.T + 0.2 * np.eye(4), atol=0.06)


def test_bad_num_components_is_a_value_error(correlated_data):
    with pytest.raises(ValueError, match="num_components: got 6"):
        fit_ppca(correlated_data, 6)
