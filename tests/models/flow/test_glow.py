"""Glow's layers: ActNorm (data-dependent init), invertible 1x1 convolution (plain and LU), the step."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.models.flow.bijector import Chain
from genjax.models.flow.glow import ActNorm, InvertibleLinear, glow_step, lu_rotation_init
from tests.models.flow.bijector_checks import Jitted, check_bijector, perturbed_params

SHAPES = {"vector": (6,), "image": (3, 3, 4)}


def skewed_batch(shape: tuple[int, ...], batch: int = 16, seed: int = 0) -> jax.Array:
    """[batch, *shape] with per-channel means far from 0 and variances far from 1, channels correlated."""
    channels = shape[-1]
    noise = jax.random.normal(jax.random.key(seed), (batch, *shape))
    mixing = jnp.eye(channels) + 0.5 * jax.random.normal(jax.random.key(seed + 1), (channels, channels))
    scales = jnp.linspace(0.2, 5.0, channels)
    return (noise @ mixing.T) * scales + jnp.arange(channels) - 2.0


def channel_stats(x: jax.Array) -> tuple[np.ndarray, np.ndarray]:
    flat = np.asarray(x).reshape(-1, x.shape[-1])
    return flat.mean(axis=0), flat.var(axis=0)


def lu_weight(params) -> np.ndarray:
    """W rebuilt from the LU params by hand (only the strict triangles of lower/upper count)."""
    p = jax.tree.map(np.asarray, params["params"])
    size = p["log_s"].shape[0]
    lower = np.tril(p["lower"], k=-1) + np.eye(size)
    upper = np.triu(p["upper"], k=1) + np.diag(np.exp(p["log_s"]))
    return lower @ upper


@pytest.mark.slow
@pytest.mark.parametrize("kind", SHAPES)
def test_actnorm_is_a_bijector(kind):
    x = skewed_batch(SHAPES[kind], batch=5)
    layer = Jitted(ActNorm())
    check_bijector(layer, perturbed_params(layer, x), x)


@pytest.mark.slow
@pytest.mark.parametrize("kind", SHAPES)
def test_actnorm_init_standardises_the_init_batch(kind):
    x = skewed_batch(SHAPES[kind])
    mean, var = channel_stats(x)
    assert np.abs(mean).max() > 1 and np.abs(var - 1).max() > 1  # the check below is not vacuous
    layer = ActNorm()
    params = layer.init(jax.random.key(0), x, method="forward")
    z, log_det = layer.apply(params, x, method="forward")
    mean, var = channel_stats(z)
    np.testing.assert_allclose(mean, 0.0, atol=1e-4)
    np.testing.assert_allclose(var, 1.0, atol=1e-4)
    positions = int(np.prod(SHAPES[kind][:-1]))
    expected = -0.5 * positions * np.log(channel_stats(x)[1]).sum()
    np.testing.assert_allclose(log_det, np.full(x.shape[0], expected), rtol=1e-4)


@pytest.mark.slow
def test_actnorm_init_sees_the_previous_layers_output_inside_a_chain():
    x = skewed_batch(SHAPES["image"])
    model = Jitted(Chain(layers=(glow_step((8,)), glow_step((8,)))))
    params = model.init(jax.random.key(0), x)["params"]
    first, second = Jitted(glow_step((8,))), ActNorm()
    h, _ = first.apply({"params": params["layers_0"]}, x)
    # A rotation of standardised, correlated channels: not standardised itself.
    assert np.abs(channel_stats(h)[1] - 1).max() > 0.1
    z, _ = second.apply({"params": params["layers_1"]["layers_0"]}, h, method="forward")
    mean, var = channel_stats(z)
    np.testing.assert_allclose(mean, 0.0, atol=1e-4)
    np.testing.assert_allclose(var, 1.0, atol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("lu", [True, False])
@pytest.mark.parametrize("kind", SHAPES)
def test_invertible_linear_is_a_bijector(kind, lu):
    x = skewed_batch(SHAPES[kind], batch=3)
    layer = Jitted(InvertibleLinear(lu=lu))
    check_bijector(layer, perturbed_params(layer, x), x)


@pytest.mark.slow
@pytest.mark.parametrize("lu", [True, False])
def test_invertible_linear_starts_as_a_rotation(lu):
    x = skewed_batch(SHAPES["image"], batch=3)
    layer = InvertibleLinear(lu=lu)
    params = layer.init(jax.random.key(0), x, method="forward")
    weight = lu_weight(params) if lu else np.asarray(params["params"]["kernel"])
    np.testing.assert_allclose(weight.T @ weight, np.eye(4), atol=1e-5)
    z, log_det = layer.apply(params, x, method="forward")
    np.testing.assert_allclose(log_det, 0.0, atol=1e-5)
    np.testing.assert_allclose(z, np.asarray(x) @ weight.T, atol=1e-5)
    if lu:
        assert np.linalg.det(weight) > 0  # positive pivots: det stays > 0 during training


@pytest.mark.slow
def test_lu_rotation_init_is_well_conditioned_for_many_channels():
    # Glow's 3rd level on CIFAR-10 has 48 channels; an unpivoted LU of a rotation is badly
    # conditioned there, which would make W visibly non-orthogonal in float32.
    lower, upper, log_s = (np.asarray(a) for a in lu_rotation_init(jax.random.key(3), 48))
    np.testing.assert_allclose(np.diag(lower), 1.0)
    assert np.abs(lower).max() <= 1.0 + 1e-6
    np.testing.assert_allclose(np.exp(log_s), np.abs(np.diag(upper)), rtol=1e-6)
    assert (np.diag(upper) > 0).all()
    weight = lu_weight({"params": {"lower": lower, "upper": upper, "log_s": log_s}})
    np.testing.assert_allclose(weight.T @ weight, np.eye(48), atol=1e-5)


@pytest.mark.slow
def test_lu_log_det_is_positions_times_slogdet_after_perturbation():
    x = skewed_batch(SHAPES["image"], batch=3)
    layer = InvertibleLinear(lu=True)
    params = perturbed_params(layer, x, scale=0.3)
    weight = lu_weight(params)
    z, log_det = layer.apply(params, x, method="forward")
    np.testing.assert_allclose(z, np.asarray(x) @ weight.T, atol=1e-4, rtol=1e-4)
    sign, log_abs_det = np.linalg.slogdet(weight)
    assert sign > 0
    np.testing.assert_allclose(log_det, np.full(3, 9 * log_abs_det), rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_lu_ignores_the_masked_triangles():
    x = skewed_batch(SHAPES["vector"], batch=3)
    layer = InvertibleLinear(lu=True)
    params = perturbed_params(layer, x)
    noise = np.triu(np.ones((6, 6)))  # diagonal and upper part of `lower`
    changed = jax.tree.map(lambda a: a, params)
    changed["params"]["lower"] = params["params"]["lower"] + 5.0 * noise
    changed["params"]["upper"] = params["params"]["upper"] + 5.0 * noise.T  # diagonal and lower part
    for method in ("forward", "inverse"):
        expected = layer.apply(params, x, method=method)
        actual = layer.apply(changed, x, method=method)
        chex.assert_trees_all_close(actual, expected, rtol=1e-6, atol=0.0)


@pytest.mark.slow
@pytest.mark.parametrize("shape", [(2,), (3, 3, 4)], ids=["vector2d", "image"])
def test_glow_step_is_a_bijector(shape):
    # lu=False is covered by the InvertibleLinear checks; compiling whole steps is what costs.
    x = skewed_batch(shape, batch=4)
    layer = Jitted(glow_step((8,)))
    check_bijector(layer, perturbed_params(layer, x), x)


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "scale_fn"), [("vector", "tanh"), ("image", "sigmoid")])
def test_fresh_glow_step_maps_the_init_batch_to_zero_mean_and_known_variance(kind, scale_fn):
    # ActNorm standardises; the rotation keeps the mean at 0 and the trace of the covariance
    # at C; the zero-initialised coupling is the identity for tanh and, as in Glow, scales the
    # changed half by sigmoid(2) for sigmoid.
    x = skewed_batch(SHAPES[kind])
    channels, half = x.shape[-1], x.shape[-1] // 2
    layer = Jitted(glow_step((8,), scale_fn=scale_fn))
    params = layer.init(jax.random.key(0), x)
    z, log_det = layer.apply(params, x)
    log_scale = 0.0 if scale_fn == "tanh" else float(jax.nn.log_sigmoid(2.0))
    mean, var = channel_stats(z)
    np.testing.assert_allclose(mean, 0.0, atol=1e-4)
    trace = var[:half].sum() + var[half:].sum() * np.exp(-2 * log_scale)
    np.testing.assert_allclose(trace, channels, rtol=1e-4)
    assert np.abs(var - 1).max() > 1e-2  # the rotation mixed the channels
    positions = int(np.prod(SHAPES[kind][:-1]))
    expected = positions * (-0.5 * np.log(channel_stats(x)[1]).sum() + (channels - half) * log_scale)
    np.testing.assert_allclose(log_det, np.full(x.shape[0], expected), rtol=1e-4, atol=1e-4)
