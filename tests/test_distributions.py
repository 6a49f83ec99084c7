"""Log-densities against scipy and exact normalisation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, stats

from genjax import distributions as d


def test_normal_log_prob_matches_scipy():
    x = np.array([[0.3, -1.0, 2.0]])
    mean = np.array([[0.0, 0.5, 1.0]])
    log_var = np.array([[0.2, -0.4, 1.0]])
    expected = stats.norm(mean, np.exp(0.5 * log_var)).logpdf(x).sum(-1)
    np.testing.assert_allclose(d.normal_log_prob(x, mean, log_var), expected, rtol=1e-5)
    np.testing.assert_allclose(d.standard_normal_log_prob(x), stats.norm().logpdf(x).sum(-1), rtol=1e-5)


def test_bernoulli_log_prob_is_stable_and_exact():
    logits = jnp.array([[-3.0, 0.0, 2.0, 80.0, -80.0]])
    x = jnp.array([[1.0, 0.0, 1.0, 1.0, 0.0]])
    # log σ(-3) + log(1 - σ(0)) + log σ(2) + log σ(80) + log(1 - σ(-80)), in float64.
    p = 1.0 / (1.0 + np.exp(-np.array([-3.0, 0.0, 2.0])))
    expected = np.log(p[0]) + np.log1p(-p[1]) + np.log(p[2]) - np.log1p(np.exp(-80.0)) * 2
    got = d.bernoulli_log_prob(x, logits)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(float(got[0]), expected, rtol=1e-5, atol=1e-6)


def test_categorical_log_prob_sums_to_one():
    logits = jax.random.normal(jax.random.key(0), (1, 6))
    masses = [
        float(jnp.exp(d.categorical_log_prob(jnp.array([k]), logits, event_ndims=0))[0]) for k in range(6)
    ]
    np.testing.assert_allclose(sum(masses), 1.0, rtol=1e-5)


@pytest.mark.slow
def test_discretized_logistic_is_normalised_over_all_levels():
    for num_levels in (2, 17, 256):
        values = jnp.arange(num_levels) / (num_levels - 1)
        for mean, log_scale in ((0.3, -2.0), (1.2, 0.5), (-0.4, -5.0), (0.5, -8.0)):
            log_mass = d.discretized_logistic_log_prob(
                values,
                jnp.full_like(values, mean),
                jnp.full_like(values, log_scale),
                num_levels=num_levels,
                event_ndims=0,
            )
            assert np.all(np.isfinite(log_mass))
            np.testing.assert_allclose(float(jnp.sum(jnp.exp(log_mass))), 1.0, rtol=1e-4)


def test_discretized_logistic_matches_cdf_differences():
    num_levels, mean, scale = 17, 0.41, 0.07
    values = np.arange(num_levels) / (num_levels - 1)
    edges = np.concatenate([[-np.inf], (values[:-1] + values[1:]) / 2, [np.inf]])
    expected = np.log(np.diff(stats.logistic(mean, scale).cdf(edges)))
    got = d.discretized_logistic_log_prob(
        jnp.asarray(values), mean, jnp.log(scale), num_levels=num_levels, event_ndims=0
    )
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_gaussian_kl_is_zero_only_at_the_prior():
    assert float(d.gaussian_kl(jnp.zeros(4), jnp.zeros(4))) == 0.0
    assert float(d.gaussian_kl(jnp.full(4, 0.1), jnp.zeros(4))) > 0.0


def levels(num_levels):
    return np.linspace(-1.0, 1.0, num_levels)


def test_normal_kl_matches_numerical_integration():
    mean_q, var_q, mean_p, var_p = 0.3, 0.5, -0.4, 1.7
    q, p = stats.norm(mean_q, np.sqrt(var_q)), stats.norm(mean_p, np.sqrt(var_p))
    numeric = integrate.quad(lambda x: q.pdf(x) * (q.logpdf(x) - p.logpdf(x)), -15, 15)[0]
    got = d.normal_kl(mean_q, np.log(var_q), mean_p, np.log(var_p))
    np.testing.assert_allclose(float(got), numeric, rtol=1e-5)


@pytest.mark.slow
def test_discretized_gaussian_sums_to_one_over_levels():
    mean, log_scale = np.meshgrid([-3.0, -0.97, 0.0, 0.41, 4.0], [-9.0, -4.0, -1.0, 0.0, 3.0])
    mean, log_scale = mean.reshape(1, -1).astype(np.float32), log_scale.reshape(1, -1).astype(np.float32)

    def log_masses(mean, log_scale, num_levels):  # [L, 25] for 25 (mean, scale) pairs
        grid = jnp.asarray(levels(num_levels), jnp.float32)[:, None]
        log_var = 2.0 * log_scale
        return d.discretized_gaussian_log_prob(grid, mean, log_var, num_levels=num_levels, event_ndims=0)

    @jax.jit
    def totals_and_grads(mean, log_scale):
        totals = [jax.nn.logsumexp(log_masses(mean, log_scale, n), axis=0) for n in (2, 5, 256)]
        grads = jax.grad(lambda m, s: log_masses(m, s, 5).sum(), argnums=(0, 1))(mean, log_scale)
        return totals, grads

    totals, grads = totals_and_grads(mean, log_scale)
    np.testing.assert_allclose(np.stack(totals), 0.0, atol=2e-5)
    # Finite gradients even for bins far out in a tail (where-branches and floors stay NaN-free).
    assert all(np.isfinite(g).all() for g in grads)


def test_discretized_gaussian_matches_scipy_including_tails():
    num_levels, mean, scale = 11, 0.0, 0.1  # half-bin 0.1
    x = levels(num_levels)
    edges = np.concatenate([[-np.inf], x[:-1] + 0.1, [np.inf]])
    # sf differences on the right keep float64 accuracy where the cdf rounds to 1.
    mass = np.where(
        edges[:-1] >= 0,
        -np.diff(stats.norm.sf(edges, mean, scale)),
        np.diff(stats.norm.cdf(edges, mean, scale)),
    )
    got = d.discretized_gaussian_log_prob(
        jnp.asarray(x, jnp.float32), mean, 2 * np.log(scale), num_levels=num_levels, event_ndims=0
    )
    # Levels 0.6 and -0.6 hold ~2.9e-7, beyond float32 if computed as 1 - cdf.
    keep = mass > 1e-30
    np.testing.assert_allclose(np.asarray(got)[keep], np.log(mass[keep]), rtol=2e-4)
