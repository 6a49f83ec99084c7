"""Birthday-paradox support: recovers N for a uniform distribution over N atoms; pairs and edge cases."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.metrics import birthday


def atom_samples(seed, num_atoms, num_samples, dim=8):
    """``num_samples`` draws from the uniform distribution over ``num_atoms`` random points of R^dim."""
    k_atoms, k_draw = jax.random.split(jax.random.key(seed))
    atoms = 5.0 * jax.random.normal(k_atoms, (num_atoms, dim))
    labels = jax.random.randint(k_draw, (num_samples,), 0, num_atoms)
    return atoms[labels], labels


@pytest.mark.parametrize("num_atoms", [400, 2500])
def test_recovers_the_support_of_a_uniform_distribution(num_atoms):
    x, _ = atom_samples(0, num_atoms, 30_000)
    batch_size = round(math.sqrt(2 * math.log(2) * num_atoms))  # collision probability ~1/2
    result = birthday.birthday_paradox_support(
        jax.random.key(1), x, batch_size=batch_size, threshold=1e-3, num_batches=400
    )
    assert 0.3 < float(result.duplicate_probability) < 0.7, result.duplicate_probability
    assert num_atoms / 1.5 < float(result.support_size) < 1.5 * num_atoms, result.support_size


def test_closest_pairs_are_real_duplicates_and_sorted():
    x, labels = atom_samples(2, 300, 5000)
    result = birthday.birthday_paradox_support(
        jax.random.key(3), x, batch_size=40, num_pairs=5, threshold=1e-3, num_batches=50
    )
    assert result.pair_indices.shape == (50, 5, 2) and result.pair_distances.shape == (50, 5)
    distances, pairs = np.asarray(result.pair_distances), np.asarray(result.pair_indices)
    assert np.all(np.diff(distances, axis=1) >= 0)
    assert np.all(pairs[..., 0] != pairs[..., 1])  # distinct rows: drawn without replacement
    recomputed = np.linalg.norm(np.asarray(x)[pairs[..., 0]] - np.asarray(x)[pairs[..., 1]], axis=-1)
    np.testing.assert_allclose(distances, recomputed, atol=1e-5)
    labels = np.asarray(labels)
    same_atom = labels[pairs[:, 0, 0]] == labels[pairs[:, 0, 1]]
    # Identical atoms sit at distance exactly 0 (no cancellation error), others far beyond the threshold.
    np.testing.assert_array_equal(distances[:, 0] <= 1e-3, same_atom)
    assert int(result.num_duplicate_batches) == int(same_atom.sum())


def test_no_duplicates_gives_an_infinite_support_and_all_duplicates_zero():
    distinct = jax.random.normal(jax.random.key(0), (200, 3))
    none = birthday.birthday_paradox_support(
        jax.random.key(1), distinct, batch_size=10, threshold=1e-6, num_batches=8
    )
    assert float(none.duplicate_probability) == 0.0 and math.isinf(float(none.support_size))
    constant = jnp.zeros((50, 3))
    every = birthday.birthday_paradox_support(
        jax.random.key(1), constant, batch_size=10, threshold=0.0, num_batches=8
    )
    assert float(every.duplicate_probability) == 1.0 and float(every.support_size) == 0.0


def test_options_are_checked():
    x = jnp.zeros((20, 2))
    with pytest.raises(ValueError, match="batch_size"):
        birthday.birthday_paradox_support(jax.random.key(0), x, batch_size=21, threshold=0.1)
    with pytest.raises(ValueError, match="num_pairs"):
        birthday.birthday_paradox_support(jax.random.key(0), x, batch_size=3, num_pairs=4, threshold=0.1)
