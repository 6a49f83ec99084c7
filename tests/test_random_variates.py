"""Sampling primitives: each passes a KS or chi-square test against its target with a fixed seed."""

import doctest
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from genjax import distributions, random_variates

# Fixed seeds, so each test's p-value is one fixed number; a wrong sampler scores p ~ 0 at these sizes.
P_MIN = 1e-3


@pytest.mark.slow  # ~20 eager doctest lines, each op compiled once: 3-4 s
def test_module_doctests_pass():
    result = doctest.testmod(random_variates)
    assert result.attempted >= 15 and result.failed == 0


def test_primitives_are_public_in_distributions():
    assert distributions.box_muller is random_variates.box_muller
    assert distributions.rejection_sample is random_variates.rejection_sample


def test_box_muller_is_standard_normal_and_independent():
    x = np.asarray(distributions.box_muller(jax.random.key(0), (50, 101)))
    assert x.shape == (50, 101)
    assert stats.kstest(x.ravel(), "norm").pvalue > P_MIN
    # The cos and sin halves of each pair are independent normals, so their correlation is ~0.
    pairs = np.asarray(distributions.box_muller(jax.random.key(1), (20_000,))).reshape(2, -1)
    assert abs(np.corrcoef(pairs)[0, 1]) < 4 / math.sqrt(pairs.shape[1])


def test_inverse_cdf_sample_exponential_ks():
    x = distributions.inverse_cdf_sample(jax.random.key(2), lambda u: -jnp.log(u) / 1.5, (5000,))
    assert stats.kstest(np.asarray(x), "expon", args=(0, 1 / 1.5)).pvalue > P_MIN
    # A wrong rate is rejected by the same test.
    assert stats.kstest(np.asarray(x), "expon", args=(0, 1 / 1.2)).pvalue < P_MIN


def test_gumbel_max_sample_chi_square():
    logits = jnp.array([[0.0, 1.0, -1.0, 2.0], [3.0, 0.0, 0.0, 0.0]]) + 7.0  # unnormalised
    draws = np.asarray(distributions.gumbel_max_sample(jax.random.key(3), logits, num_samples=8000))
    assert draws.shape == (8000, 2) and draws.dtype == np.int32
    probs = np.asarray(jax.nn.softmax(logits, axis=-1))
    for row in range(2):
        observed = np.bincount(draws[:, row], minlength=4)
        expected = 8000 * probs[row].astype(np.float64) / probs[row].sum(dtype=np.float64)
        assert stats.chisquare(observed, expected).pvalue > P_MIN


def _log_half_normal(x):
    return 0.5 * math.log(2 / math.pi) - 0.5 * x**2


def _exponential_sample(key, n):
    return distributions.inverse_cdf_sample(key, lambda u: -jnp.log(u), (n,))


@functools.partial(jax.jit, static_argnames=("max_rounds",))
def _rejection(log_bound, max_rounds=50):
    """Half-normal target on x > 0 (normalised) from an Exponential(1) proposal; M >= sqrt(2e / pi)."""
    return distributions.rejection_sample(
        jax.random.key(4),
        _log_half_normal,
        _exponential_sample,
        lambda x: -x,
        log_bound=log_bound,
        num_samples=NUM,
        max_rounds=max_rounds,
    )


NUM = 3000
LOG_M = 0.5 * math.log(2 * math.e / math.pi)  # the tightest bound: p / q is largest at x = 1


def test_rejection_sample_targets_half_normal_at_rate_one_over_m():
    result = _rejection(LOG_M)
    assert int(result.num_filled) == NUM and bool(result.filled.all())
    assert not bool(result.bound_violated) and float(result.max_log_excess) <= 0
    assert stats.kstest(np.asarray(result.samples), "halfnorm").pvalue > P_MIN
    # Acceptance is Binomial(proposals, 1 / M): within 4 standard deviations of 1 / M.
    # (at least NUM proposals ran; more only shrinks the standard deviation).
    rate = 1 / math.exp(LOG_M)
    assert abs(float(result.acceptance_rate) - rate) < 4 * math.sqrt(rate * (1 - rate) / NUM)


def test_rejection_sample_loose_bound_lowers_rate_to_one_over_m():
    log_m = LOG_M + math.log(3.0)
    result = _rejection(log_m)
    rate = math.exp(-log_m)
    # At least ceil(M) = 4 rounds of NUM proposals ran, so the rate's standard error is below this.
    assert abs(float(result.acceptance_rate) - rate) < 4 * math.sqrt(rate * (1 - rate) / (4 * NUM))
    assert stats.kstest(np.asarray(result.samples), "halfnorm").pvalue > P_MIN
    assert not bool(result.bound_violated)


def test_rejection_sample_flags_a_bound_that_is_too_small():
    result = _rejection(LOG_M - 0.3)
    assert bool(result.bound_violated) and float(result.max_log_excess) > 0


def test_rejection_sample_reports_unfilled_rows_when_rounds_run_out():
    result = _rejection(LOG_M + math.log(50.0), max_rounds=2)
    filled = int(result.num_filled)
    assert 0 < filled < NUM
    np.testing.assert_array_equal(np.asarray(result.filled), np.arange(NUM) < filled)
    assert np.all(np.asarray(result.samples)[filled:] == 0) and np.all(
        np.asarray(result.samples)[:filled] > 0
    )


def test_bad_options_raise():
    with pytest.raises(ValueError, match="num_samples"):
        distributions.gumbel_max_sample(jax.random.key(0), jnp.zeros(3), num_samples=0)
