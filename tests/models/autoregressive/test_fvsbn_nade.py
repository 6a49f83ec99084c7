"""FVSBN and NADE: exact normalisation, the autoregressive property, sampling statistics."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from genjax.data import toy_binary
from genjax.models.autoregressive import FVSBN, NADE, log_prob
from genjax.samplers import sample_binary_autoregressive
from tests.models.flow.bijector_checks import numpy_jitter as jitter

MODELS = {"fvsbn": lambda d: FVSBN(), "nade": lambda d: NADE(num_dims=d, hidden_size=7)}


def _random_model(name: str, num_dims: int, scale: float = 1.0):
    module = MODELS[name](num_dims)
    params = jitter(module.init(jax.random.key(0), jnp.zeros((1, num_dims))), scale=scale, seed=1)
    return module, params


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_probabilities_of_all_binary_vectors_sum_to_one(name):
    num_dims = 10
    module, params = _random_model(name, num_dims)
    outcomes = jnp.asarray(toy_binary.get(str(num_dims)).all_outcomes())  # all 1024 vectors
    log_p = log_prob(module.apply(params, outcomes), outcomes)
    np.testing.assert_allclose(jnp.sum(jnp.exp(log_p)), 1.0, rtol=1e-5)
    assert float(jnp.std(log_p)) > 0.5  # far from uniform: the check is not trivial


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_logit_d_depends_only_on_earlier_dimensions(name):
    num_dims = 6
    module, params = _random_model(name, num_dims)
    x = jax.random.bernoulli(jax.random.key(2), 0.5, (num_dims,)).astype(jnp.float32)
    jacobian = jax.jacfwd(lambda v: module.apply(params, v[None])[0])(x)  # [D outputs, D inputs]
    np.testing.assert_array_equal(jnp.triu(jacobian), 0.0)  # zero at and after d
    assert bool(jnp.all(jnp.abs(jnp.tril(jacobian, k=-1))[jnp.tril_indices(num_dims, k=-1)] > 0))


@pytest.mark.slow
def test_nade_running_sum_matches_separate_conditionals():
    num_dims = 5
    module, params = _random_model("nade", num_dims)
    x = jax.random.bernoulli(jax.random.key(3), 0.5, (4, num_dims)).astype(jnp.float32)
    p = params["params"]
    expected = []
    for d in range(num_dims):  # the textbook formula, one conditional at a time
        hidden = jax.nn.sigmoid(p["hidden_bias"] + x[:, :d] @ p["kernel"][:, :d].T)
        expected.append(p["output_bias"][d] + hidden @ p["output_kernel"][d])
    np.testing.assert_allclose(module.apply(params, x), jnp.stack(expected, 1), rtol=1e-5, atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_sampling_frequencies_match_the_model(name):
    num_dims = 4
    module, params = _random_model(name, num_dims)
    logits_fn = jax.jit(lambda x: module.apply(params, x))
    if name == "nade":
        samples = module.apply(params, jax.random.key(4), 40_000, method=NADE.sample)
    else:
        samples = sample_binary_autoregressive(jax.random.key(4), logits_fn, 40_000, num_dims)
    outcomes = jnp.asarray(toy_binary.get(str(num_dims)).all_outcomes())
    expected = np.exp(np.asarray(log_prob(logits_fn(outcomes), outcomes), np.float64)) * 40_000
    codes = np.asarray(samples).astype(int) @ (1 << np.arange(num_dims)[::-1])
    observed = np.bincount(codes, minlength=2**num_dims)
    assert stats.chisquare(observed, expected * observed.sum() / expected.sum()).pvalue > 1e-3


@pytest.mark.slow
def test_generic_sampler_agrees_with_nades_incremental_sampler_in_distribution():
    module, params = _random_model("nade", 3)
    logits_fn = jax.jit(lambda x: module.apply(params, x))
    generic = sample_binary_autoregressive(jax.random.key(5), logits_fn, 30_000, 3)
    incremental = module.apply(params, jax.random.key(6), 30_000, method=NADE.sample)
    np.testing.assert_allclose(generic.mean(0), incremental.mean(0), atol=0.02)
