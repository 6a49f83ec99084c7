"""The replay buffer: round trips, persistent permutations, the restart rate and oversized batches."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.samplers import replay_buffer


def _buffer(n=50, shape=(3,)):
    return replay_buffer.replay_buffer_init(
        jnp.arange(n * np.prod(shape), dtype=jnp.float32).reshape(n, *shape)
    )


def test_replay_buffer_round_trip():
    buffer = _buffer()
    fresh = jnp.full((8, 3), -1.0)
    sample = jax.jit(replay_buffer.replay_buffer_sample, static_argnums=2)
    x_init, indices = sample(jax.random.key(2), buffer, 8, fresh, reinit_prob=0.0)
    assert x_init.shape == (8, 3) and indices.shape == (8,) and indices.dtype == jnp.int32
    np.testing.assert_array_equal(x_init, buffer.samples[indices])
    assert len(np.unique(np.asarray(indices))) == 8
    new = x_init + 1000.0
    updated = jax.jit(replay_buffer.replay_buffer_update)(buffer, indices, new)
    np.testing.assert_array_equal(updated.samples[indices], new)
    untouched = np.setdiff1d(np.arange(50), np.asarray(indices))
    np.testing.assert_array_equal(updated.samples[untouched], buffer.samples[untouched])
    assert isinstance(updated, replay_buffer.ReplayBuffer)


def test_persistent_mode_returns_a_permutation_of_the_buffer():
    buffer = _buffer()
    x_init, indices = replay_buffer.replay_buffer_sample(
        jax.random.key(4), buffer, 50, jnp.zeros((50, 3)), reinit_prob=0.0
    )
    np.testing.assert_array_equal(np.sort(np.asarray(indices)), np.arange(50))
    np.testing.assert_array_equal(x_init, buffer.samples[indices])
    assert not np.array_equal(np.asarray(indices), np.arange(50))  # shuffled, not the identity
    # Writing the advanced chains back advances every chain exactly once.
    updated = replay_buffer.replay_buffer_update(buffer, indices, x_init + 0.5)
    np.testing.assert_array_equal(updated.samples, buffer.samples + 0.5)


def test_reinit_fraction_matches_reinit_prob():
    buffer = _buffer(n=5000, shape=(2,))
    fresh = jnp.full((4000, 2), -7.0)  # never a stored value
    x_init, indices = replay_buffer.replay_buffer_sample(
        jax.random.key(5), buffer, 4000, fresh, reinit_prob=0.3
    )
    assert len(np.unique(np.asarray(indices))) == 4000  # distinct, so the scatter back is unambiguous
    restarted = np.all(np.asarray(x_init) == -7.0, axis=-1)
    # Binomial(4000, 0.3): sd ≈ 0.0072 in the fraction.
    assert abs(restarted.mean() - 0.3) < 0.03
    # The 4000 distinct slots out of 5000 spread evenly: 400 per tenth (hypergeometric sd ≈ 8.5).
    np.testing.assert_allclose(np.bincount(np.asarray(indices) // 500), 400, atol=45)
    kept = ~restarted
    np.testing.assert_array_equal(
        np.asarray(x_init)[kept], np.asarray(buffer.samples)[np.asarray(indices)[kept]]
    )


@pytest.mark.slow
def test_oversized_batch_draws_with_replacement_and_bad_fresh_shape_fails():
    buffer = _buffer(n=4)
    x_init, indices = replay_buffer.replay_buffer_sample(
        jax.random.key(6), buffer, 12, jnp.zeros((12, 3)), reinit_prob=0.0
    )
    assert np.all((np.asarray(indices) >= 0) & (np.asarray(indices) < 4))
    np.testing.assert_array_equal(x_init, buffer.samples[indices])
    with pytest.raises(AssertionError, match="fresh"):  # chex
        replay_buffer.replay_buffer_sample(jax.random.key(6), buffer, 3, jnp.zeros((2, 3)))
