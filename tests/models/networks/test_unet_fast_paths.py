"""The U-Net's GroupNorm (`unet.group_norm_nhwc`, written for XLA:CPU speed) against flax's ``nn.GroupNorm``:
same parameters, same outputs and gradients at the shapes the U-Nets use, same dtypes under mixed
precision; and the whole U-Net (GroupNorm, convolution.Conv / UpsampleConv) equal to the previous
implementation (flax's GroupNorm and nn.Conv, the upsampling as repeat + conv)."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.models.networks import unet as unet_lib
from genjax.models.networks.unet import EPSILON, GroupNorm, UNet, group_count

pytestmark = pytest.mark.xdist_group("unet")

# (shape [B, H, W, C], groups): the digits U-Net's norms (C = 32 and 96 at 8x8 and 4x4), an odd
# group size (48 channels in 24 groups) and one group (C = 3).
CASES = [((2, 8, 8, 32), 16), ((2, 4, 4, 96), 32), ((3, 4, 4, 48), 24), ((2, 8, 8, 3), 1)]


def inputs(shape, shift, seed=0):
    rng = np.random.default_rng(seed)
    x = jnp.asarray(shift + 2.0 * rng.standard_normal(shape), jnp.float32)
    scale = jnp.asarray(1.0 + 0.3 * rng.standard_normal(shape[-1]), jnp.float32)
    bias = jnp.asarray(0.3 * rng.standard_normal(shape[-1]), jnp.float32)
    return x, {"params": {"scale": scale, "bias": bias}}


@pytest.mark.parametrize("shape,groups", CASES)
def test_values_and_gradients_equal_flax(shape, groups):
    x, params = inputs(shape, 0.5)
    ours, theirs = GroupNorm(groups), nn.GroupNorm(num_groups=groups, epsilon=EPSILON)
    assert jax.tree.map(jnp.shape, ours.init(jax.random.key(0), x)) == jax.tree.map(
        jnp.shape, theirs.init(jax.random.key(0), x)
    )
    weights = jnp.asarray(np.random.default_rng(1).standard_normal(shape), jnp.float32)

    def loss(module):  # a non-symmetric function of the output, so every gradient term matters
        return lambda p, x: jnp.sum(weights * jnp.tanh(module.apply(p, x)))

    np.testing.assert_allclose(
        jax.jit(ours.apply)(params, x), jax.jit(theirs.apply)(params, x), rtol=1e-5, atol=2e-5
    )
    ours_grads = jax.jit(jax.grad(loss(ours), argnums=(0, 1)))(params, x)
    theirs_grads = jax.jit(jax.grad(loss(theirs), argnums=(0, 1)))(params, x)
    for a, b in zip(jax.tree.leaves(ours_grads), jax.tree.leaves(theirs_grads), strict=True):
        scale = float(jnp.max(jnp.abs(b)))
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5 * max(scale, 1.0))


def test_shifted_input_as_accurate_as_flax():
    """Mean 50, std 2: the one-pass variance E[x^2] - E[x]^2 (flax's too) loses digits; against a
    float64 two-pass reference the error is no larger than flax's own."""
    x, params = inputs((2, 4, 4, 64), 50.0)
    x64 = np.asarray(x, np.float64).reshape(2, 4, 4, 32, 2)
    mean, var = x64.mean(axis=(1, 2, 4), keepdims=True), x64.var(axis=(1, 2, 4), keepdims=True)
    exact = ((x64 - mean) / np.sqrt(var + EPSILON)).reshape(x.shape)
    exact = exact * np.float64(params["params"]["scale"]) + np.float64(params["params"]["bias"])
    ours = jax.jit(GroupNorm(32).apply)(params, x)
    theirs = jax.jit(nn.GroupNorm(num_groups=32, epsilon=EPSILON).apply)(params, x)
    flax_error = float(np.max(np.abs(np.float64(theirs) - exact)))
    assert float(np.max(np.abs(np.float64(ours) - exact))) <= 2.0 * flax_error + 1e-5


def test_by_hand():
    """Two groups of two channels over a 1x2 image, computed by hand."""
    x = jnp.asarray([[[[1.0, 3.0, 0.0, 4.0], [5.0, 7.0, 2.0, 2.0]]]])  # [1, 1, 2, 4]
    out = unet_lib.group_norm_nhwc(x, jnp.ones(4), jnp.zeros(4), 2, 0.0)
    group_0, group_1 = np.array([1.0, 3.0, 5.0, 7.0]), np.array([0.0, 4.0, 2.0, 2.0])
    expected = np.empty((2, 4))
    expected[:, :2] = ((group_0 - group_0.mean()) / group_0.std()).reshape(2, 2)
    expected[:, 2:] = ((group_1 - group_1.mean()) / group_1.std()).reshape(2, 2)
    np.testing.assert_allclose(out[0, 0], expected, rtol=1e-6)


@pytest.mark.parametrize("params_dtype", [jnp.float32, jnp.bfloat16])
def test_mixed_precision_dtype_and_values_equal_flax(params_dtype):
    x, params = inputs((2, 4, 4, 32), 1.0)
    x = x.astype(jnp.bfloat16)
    params = jax.tree.map(lambda a: a.astype(params_dtype), params)
    ours = GroupNorm(16).apply(params, x)
    theirs = nn.GroupNorm(num_groups=16, epsilon=EPSILON).apply(params, x)
    assert ours.dtype == theirs.dtype
    np.testing.assert_allclose(np.float32(ours), np.float32(theirs), rtol=1e-2, atol=1e-2)


def previous_implementation(monkeypatch) -> None:
    """Patches the U-Net back to its previous layers: flax's GroupNorm and nn.Conv, the upsampling as
    repeat + conv."""

    def flax_group_norm(channels, num_groups, name):
        return nn.GroupNorm(num_groups=group_count(channels, num_groups), epsilon=EPSILON, name=name)

    def flax_conv3x3(features, name, *, strides=1, zero=False):
        init = unet_lib.zero_init if zero else unet_lib.default_init
        return nn.Conv(features, (3, 3), (strides, strides), ((1, 1), (1, 1)), kernel_init=init, name=name)

    def repeat_then_conv(h, name):
        return flax_conv3x3(h.shape[-1], name)(jnp.repeat(jnp.repeat(h, 2, axis=1), 2, axis=2))

    monkeypatch.setattr(unet_lib, "group_norm", flax_group_norm)
    monkeypatch.setattr(unet_lib, "conv3x3", flax_conv3x3)
    monkeypatch.setattr(unet_lib, "upsample_conv3x3", repeat_then_conv)
    monkeypatch.setattr(unet_lib, "Conv", nn.Conv)  # the 1x1 skips


def small_unet_case():
    """A digits-like U-Net (8 channels), its input, and random parameters of its shapes (no init run:
    compiling init costs more than the test)."""
    model = UNet(channels=8, channel_mults=(1, 2), num_res_blocks=1, attention_resolutions=(4,))
    x = jax.random.normal(jax.random.key(1), (2, 8, 8, 1))
    cond = jnp.asarray([3.0, 700.0])
    shapes = jax.eval_shape(model.init, jax.random.key(0), x, cond)
    rng = np.random.default_rng(2)
    params = jax.tree.map(lambda a: jnp.asarray(0.3 * rng.standard_normal(a.shape), a.dtype), shapes)
    return model, x, cond, shapes, params


def test_unet_equals_the_previous_implementation(monkeypatch):
    """Same parameter tree (names, shapes, dtypes) and outputs within float32 tolerance."""
    model, x, cond, shapes, params = small_unet_case()
    ours = jax.jit(model.apply)(params, x, cond)
    previous_implementation(monkeypatch)
    reference_shapes = jax.eval_shape(model.init, jax.random.key(0), x, cond)
    assert jax.tree.map(lambda a: (a.shape, a.dtype), reference_shapes) == jax.tree.map(
        lambda a: (a.shape, a.dtype), shapes
    )
    theirs = jax.jit(model.apply)(params, x, cond)
    assert float(jnp.max(jnp.abs(theirs))) > 0.1  # random output layer: a real comparison
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5 * float(jnp.max(jnp.abs(theirs))))


@pytest.mark.slow  # ~20 s of compiling the two backward passes
def test_unet_parameter_gradients_equal_the_previous_implementation(monkeypatch):
    model, x, cond, _, params = small_unet_case()
    weights = jnp.asarray(np.random.default_rng(3).standard_normal((2, 8, 8, 1)), jnp.float32)

    def grad():
        return jax.jit(jax.grad(lambda p: jnp.sum(weights * model.apply(p, x, cond))))(params)

    ours = grad()
    previous_implementation(monkeypatch)
    theirs = grad()
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(theirs), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5 * max(float(jnp.max(jnp.abs(b))), 1.0))
