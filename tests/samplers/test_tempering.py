"""Tempered SMC against closed forms: importance sampling, resampling counts, mixture weights, log Z.

The bimodal target is 0.2 N(-3, 0.4^2) + 0.8 N(3, 0.4^2) times 3 (so log Z = log 3), with the
prior N(0, 3^2): MALA from the prior cannot cross the barrier between the modes (about 56
nats high), so local chains split roughly by catchment area, while tempered SMC must put 20%
of the weight on the left mode.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.samplers import (
    effective_sample_size,
    geometric_betas,
    mala,
    systematic_resample,
    tempered_smc,
)

WEIGHTS, MEANS, SD, SCALE, PRIOR_SD = np.array([0.2, 0.8]), np.array([-3.0, 3.0]), 0.4, 3.0, 3.0
NUM = 4000


def mixture_log_prob(x):
    """`[N, 1] -> [N]`: log of SCALE times the mixture density."""
    comp = -0.5 * ((x[:, :1] - jnp.asarray(MEANS, x.dtype)) / SD) ** 2 - np.log(SD * np.sqrt(2 * np.pi))
    return jax.nn.logsumexp(comp + jnp.log(jnp.asarray(WEIGHTS, x.dtype)), axis=1) + np.log(SCALE)


def prior_log_prob(x):
    """`[N, D] -> [N]`: the normalised N(0, PRIOR_SD^2 I)."""
    d = x.shape[1]
    return -0.5 * jnp.sum((x / PRIOR_SD) ** 2, axis=1) - d * np.log(PRIOR_SD * np.sqrt(2 * np.pi))


def prior_draws(seed, num=NUM, dims=1):
    return PRIOR_SD * jax.random.normal(jax.random.key(seed), (num, dims))


def weighted(result):
    return np.exp(np.asarray(result.log_weights, np.float64)), np.asarray(result.samples[:, 0], np.float64)


@pytest.fixture(scope="module")
def smc_on_the_mixture():
    def run(key, x0, threshold):
        return tempered_smc(
            key,
            lambda x: mixture_log_prob(x) - prior_log_prob(x),
            prior_log_prob,
            x0,
            jnp.linspace(0.05, 1.0, 20),
            step_size=0.05,
            steps_per_beta=5,
            resample_threshold=threshold,
        )

    return {
        "smc": run(jax.random.key(0), prior_draws(1), 0.5),
        "ais": run(jax.random.key(2), prior_draws(3), 0.0),
    }


def test_systematic_resampling_draws_each_index_floor_or_ceil_of_n_w():
    w = np.random.default_rng(0).dirichlet(np.full(50, 0.3))
    resample = jax.jit(systematic_resample, static_argnums=2)
    for seed in range(3):
        counts = np.bincount(resample(jax.random.key(seed), jnp.log(jnp.asarray(w)), 1000), minlength=50)
        assert counts.sum() == 1000
        assert np.all((counts >= np.floor(1000 * w - 1e-3)) & (counts <= np.ceil(1000 * w + 1e-3))), seed


def test_effective_sample_size_closed_forms():
    assert float(effective_sample_size(jnp.zeros(8))) == pytest.approx(8.0)
    assert float(effective_sample_size(jnp.array([0.0, -jnp.inf, -jnp.inf]))) == pytest.approx(1.0)
    # Weights (1, 1, 2) / 4: 1 / (1/16 + 1/16 + 1/4) = 8 / 3, whatever the common offset.
    assert float(effective_sample_size(jnp.log(jnp.array([1.0, 1.0, 2.0])) + 7.0)) == pytest.approx(8 / 3)


def test_one_level_without_moves_is_importance_sampling():
    x0 = prior_draws(4, num=500)
    result = tempered_smc(
        jax.random.key(5),
        lambda x: mixture_log_prob(x) - prior_log_prob(x),
        prior_log_prob,
        x0,
        jnp.ones(1),
        step_size=0.1,
        steps_per_beta=0,
        resample_threshold=0.0,
    )
    log_w = np.asarray(mixture_log_prob(x0) - prior_log_prob(x0), np.float64)
    reference = np.logaddexp.reduce(log_w)
    np.testing.assert_array_equal(result.samples, x0)
    np.testing.assert_allclose(result.log_normalizer, reference - np.log(500), rtol=1e-5)
    np.testing.assert_allclose(result.log_weights, log_w - reference, atol=1e-4)
    np.testing.assert_allclose(
        result.ess, [np.exp(2 * reference - np.logaddexp.reduce(2 * log_w))], rtol=1e-4
    )


@pytest.mark.slow
def test_a_flat_likelihood_keeps_the_prior_and_log_z_zero():
    """L = 1: every weight stays 1 / N, log Z_K / Z_0 = 0 exactly, and MALA leaves the prior invariant."""
    result = tempered_smc(
        jax.random.key(6),
        lambda x: jnp.zeros(x.shape[0]),
        prior_log_prob,
        prior_draws(7, dims=2),
        geometric_betas(2, 0.1),
        step_size=2.0,
        steps_per_beta=3,
    )
    assert float(result.log_normalizer) == 0.0
    np.testing.assert_allclose(result.log_weights, np.full(NUM, -np.log(NUM)), rtol=1e-6)
    assert 0.3 < float(result.acceptance.min())  # the moves did move
    x = np.asarray(result.samples, np.float64)
    np.testing.assert_array_less(np.abs(x.mean(0)), 5 * PRIOR_SD / np.sqrt(NUM))
    np.testing.assert_array_less(np.abs(x.var(0) / PRIOR_SD**2 - 1), 5 * np.sqrt(2 / NUM))


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["smc", "ais"])
def test_tempering_recovers_the_mixture_weights_moments_and_log_z(smc_on_the_mixture, kind):
    result = smc_on_the_mixture[kind]
    w, x = weighted(result)
    # Spread over 10 seeds at these settings: left-mode weight sd 0.009 (SMC), log Z sd 0.023;
    # the tolerances are about 5 of those (AIS's weights are noisier, so its bounds are wider).
    slack = 1.0 if kind == "smc" else 2.0
    assert abs(np.sum(w * (x < 0)) - WEIGHTS[0]) < 0.05 * slack
    assert abs(float(result.log_normalizer) - np.log(SCALE)) < 0.12 * slack
    mean = WEIGHTS @ MEANS  # 1.8
    var = WEIGHTS @ (SD**2 + MEANS**2) - mean**2  # 5.92
    assert abs(np.sum(w * x) - mean) < 0.3 * slack
    assert abs(np.sum(w * (x - mean) ** 2) - var) < 0.6 * slack
    if kind == "smc":
        assert float(result.ess.min()) > 0.4 * NUM  # resampling kept the population alive


@pytest.mark.slow
def test_mala_alone_from_the_prior_misses_the_weights():
    """The same moves without tempering: chains stay where they fell, near half on each side."""
    x = mala(jax.random.key(8), mixture_log_prob, prior_draws(1), step_size=0.05, num_steps=100)
    assert abs(float(jnp.mean(x[:, 0] < 0)) - WEIGHTS[0]) > 0.2


def test_bad_options_raise():
    ok = dict(step_size=0.1, steps_per_beta=1)
    flat = lambda x: jnp.zeros(x.shape[0])  # noqa: E731
    x0 = jnp.zeros((4, 1))
    for betas in ([0.5, 0.9], [0.5, 0.5, 1.0], [0.0, 1.0]):
        with pytest.raises(ValueError, match="betas must increase"):
            tempered_smc(jax.random.key(0), flat, flat, x0, jnp.asarray(betas), **ok)
    with pytest.raises(ValueError, match="resample_threshold"):
        tempered_smc(jax.random.key(0), flat, flat, x0, jnp.ones(1), resample_threshold=1.5, **ok)
    with pytest.raises(ValueError, match="steps_per_beta"):
        tempered_smc(jax.random.key(0), flat, flat, x0, jnp.ones(1), step_size=0.1, steps_per_beta=-1)
    with pytest.raises(AssertionError, match="log_likelihood"):
        tempered_smc(jax.random.key(0), lambda x: jnp.zeros((x.shape[0], 1)), flat, x0, jnp.ones(1), **ok)
    with pytest.raises(ValueError, match="beta_min"):
        geometric_betas(3, 0.0)
    np.testing.assert_allclose(geometric_betas(3, 0.01), [0.01, 0.1, 1.0], rtol=1e-6)
