"""MADE mask sets (autoregressive family): each mask is autoregressive in its ordering; ensembles
average probabilities."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax import distributions
from genjax.models.networks.made import MADE, ensemble_log_prob, mask_degrees
from tests.models.flow.bijector_checks import numpy_jitter as jitter

NUM_DIMS = 6
ALL_BITS = jnp.asarray(list(itertools.product([0.0, 1.0], repeat=NUM_DIMS)))  # [64, 6]


def _made(num_masks=4, hidden_sizes=(16, 16), **flags):
    flags = {"order_agnostic": True, "connectivity_agnostic": True, **flags}
    made = MADE(hidden_sizes=hidden_sizes, num_params=1, num_masks=num_masks, seed=3, **flags)
    params = made.init(jax.random.key(0), ALL_BITS[:2], 0)
    return made, jitter(params, scale=1.0, seed=2)


def _log_probs(made, params, x, mask_index):
    return distributions.bernoulli_log_prob(x, made.apply(params, x, mask_index)[..., 0], event_ndims=1)


def test_masks_have_different_orderings_and_connectivity():
    orderings, hidden, _ = mask_degrees(
        NUM_DIMS, (16,), num_masks=4, order_agnostic=True, connectivity_agnostic=True, seed=3
    )
    assert len({tuple(o) for o in orderings}) == 4
    assert len({tuple(h) for h in hidden[0]}) == 4
    assert hidden[0].min() >= 1 and hidden[0].max() <= NUM_DIMS - 1
    natural, _, _ = mask_degrees(
        NUM_DIMS, (16,), num_masks=2, order_agnostic=False, connectivity_agnostic=False, seed=3
    )
    np.testing.assert_array_equal(natural, np.tile(np.arange(NUM_DIMS), (2, 1)))


@pytest.mark.slow
@pytest.mark.parametrize("mask_index", range(4))
def test_each_mask_is_autoregressive_in_its_own_ordering(mask_index):
    made, params = _made()
    ordering = made.orderings(NUM_DIMS)[mask_index]
    x = jax.random.uniform(jax.random.key(1), (1, NUM_DIMS))
    jacobian = jax.jacfwd(lambda v: made.apply(params, v[None], mask_index)[0, :, 0])(x[0])  # [D_out, D_in]
    position = np.argsort(ordering)  # position[d] = when dimension d is generated
    for out_dim in range(NUM_DIMS):
        for in_dim in range(NUM_DIMS):
            if position[in_dim] >= position[out_dim]:
                assert jacobian[out_dim, in_dim] == 0.0
    # ...and the mask is not vacuous: the last generated dimension reads something.
    assert np.abs(np.asarray(jacobian[ordering[-1]])).sum() > 0


@pytest.mark.slow
def test_every_mask_and_the_ensemble_are_normalised_and_the_ensemble_averages_probabilities():
    made, params = _made()
    per_mask = jnp.stack([_log_probs(made, params, ALL_BITS, k) for k in range(4)])  # [K, 64]
    np.testing.assert_allclose(jnp.exp(per_mask).sum(axis=1), 1.0, rtol=1e-5)
    ensemble = ensemble_log_prob(per_mask)
    np.testing.assert_allclose(jnp.exp(ensemble).sum(), 1.0, rtol=1e-5)
    np.testing.assert_allclose(jnp.exp(ensemble), jnp.exp(per_mask).mean(axis=0), rtol=1e-5)
    # Averaging logits instead mixes conditionals of different orderings: not a distribution.
    mean_logits = jnp.mean(jnp.stack([made.apply(params, ALL_BITS, k)[..., 0] for k in range(4)]), axis=0)
    logit_average = distributions.bernoulli_log_prob(ALL_BITS, mean_logits, event_ndims=1)
    assert abs(float(jnp.exp(logit_average).sum()) - 1.0) > 1e-3


@pytest.mark.slow
def test_traced_mask_index_matches_static_and_masks_differ():
    made, params = _made()
    x = ALL_BITS[:8]
    traced = jax.jit(lambda k: made.apply(params, x, k))
    for k in range(4):
        np.testing.assert_allclose(traced(jnp.int32(k)), made.apply(params, x, k), atol=1e-6)
    assert not np.allclose(traced(jnp.int32(0)), traced(jnp.int32(1)))


def test_single_natural_mask_without_hidden_layers_is_a_fvsbn():
    made, params = _made(num_masks=1, hidden_sizes=(), order_agnostic=False, connectivity_agnostic=False)
    jacobian = jax.jacfwd(lambda v: made.apply(params, v[None])[0, :, 0])(jnp.ones(NUM_DIMS))
    np.testing.assert_array_equal(np.triu(np.asarray(jacobian)), 0.0)
    np.testing.assert_allclose(np.tril(np.asarray(jacobian), -1) != 0, np.tril(np.ones((6, 6)), -1))
