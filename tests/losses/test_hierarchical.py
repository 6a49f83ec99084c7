"""Hierarchical bounds on a linear-Gaussian two-layer model whose marginal p(x) is known.

p(z2) = N(0, I), p(z1 | z2) = N(A z2 + a, D1), p(x | z1) = N(B z1 + b, D2). A and B have
one non-zero per row and column, so every exact posterior below is a diagonal Gaussian,
and a bound evaluated at the exact posterior must equal log p(x) for every sample.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from genjax import losses
from genjax.distributions import normal_log_prob, standard_normal_log_prob

A = np.zeros((3, 2))
A[0, 1], A[2, 0] = 1.5, -0.8
SHIFT_A = np.array([0.3, -0.2, 0.5])
VAR_1 = np.array([0.4, 0.9, 0.25])
B = np.zeros((4, 3))
B[1, 0], B[3, 2], B[0, 1] = 2.0, -1.2, 0.7
SHIFT_B = np.array([0.1, -0.4, 0.0, 0.6])
VAR_2 = np.array([0.3, 0.5, 1.1, 0.2])
X = np.array([[0.5, -1.0, 0.8, 1.3], [-0.7, 2.1, -0.5, -0.9], [1.5, 0.2, 0.0, -2.2]])


def exact_log_marginal(x):
    """log p(x) in float64: x ~ N(B a + b, B (A Aᵀ + D1) Bᵀ + D2)."""
    cov_1 = A @ A.T + np.diag(VAR_1)
    cov_x = B @ cov_1 @ B.T + np.diag(VAR_2)
    return stats.multivariate_normal(B @ SHIFT_A + SHIFT_B, cov_x).logpdf(x)


def f32(value):
    return jnp.asarray(value, jnp.float32)


def generative(order):
    """generative_log_probs for zs given in ``order`` ("up": (z1, z2); "down": (z2, z1))."""

    def log_probs(zs, x):
        z1, z2 = zs if order == "up" else zs[::-1]
        log_likelihood = normal_log_prob(x, z1 @ f32(B.T) + f32(SHIFT_B), f32(np.log(VAR_2)), event_ndims=1)
        log_p1 = normal_log_prob(z1, z2 @ f32(A.T) + f32(SHIFT_A), f32(np.log(VAR_1)), event_ndims=1)
        log_p2 = standard_normal_log_prob(z2, event_ndims=1)
        return log_likelihood, (log_p1, log_p2) if order == "up" else (log_p2, log_p1)

    return log_probs


def bottom_up_posterior(x, mean_shift=0.0, log_var_shift=0.0):
    """q(z1 | x) q(z2 | z1); with no shifts it is exactly p(z1 | x) p(z2 | z1) = p(z1, z2 | x)."""
    cov_1 = np.diag(A @ A.T) + VAR_1
    precision_1 = 1 / cov_1 + np.diag(B.T @ np.diag(1 / VAR_2) @ B)
    precision_2 = 1 + np.diag(A.T @ np.diag(1 / VAR_1) @ A)

    def q1(_):
        mean = (((x - f32(SHIFT_B)) / f32(VAR_2)) @ f32(B) + f32(SHIFT_A / cov_1)) / f32(precision_1)
        return mean + mean_shift, jnp.broadcast_to(f32(-np.log(precision_1)) + log_var_shift, mean.shape)

    def q2(z1):
        mean = (((z1 - f32(SHIFT_A)) / f32(VAR_1)) @ f32(A)) / f32(precision_2)
        return mean + mean_shift, jnp.broadcast_to(f32(-np.log(precision_2)) + log_var_shift, mean.shape)

    return [q1, q2]


def top_down_posterior(x):
    """The ladder order: p(z2 | x), then p(z1 | z2, x) as the precision-weighted merge of
    p(z1 | z2) with the Gaussian that x alone says about z1."""
    ba = B @ A
    var_x_given_z2 = np.diag(B @ np.diag(VAR_1) @ B.T) + VAR_2
    precision_2 = 1 + np.diag(ba.T @ np.diag(1 / var_x_given_z2) @ ba)
    observed_precision = np.diag(B.T @ np.diag(1 / VAR_2) @ B)

    def q2(_):
        residual = x - f32(B @ SHIFT_A + SHIFT_B)
        mean = ((residual / f32(var_x_given_z2)) @ f32(ba)) / f32(precision_2)
        return mean, jnp.broadcast_to(f32(-np.log(precision_2)), mean.shape)

    def q1(z2):
        from_x = ((x - f32(SHIFT_B)) / f32(VAR_2)) @ f32(B) / f32(observed_precision)
        log_var_x = jnp.broadcast_to(f32(-np.log(observed_precision)), from_x.shape)
        prior_mean = z2 @ f32(A.T) + f32(SHIFT_A)
        return losses.precision_weighted_merge(
            from_x, log_var_x, prior_mean, jnp.broadcast_to(f32(np.log(VAR_1)), prior_mean.shape)
        )

    return [q2, q1]


@pytest.mark.parametrize("order", ["up", "down"])
def test_exact_posterior_makes_every_log_weight_equal_log_marginal(order):
    x = f32(X)
    layers = bottom_up_posterior(x) if order == "up" else top_down_posterior(x)
    expected = exact_log_marginal(X)
    terms = losses.hierarchical_terms(jax.random.key(0), layers, generative(order), x, num_samples=7)
    assert terms.log_weights.shape == (7, 3) and terms.layer_kl.shape == (7, 3, 2)
    np.testing.assert_allclose(terms.log_weights, np.broadcast_to(expected, (7, 3)), atol=2e-4)
    elbo = losses.hierarchical_elbo(jax.random.key(1), layers, generative(order), x, num_samples=3)
    iwae = losses.hierarchical_iwae_bound(
        jax.random.key(2), layers, generative(order), x, num_samples=12, chunk_size=4
    )
    np.testing.assert_allclose(elbo, expected, atol=2e-4)
    np.testing.assert_allclose(iwae, expected, atol=2e-4)


def test_wrong_posterior_orders_elbo_below_iwae_rising_in_k_below_log_marginal():
    x = f32(X)
    layers = bottom_up_posterior(x, mean_shift=0.4, log_var_shift=0.8)
    log_marginal = exact_log_marginal(X).mean()
    num_groups, k_max = 2000, 64
    draw = jax.jit(
        lambda key: losses.hierarchical_terms(
            key, layers, generative("up"), x, num_samples=num_groups * k_max
        )
    )
    log_weights = draw(jax.random.key(3)).log_weights.reshape(num_groups, k_max, 3)
    elbo = float(jnp.mean(log_weights))

    def iwae(k):
        """Mean over x and over groups of the first k draws of IWAE_k, with its standard error."""
        values = np.asarray(jax.vmap(losses.iwae_from_log_weights)(log_weights[:, :k])).mean(axis=1)
        return values.mean(), values.std() / np.sqrt(num_groups)

    estimates = [iwae(k) for k in (1, 4, 16, 64)]
    means = [mean for mean, _ in estimates]
    # The ELBO is the expectation of IWAE_1; the IWAE bound then rises strictly with k
    # (the groups share draws, so hypot overstates the difference's error: conservative).
    assert elbo <= means[1] and abs(elbo - means[0]) < 4 * estimates[0][1]
    for (low, low_se), (high, high_se) in zip(estimates, estimates[1:], strict=False):
        assert high - low > 4 * np.hypot(low_se, high_se), (low, high)
    # Still a bound, and the gap is real (the shifted q is wrong by well over a nat).
    assert means[-1] < log_marginal and log_marginal - means[0] > 1.0


def test_precision_weighted_merge_is_the_normalised_product_of_densities():
    rng = np.random.default_rng(0)
    mean_a, mean_b, log_var_a, log_var_b = (f32(rng.normal(size=(2, 3))) for _ in range(4))
    mean, log_var = losses.precision_weighted_merge(mean_a, log_var_a, mean_b, log_var_b)
    grid = f32(rng.normal(size=(5, 2, 3)) * 2)
    # log N(z; a) + log N(z; b) − log N(z; merged) must not depend on z.
    difference = (
        normal_log_prob(grid, mean_a, log_var_a, event_ndims=0)
        + normal_log_prob(grid, mean_b, log_var_b, event_ndims=0)
        - normal_log_prob(grid, mean, log_var, event_ndims=0)
    )
    np.testing.assert_allclose(difference, jnp.broadcast_to(difference[:1], difference.shape), atol=1e-4)


def test_bounds_from_log_weights_are_the_mean_and_the_log_mean_exp():
    log_weights = f32([[0.0, -1.0], [np.log(3.0), -3.0]])
    np.testing.assert_allclose(losses.elbo_from_log_weights(log_weights), [np.log(3.0) / 2, -2.0], rtol=1e-6)
    np.testing.assert_allclose(
        losses.iwae_from_log_weights(log_weights), np.log([2.0, (np.exp(-1) + np.exp(-3)) / 2]), rtol=1e-6
    )
