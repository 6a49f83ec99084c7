"""MADE with one mask (the flows'): outputs see only earlier inputs; fresh outputs are zero."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.models.networks.made import (
    MADE,
    MaskedDense,
    degree_mask,
    hidden_degrees,
    input_degrees,
    random_ordering,
)
from tests.models.flow.bijector_checks import jitter

DIM = 5


def perturbed_params(module, x, *, scale: float):
    """Like `bijector_checks.perturbed_params` for a plain module (no ``forward`` method)."""
    return jitter(module.init(jax.random.key(1), x), scale=scale, seed=2)


def test_random_ordering_is_a_seeded_permutation():
    ordering = random_ordering(DIM, seed=3)
    assert sorted(ordering) == list(range(DIM))
    assert ordering == random_ordering(DIM, seed=3)
    assert any(random_ordering(DIM, seed) != ordering for seed in range(4, 10))


def test_degrees_and_masks():
    np.testing.assert_array_equal(input_degrees((2, 0, 1)), [2, 3, 1])
    np.testing.assert_array_equal(hidden_degrees(5, 3), [1, 2, 1, 2, 1])
    mask = degree_mask((1, 2), (1, 2, 3), strict=True)
    np.testing.assert_array_equal(mask, [[0, 1, 1], [0, 0, 1]])
    mask = degree_mask((1, 2), (1, 2), strict=False)
    np.testing.assert_array_equal(mask, [[1, 1], [0, 1]])


@pytest.mark.slow
def test_masked_dense_ignores_masked_kernel_entries():
    layer = MaskedDense(2)
    mask = degree_mask((1, 2), (1, 2), strict=True)
    x = jnp.ones((1, 2))
    params = jitter(layer.init(jax.random.key(1), x, mask), scale=1.0, seed=2)
    jacobian = jax.jacfwd(lambda v: layer.apply(params, v[None], mask)[0])(x[0])
    # out 1 (degree 1) sees nothing; out 2 (degree 2) sees input 1 (degree 1) only.
    assert float(jnp.abs(jacobian[0]).max()) == 0.0
    assert float(jacobian[1, 1]) == 0.0 and float(jacobian[1, 0]) != 0.0


@pytest.mark.slow
def test_fresh_made_outputs_zeros():
    made = MADE((8,), num_params=3)
    x = jax.random.normal(jax.random.key(0), (4, DIM))
    params = made.init(jax.random.key(1), x)
    out = made.apply(params, x)
    assert out.shape == (4, DIM, 3)
    assert float(jnp.abs(out).max()) == 0.0


@pytest.mark.slow
@pytest.mark.parametrize(
    "ordering, hidden_sizes",
    [(None, (16, 16)), (random_ordering(DIM, seed=7), (16, 16)), ((4, 2, 0, 3, 1), ())],
    ids=["natural", "random", "reversed-no-hidden"],
)
def test_made_is_autoregressive(ordering, hidden_sizes):
    made = MADE(hidden_sizes, num_params=2, ordering=ordering, activation="tanh")
    x = jax.random.normal(jax.random.key(0), (1, DIM))
    params = perturbed_params(made, x, scale=0.5)
    # [D (output dim), P, D (input dim)]
    jacobian = np.asarray(jax.jacfwd(lambda v: made.apply(params, v[None])[0])(x[0]))
    position = input_degrees(ordering if ordering is not None else range(DIM)) - 1
    for out_dim in range(DIM):
        later = position >= position[out_dim]
        assert np.abs(jacobian[out_dim][:, later]).max() == 0.0, f"dim {out_dim} sees itself or later"
        if position[out_dim] > 0:
            # Nonzero on every earlier input: the masks do not cut too much.
            assert (np.abs(jacobian[out_dim][:, ~later]).max(axis=0) > 0).all()


def test_made_rejects_bad_orderings_and_images():
    x = jnp.ones((2, 3))
    with pytest.raises(ValueError, match="permutation"):
        MADE((4,), ordering=(0, 0, 1)).init(jax.random.key(0), x)
    with pytest.raises(ValueError, match="vectors"):
        MADE((4,)).init(jax.random.key(0), jnp.ones((2, 3, 3, 1)))


def test_hidden_degrees_cover_every_input_even_when_narrower_than_the_data():
    # 500 units over 784 inputs: degrees must reach the end, or late inputs are never seen.
    degrees = hidden_degrees(500, 784)
    assert degrees.min() == 1 and degrees.max() >= 782 and len(set(degrees)) == 500
    np.testing.assert_array_equal(np.sort(hidden_degrees(10, 4)), np.sort(np.arange(10) % 3 + 1))
