"""Langevin samplers against closed forms: Gaussian stationary laws, the MH ratio, mixture weights.

Statistical tolerances are 5 Monte Carlo standard errors of independent chains' final states
(each chain contributes one draw, so the draws are i.i.d. whatever the autocorrelation).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.samplers.langevin import annealed_langevin, geometric_sigmas, langevin, mala

jax.config.update("jax_enable_x64", False)

Z = 5.0  # tolerance in standard errors

# A correlated 2-D Gaussian with different scales: precision eigenvalues ~0.85 and ~13.
MU = np.array([1.0, -2.0])
SD = np.array([1.0, 0.5])
RHO = 0.8
SIGMA = np.array([[SD[0] ** 2, RHO * SD[0] * SD[1]], [RHO * SD[0] * SD[1], SD[1] ** 2]])
PRECISION = np.linalg.inv(SIGMA)
LARGE_STEP = 0.1  # eps * lam_max = 1.3: MALA accepts ~70%, ULA is far from p


def gaussian_log_prob(x):
    d = x - jnp.asarray(MU, jnp.float32)
    return -0.5 * jnp.einsum("ni,ij,nj->n", d, jnp.asarray(PRECISION, jnp.float32), d)


def gaussian_grad(x):
    return -(x - jnp.asarray(MU, jnp.float32)) @ jnp.asarray(PRECISION, jnp.float32)


def ula_stationary_cov(precision, eps):
    """Stationary covariance of x <- x - eps P (x - mu) + sqrt(2 eps) z.

    C = A C A + 2 eps I with A = I - eps P (symmetric, commutes with P) gives
    C = 2 eps (I - A^2)^-1 = (P (I - eps P / 2))^-1: per eigenvalue lam, 1 / (lam (1 - eps lam / 2)).
    """
    return np.linalg.inv(precision @ (np.eye(len(precision)) - eps * precision / 2))


def cov_standard_errors(cov, n):
    """Standard errors of the sample covariance entries of n Gaussian draws."""
    var = np.diag(cov)
    return np.sqrt((np.outer(var, var) + cov**2) / n)


def exact_gaussian_samples(n, seed=0):
    return jnp.asarray(np.random.default_rng(seed).multivariate_normal(MU, SIGMA, n), jnp.float32)


# ---------------------------------------------------------------------------------------------
# MALA vs ULA on a correlated Gaussian.


@pytest.mark.slow
def test_mala_keeps_correlated_gaussian_invariant_at_large_step():
    n = 4000
    x, acceptance = mala(
        jax.random.key(1),
        gaussian_log_prob,
        exact_gaussian_samples(n),
        step_size=LARGE_STEP,
        num_steps=50,
        return_acceptance=True,
    )
    x = np.asarray(x, np.float64)
    assert acceptance.shape == (n,)
    assert 0.5 < float(acceptance.mean()) < 0.85  # a step large enough for the MH test to matter
    np.testing.assert_array_less(np.abs(x.mean(0) - MU), Z * np.sqrt(np.diag(SIGMA) / n))
    np.testing.assert_array_less(np.abs(np.cov(x.T) - SIGMA), Z * cov_standard_errors(SIGMA, n))


def test_ula_at_the_same_step_is_biased_as_the_closed_form_predicts():
    n = 4000
    x = langevin(
        jax.random.key(2), gaussian_grad, exact_gaussian_samples(n), step_size=LARGE_STEP, num_steps=50
    )
    x = np.asarray(x, np.float64)
    expected = ula_stationary_cov(PRECISION, LARGE_STEP)
    np.testing.assert_array_less(np.abs(x.mean(0) - MU), Z * np.sqrt(np.diag(expected) / n))  # mean unbiased
    np.testing.assert_array_less(np.abs(np.cov(x.T) - expected), Z * cov_standard_errors(expected, n))
    # Along each eigenvector of the precision: variance 1 / (lam (1 - eps lam / 2)).
    lams, vecs = np.linalg.eigh(PRECISION)
    projected_var = np.var(x @ vecs, axis=0, ddof=1)
    closed_form = 1 / (lams * (1 - LARGE_STEP * lams / 2))
    np.testing.assert_array_less(np.abs(projected_var - closed_form), Z * closed_form * np.sqrt(2 / n))
    # ...which is far from p: the stiff direction's variance is inflated ~2.9x, so the MALA test
    # above (same step, same chains) passes only thanks to the MH correction.
    assert abs(projected_var[1] - 1 / lams[1]) > 10 * Z * np.sqrt(2 / n) / lams[1]


@pytest.mark.slow
def test_mala_acceptance_probability_matches_numpy_mh_ratio():
    """One step on a non-Gaussian target; chains that moved reveal their proposal y."""
    c, eps, n = 0.5, 0.3, 2000

    def log_prob(x):
        return jnp.sum(-(x**4) / 4 - x**2 / 2, axis=-1) + c * x[:, 0] * x[:, 1]

    def np_log_prob(x):
        return np.sum(-(x**4) / 4 - x**2 / 2, axis=-1) + c * x[:, 0] * x[:, 1]

    def np_grad(x):  # by hand, independent of jax.grad
        return -(x**3) - x + c * x[:, ::-1]

    x0 = jax.random.normal(jax.random.key(3), (n, 2)) * 1.2
    y, acceptance = mala(jax.random.key(4), log_prob, x0, step_size=eps, num_steps=1, return_acceptance=True)
    x0, y, acceptance = (np.asarray(a, np.float64) for a in (x0, y, acceptance))
    moved = np.any(y != x0, axis=1)
    # The returned probabilities are the ones the accept decisions were drawn with.
    p = acceptance.mean()
    assert abs(moved.mean() - p) < Z * np.sqrt(p * (1 - p) / n)

    def log_q(to, frm):  # log N(to; frm + eps g(frm), 2 eps I) up to a constant
        return -np.sum((to - frm - eps * np_grad(frm)) ** 2, axis=1) / (4 * eps)

    x, y = x0[moved], y[moved]
    log_ratio = np_log_prob(y) - np_log_prob(x) + log_q(x, y) - log_q(y, x)
    expected = np.exp(np.minimum(log_ratio, 0.0))
    np.testing.assert_allclose(acceptance[moved], expected, rtol=1e-4, atol=1e-5)
    assert np.sum(expected < 0.9) > 100  # the check covers many non-trivial ratios
    # Dropping the proposal terms would give visibly different probabilities.
    without_q = np.exp(np.minimum(np_log_prob(y) - np_log_prob(x), 0.0))
    assert np.max(np.abs(without_q - expected)) > 0.1


# ---------------------------------------------------------------------------------------------
# ULA.


def test_ula_variance_bias_shrinks_with_step_size_as_closed_form():
    n, lams = 20_000, np.array([1.0, 4.0])
    x0 = jax.random.normal(jax.random.key(5), (n, 2)) / jnp.sqrt(jnp.asarray(lams, jnp.float32))

    @jax.jit
    def run(step_size):  # traced step size: one compilation for all three
        grad = lambda x: -x * jnp.asarray(lams, jnp.float32)  # noqa: E731
        return langevin(jax.random.key(6), grad, x0, step_size=step_size, num_steps=200)

    errors, standard_errors = [], []
    for eps in (0.2, 0.1, 0.05):
        var = np.var(np.asarray(run(eps), np.float64), axis=0, ddof=1)
        closed_form = 1 / (lams * (1 - eps * lams / 2))
        standard_error = closed_form * np.sqrt(2 / n)
        np.testing.assert_array_less(np.abs(var - closed_form), Z * standard_error)
        # The stiff direction (lam = 4), where the bias is largest relative to the noise.
        errors.append(var[1] - 1 / lams[1])
        standard_errors.append(standard_error[1])
    # Errors ~0.167, 0.062, 0.028 (standard errors ~0.004-0.003): strictly shrinking with eps.
    for k in range(2):
        assert errors[k] - errors[k + 1] > Z * np.hypot(standard_errors[k], standard_errors[k + 1])
    assert errors[2] > Z * standard_errors[2]  # still biased at the smallest step: O(eps), not zero


def test_langevin_noise_free_drift_and_traced_step():
    x0 = jnp.array([[1.0, -2.0], [0.5, 3.0]])
    key = jax.random.key(0)
    run = jax.jit(lambda e: langevin(key, lambda x: -x, x0, step_size=e, num_steps=7, noise_scale=0.0))
    np.testing.assert_allclose(run(0.1), np.asarray(x0) * 0.9**7, rtol=1e-6)
    np.testing.assert_array_equal(langevin(key, lambda x: -x, x0, step_size=0.1, num_steps=0), x0)


def test_langevin_noise_scale_replaces_sqrt_two_eps():
    """With a zero gradient, steps * noise_scale^2 is the variance (the default noise is
    checked by the closed-form stationary variances above)."""
    n, steps, noise_scale = 20_000, 10, 0.01
    x = langevin(
        jax.random.key(7),
        jnp.zeros_like,
        jnp.zeros((n, 3)),
        step_size=0.05,
        num_steps=steps,
        noise_scale=noise_scale,
    )
    var = np.var(np.asarray(x, np.float64))  # 3n i.i.d. N(0, steps * noise_scale^2) draws
    expected = steps * noise_scale**2
    assert abs(var - expected) < Z * expected * np.sqrt(2 / (3 * n))


def test_langevin_grad_clip_is_per_example_l2():
    x0 = jnp.zeros((3, 2, 2))
    grads = jnp.array([[[3.0, 0.0], [0.0, 4.0]], [[0.1, 0.2], [0.0, 0.0]], [[0.0, 0.0], [0.0, 0.0]]])
    out = langevin(
        jax.random.key(0), lambda x: grads, x0, step_size=0.5, num_steps=1, noise_scale=0.0, grad_clip=1.0
    )
    expected = 0.5 * np.array(grads)
    expected[0] /= 5.0  # norm 5 -> 1; the others are under the limit (zero stays zero)
    np.testing.assert_allclose(out, expected, rtol=1e-6)


# ---------------------------------------------------------------------------------------------
# Annealed Langevin.

WEIGHTS, MEANS = np.array([0.8, 0.2]), np.array([-5.0, 5.0])


def mixture_score(x, sigma):
    """Analytic score of 0.8 N(-5, 1) + 0.2 N(5, 1) convolved with N(0, sigma^2): responsibilities."""
    var = 1.0 + sigma.reshape(sigma.shape + (1,) * (x.ndim - 1)) ** 2
    logits = jnp.stack([np.log(w) - (x - m) ** 2 / (2 * var) for w, m in zip(WEIGHTS, MEANS, strict=True)])
    resp = jax.nn.softmax(logits, axis=0)
    return sum(r * (m - x) for r, m in zip(resp, MEANS, strict=True)) / var


@pytest.mark.slow
def test_annealed_langevin_recovers_mixture_weights_where_ula_does_not():
    n = 4000
    x0 = jax.random.uniform(jax.random.key(8), (n, 1), minval=-8.0, maxval=8.0)
    sigmas = geometric_sigmas(10.0, 0.1, 10)
    x = annealed_langevin(jax.random.key(9), mixture_score, x0, sigmas, step_size=2e-3, steps_per_sigma=100)
    frac_left = float(jnp.mean(x < 0))
    assert abs(frac_left - WEIGHTS[0]) < 0.05
    assert np.all(np.abs(np.asarray(x)) < 10)  # every sample in a mode, none diverged
    # ULA on the clean score (sigma = 0), same start and number of steps, a step that mixes well
    # within a mode: chains stay in the mode they start nearest, about half on each side.
    x_ula = langevin(
        jax.random.key(10), lambda v: mixture_score(v, jnp.zeros(n)), x0, step_size=0.1, num_steps=1000
    )
    assert abs(float(jnp.mean(x_ula < 0)) - WEIGHTS[0]) > 0.15


def test_annealed_langevin_step_schedule_level_order_and_final_denoise():
    """Noise off, score = -x + sigma: a numpy loop over levels must give the same states."""
    sigmas, step_size, per_level = np.array([2.0, 1.0, 0.5]), 0.01, 4
    x0 = jnp.array([[1.0], [-3.0]])

    def score(x, sigma):
        assert sigma.shape == (x.shape[0],)  # per-example sigma (checked while tracing)
        return -x + sigma[:, None]

    out = annealed_langevin(
        jax.random.key(0),
        score,
        x0,
        jnp.asarray(sigmas),
        step_size=step_size,
        steps_per_sigma=per_level,
        noise_scale=0.0,
        final_denoise=True,
    )
    x = np.asarray(x0, np.float64)
    for sigma in sigmas:
        eps = step_size * sigma**2 / sigmas[-1] ** 2
        for _ in range(per_level):
            x = x + eps * (-x + sigma)
    x = x + sigmas[-1] ** 2 * (-x + sigmas[-1])  # Tweedie step, no noise
    np.testing.assert_allclose(out, x, rtol=1e-5)


@pytest.mark.slow
def test_annealed_langevin_image_shape_and_exact_variance():
    """Per-element N(0, 1) data: linear dynamics, so the variance after each step is exact."""
    n, sigmas, step_size, per_level = 2000, geometric_sigmas(3.0, 0.3, 4), 0.02, 25

    def score(x, sigma):  # noised data N(0, 1 + sigma^2)
        return -x / (1 + sigma[:, None, None] ** 2)

    x0 = jax.random.normal(jax.random.key(11), (n, 2, 2)) * 2.0

    x = annealed_langevin(
        jax.random.key(12), score, x0, sigmas, step_size=step_size, steps_per_sigma=per_level
    )
    assert x.shape == (n, 2, 2)
    s = np.asarray(sigmas, np.float64)
    var = 4.0
    for sigma in s:
        eps, lam = step_size * sigma**2 / s[-1] ** 2, 1 / (1 + sigma**2)
        for _ in range(per_level):
            var = (1 - eps * lam) ** 2 * var + 2 * eps
    sample_var = np.var(np.asarray(x, np.float64))
    assert abs(sample_var - var) < Z * var * np.sqrt(2 / (4 * n))


# ---------------------------------------------------------------------------------------------
# Structure and helpers.


def _count_eqns(jaxpr, primitive=None):
    """Equations in a jaxpr and all its sub-jaxprs (optionally only one primitive's)."""
    total = 0
    for eqn in jaxpr.eqns:
        total += primitive is None or eqn.primitive.name == primitive
        for value in eqn.params.values():
            for sub in value if isinstance(value, (tuple, list)) else (value,):
                inner = getattr(sub, "jaxpr", sub)
                if hasattr(inner, "eqns"):
                    total += _count_eqns(inner, primitive)
    return total


@pytest.mark.parametrize("sampler", ["langevin", "mala", "annealed_langevin"])
def test_each_sampler_is_one_scan_whose_size_does_not_grow_with_steps(sampler):
    x0 = jnp.zeros((3, 2))

    def build(steps):
        key = jax.random.key(0)
        if sampler == "langevin":
            return lambda: langevin(key, lambda x: -x, x0, step_size=0.1, num_steps=steps, grad_clip=1.0)
        if sampler == "mala":
            log_prob = lambda x: -jnp.sum(x**2, axis=-1)  # noqa: E731
            return lambda: mala(key, log_prob, x0, step_size=0.1, num_steps=steps, return_acceptance=True)
        return lambda: annealed_langevin(
            key,
            lambda x, s: -x,
            x0,
            geometric_sigmas(1.0, 0.1, 5),
            step_size=0.1,
            steps_per_sigma=steps,
            final_denoise=True,
        )

    small, large = (jax.make_jaxpr(build(steps))().jaxpr for steps in (10, 100))
    assert _count_eqns(small, "scan") == _count_eqns(large, "scan") == 1
    assert _count_eqns(small) == _count_eqns(large)


def test_geometric_sigmas_endpoints_and_ratio():
    sigmas = geometric_sigmas(10.0, 0.1, 5)
    assert sigmas.dtype == jnp.float32 and sigmas.shape == (5,)
    np.testing.assert_allclose(sigmas, [10.0, 10**0.5, 1.0, 10**-0.5, 0.1], rtol=1e-6)
    np.testing.assert_allclose(sigmas[1:] / sigmas[:-1], np.full(4, 0.01**0.25), rtol=1e-6)
    assert float(sigmas[0]) == np.float32(10.0) and float(sigmas[-1]) == np.float32(0.1)
    np.testing.assert_array_equal(geometric_sigmas(2.0, 0.5, 1), [2.0])
    for bad in ((0.1, 10.0, 5), (1.0, 0.0, 5), (1.0, 0.1, 0)):
        with pytest.raises(ValueError):
            geometric_sigmas(*bad)
