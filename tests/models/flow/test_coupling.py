"""NICE and RealNVP coupling layers, NICE's scaling, squeeze and chains."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.models.flow import Chain, Coupling, DiagonalScaling, Flatten, Reverse, Squeeze, checkerboard
from tests.models.flow.bijector_checks import check_bijector, perturbed_params

VECTORS = jax.random.normal(jax.random.key(0), (4, 5))
IMAGES = jax.random.normal(jax.random.key(1), (3, 4, 4, 2))


@pytest.mark.slow
@pytest.mark.parametrize("affine", [False, True])
@pytest.mark.parametrize("parity", [0, 1])
@pytest.mark.parametrize("scale_fn", ["tanh", "sigmoid", "exp"])
def test_half_coupling_on_vectors(affine, parity, scale_fn):
    layer = Coupling((8, 8), affine=affine, parity=parity, scale_fn=scale_fn)
    check_bijector(layer, perturbed_params(layer, VECTORS), VECTORS)


@pytest.mark.slow
@pytest.mark.parametrize("mask", ["half", "checkerboard"])
@pytest.mark.parametrize("parity", [0, 1])
def test_coupling_on_images(mask, parity):
    layer = Coupling((8,), mask=mask, parity=parity)
    check_bijector(layer, perturbed_params(layer, IMAGES), IMAGES)


@pytest.mark.slow
def test_coupling_keeps_its_half_and_additive_coupling_preserves_volume():
    layer = Coupling((8,), affine=False, parity=1)
    params = perturbed_params(layer, VECTORS)
    z, log_det = layer.apply(params, VECTORS, method="forward")
    np.testing.assert_array_equal(z[:, 2:], VECTORS[:, 2:])  # parity 1 keeps the second block
    assert not np.allclose(z[:, :2], VECTORS[:, :2])
    np.testing.assert_array_equal(log_det, 0.0)


@pytest.mark.slow
def test_checkerboard_coupling_keeps_the_masked_pixels():
    layer = Coupling((8,), mask="checkerboard", parity=0)
    params = perturbed_params(layer, IMAGES)
    z, _ = layer.apply(params, IMAGES, method="forward")
    keep = checkerboard(4, 4, 0)[None].astype(bool).repeat(2, axis=-1)
    keep = jnp.broadcast_to(keep, IMAGES.shape)
    np.testing.assert_array_equal(z[keep], IMAGES[keep])
    assert not np.allclose(z[~keep], IMAGES[~keep])
    np.testing.assert_array_equal(checkerboard(2, 2, 1)[..., 0], [[0, 1], [1, 0]])


def test_fresh_couplings_are_the_identity():
    # Zero-initialised conditioners: a new flow starts exactly at its base density.
    for scale_fn in ("tanh", "exp"):
        layer = Coupling((8,), scale_fn=scale_fn)
        params = layer.init(jax.random.key(0), VECTORS, method="forward")
        z, log_det = layer.apply(params, VECTORS, method="forward")
        np.testing.assert_array_equal(z, VECTORS)
        np.testing.assert_array_equal(log_det, 0.0)


@pytest.mark.slow
def test_sigmoid_scale_is_bounded():
    # exp(s) = sigmoid(raw + 2) lies in (0, 1): huge raw outputs cannot blow up.
    layer = Coupling((8,), scale_fn="sigmoid")
    params = perturbed_params(layer, VECTORS, scale=100.0)
    z, log_det = layer.apply(params, VECTORS * 100, method="forward")
    assert bool(jnp.all(jnp.isfinite(z))) and bool(jnp.all(log_det <= 0))


@pytest.mark.slow
def test_nice_diagonal_scaling_and_chain():
    layer = Chain(
        (Coupling((8,), affine=False), Reverse(), Coupling((8,), affine=False, parity=1), DiagonalScaling())
    )
    params = perturbed_params(layer, VECTORS)
    check_bijector(layer, params, VECTORS)
    _, log_det = layer.apply(params, VECTORS, method="forward")
    # Additive couplings preserve volume: the whole log-det is NICE's scaling.
    np.testing.assert_allclose(log_det, jnp.sum(params["params"]["layers_3"]["log_scale"]), rtol=1e-6)


@pytest.mark.slow
def test_squeeze_is_a_permutation_and_flatten_round_trips():
    check_bijector(Squeeze(), {}, IMAGES)
    z, _ = Squeeze().apply({}, IMAGES, method="forward")
    assert z.shape == (3, 2, 2, 8)
    # Each output pixel holds one 2x2 input patch.
    np.testing.assert_array_equal(z[0, 0, 0].reshape(2, 2, 2), IMAGES[0, :2, :2])
    check_bijector(Flatten((4, 4, 2)), {}, IMAGES)
    with pytest.raises(ValueError, match="even"):
        Squeeze().apply({}, jnp.zeros((1, 3, 4, 1)), method="forward")
