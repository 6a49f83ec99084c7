"""genjax's convolutions equal lax / flax in value, gradients (both modes, second order) and params."""

import flax.linen as nn
import jax
import jax.extend
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.models.networks import convolution
from genjax.models.networks.convolution import (
    Conv,
    ConvTranspose,
    UpsampleConv,
    conv2d,
    conv_transpose,
    upsample_conv,
)

DN = ("NHWC", "HWIO", "NHWC")

# (H = W, C_in, C_out, kernel, stride, padding): the layers the models use, on small batches.
CONVS = [
    (28, 1, 4, 4, 2, "SAME"),  # DCGAN critic conv_0
    (14, 4, 8, 4, 2, "SAME"),  # DCGAN critic conv_1 (14 -> 7)
    (7, 3, 5, 3, 2, "SAME"),  # ConvDownsampler on an odd map
    (8, 3, 4, 3, 2, ((1, 1), (1, 1))),  # U-Net stride-2 3x3, padding 1
    (7, 3, 5, 3, 1, ((1, 1), (1, 1))),  # U-Net 3x3, padding 1
    (9, 2, 3, 3, 1, "VALID"),
    (7, 2, 3, 1, 1, "SAME"),  # 1x1 (VQ-VAE projection, Glow's middle conv)
]
TRANSPOSED = [
    (7, 8, 4, 4, 2, "SAME"),  # DCGAN generator 7 -> 14
    (14, 4, 1, 4, 2, "SAME"),  # DCGAN generator 14 -> 28
    (7, 3, 5, 3, 2, "SAME"),  # ConvUpsampler 7 -> 14
    (4, 3, 5, 3, 2, "SAME"),
    (5, 3, 4, 3, 2, "VALID"),
    (5, 3, 4, 4, 2, "VALID"),
    (5, 2, 3, 3, 1, "SAME"),
]


def _arrays(*shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [jnp.asarray(rng.normal(size=shape).astype(np.float32)) for shape in shapes]


def _close(actual, expected, tol=2e-5):
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol * max(1.0, np.abs(expected).max()))


def _lax_conv(x, kernel, strides, padding):
    pads = convolution.conv_pads(padding, x.shape[1:3], kernel.shape[:2], strides)
    return jax.lax.conv_general_dilated(x, kernel, strides, pads, dimension_numbers=DN)


def _lax_conv_transpose(x, kernel, strides, padding):
    return jax.lax.conv_transpose(x, kernel, strides, padding, dimension_numbers=DN)


def _lax_upsample_conv(x, kernel):
    up = jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)
    return jax.lax.conv_general_dilated(up, kernel, (1, 1), ((1, 1), (1, 1)), dimension_numbers=DN)


@jax.jit
def _value_and_vjp(x, kernel, cotangent, ours, reference):
    return [(f(x, kernel), *jax.vjp(f, x, kernel)[1](cotangent)) for f in (ours, reference)]


def _check(ours, reference, x, kernel):
    (cotangent,) = _arrays(jax.eval_shape(reference, x, kernel).shape, seed=1)
    mine, theirs = _value_and_vjp(
        x, kernel, cotangent, jax.tree_util.Partial(ours), jax.tree_util.Partial(reference)
    )
    for a, b in zip(mine, theirs, strict=True):
        _close(a, b)


@pytest.mark.parametrize("size, c_in, c_out, k, s, padding", CONVS)
def test_conv2d_equals_lax(size, c_in, c_out, k, s, padding):
    x, kernel = _arrays((2, size, size, c_in), (k, k, c_in, c_out))
    _check(
        lambda x, w: conv2d(x, w, strides=s, padding=padding),
        lambda x, w: _lax_conv(x, w, (s, s), padding),
        x,
        kernel,
    )


@pytest.mark.parametrize("size, c_in, c_out, k, s, padding", [CONVS[1], CONVS[2], CONVS[4]])
def test_every_weight_gradient_form_equals_lax(monkeypatch, size, c_in, c_out, k, s, padding):
    x, kernel = _arrays((2, size, size, c_in), (k, k, c_in, c_out))
    for form in convolution.WEIGHT_GRADIENTS:
        monkeypatch.setattr(convolution, "WEIGHT_GRADIENT", form)
        _check(
            lambda x, w: conv2d(x, w, strides=s, padding=padding),
            lambda x, w: _lax_conv(x, w, (s, s), padding),
            x,
            kernel,
        )


@pytest.mark.parametrize("size, c_in, c_out, k, s, padding", TRANSPOSED)
def test_conv_transpose_equals_lax(size, c_in, c_out, k, s, padding):
    x, kernel = _arrays((2, size, size, c_in), (k, k, c_in, c_out))
    _check(
        lambda x, w: conv_transpose(x, w, strides=s, padding=padding),
        lambda x, w: _lax_conv_transpose(x, w, (s, s), padding),
        x,
        kernel,
    )


def test_upsample_conv_equals_repeat_then_conv():
    x, kernel = _arrays((2, 5, 6, 3), (3, 3, 3, 4))
    _check(upsample_conv, _lax_upsample_conv, x, kernel)


def _network(conv, transpose, upsample):
    """A small critic-like function using all three (stride-2 conv, k4 and k3 transposed, upsample)."""

    def f(x, kernel):
        h = jnp.tanh(conv(x, kernel[:, :, :3, :3]))  # [B, 4, 4, 3]
        h = jnp.tanh(transpose(h, kernel[:, :, :3, :4]))  # [B, 8, 8, 4]
        return upsample(h, kernel[:3, :3, :4, :2])  # [B, 16, 16, 2]

    return f


OURS = _network(
    lambda x, k: conv2d(x, k, strides=2, padding="SAME"),
    lambda x, k: conv_transpose(x, k, strides=2, padding="SAME"),
    upsample_conv,
)
REFERENCE = _network(
    lambda x, k: _lax_conv(x, k, (2, 2), "SAME"),
    lambda x, k: _lax_conv_transpose(x, k, (2, 2), "SAME"),
    _lax_upsample_conv,
)


def test_forward_mode_and_second_order_derivatives_equal_lax():
    """jvp (flow Jacobians, score losses) and grad of a gradient norm (WGAN-GP, R1) through all three."""
    x, kernel, cotangent = _arrays((2, 8, 8, 3), (4, 4, 4, 4), (2, 16, 16, 2))

    @jax.jit
    def derivatives(f):
        _, tangent = jax.jvp(f, (x, kernel), (jnp.sin(x), jnp.cos(kernel)))

        def penalty(k):
            grad_x = jax.grad(lambda v: jnp.sum(jnp.tanh(f(v, k)) * cotangent))(x)
            return jnp.sum(grad_x**2)

        per_example = jax.vmap(jax.grad(lambda v, k: jnp.sum(f(v[None], k) ** 2)), (0, None))(x, kernel)
        return tangent, jax.grad(penalty)(kernel), per_example

    ours, reference = derivatives(jax.tree_util.Partial(OURS)), derivatives(jax.tree_util.Partial(REFERENCE))
    for a, b in zip(ours, reference, strict=True):
        _close(a, b)


def _convolutions(fn, *args):
    """(dimension numbers, lhs_dilation, rhs_dilation) of every convolution in fn's program."""
    found = []

    def walk(jaxpr):
        for eqn in jaxpr.eqns:
            if eqn.primitive.name == "conv_general_dilated":
                p = eqn.params
                found.append((p["dimension_numbers"], p["lhs_dilation"], p["rhs_dilation"]))
            for sub in jax.extend.core.jaxprs_in_params(eqn.params):
                walk(sub)

    walk(jax.make_jaxpr(fn)(*args).jaxpr)
    return found


def test_reverse_mode_runs_only_nhwc_hwio_convolutions_without_dilation():
    x, kernel, kernel_t, kernel_3 = _arrays((2, 14, 14, 4), (4, 4, 4, 8), (4, 4, 4, 8), (3, 3, 4, 8))

    def loss(x, k, kt, k3):
        h = conv2d(x, k, strides=2) + conv_transpose(x, kt, strides=2)[:, ::4, ::4]
        return jnp.sum(h**2) + jnp.sum(upsample_conv(x, k3) ** 2)

    convs = _convolutions(jax.grad(loss, argnums=(0, 1, 2, 3)), x, kernel, kernel_t, kernel_3)
    canonical = _convolutions(
        lambda a, b: jax.lax.conv_general_dilated(a, b, (1, 1), "SAME", dimension_numbers=DN), x, kernel
    )[0][0]
    assert len(convs) >= 3 * 3
    for dimension_numbers, lhs_dilation, rhs_dilation in convs:
        assert dimension_numbers == canonical
        assert lhs_dilation == (1, 1) and rhs_dilation == (1, 1)


def test_gradients_inside_lax_scan_equal_lax():
    x, kernel = _arrays((2, 8, 8, 3), (4, 4, 3, 3))
    kernel = 0.2 * kernel  # tanh away from saturation, so float32 rounding is not amplified

    def chain(conv, transpose):
        def step(h, _):
            return jnp.tanh(transpose(conv(h, kernel), kernel)), None

        return lambda x: jnp.sum(jax.lax.scan(step, x, None, length=3)[0] ** 2)

    ours = chain(lambda h, k: conv2d(h, k, strides=2), lambda h, k: conv_transpose(h, k, strides=2))
    theirs = chain(
        lambda h, k: _lax_conv(h, k, (2, 2), "SAME"), lambda h, k: _lax_conv_transpose(h, k, (2, 2), "SAME")
    )
    _close(jax.jit(jax.grad(ours))(x), jax.jit(jax.grad(theirs))(x))


@pytest.mark.parametrize(
    "ours, theirs, kwargs",
    [
        (Conv, nn.Conv, dict(kernel_size=(4, 4), strides=(2, 2))),
        (Conv, nn.Conv, dict(kernel_size=(3, 3), padding="SAME", use_bias=False)),
        (ConvTranspose, nn.ConvTranspose, dict(kernel_size=(4, 4), strides=(2, 2), padding="SAME")),
        (ConvTranspose, nn.ConvTranspose, dict(kernel_size=(3, 3), strides=(2, 2), padding="SAME")),
    ],
)
def test_modules_have_flax_params_and_outputs(ours, theirs, kwargs):
    (x,) = _arrays((2, 7, 7, 3))
    key = jax.random.key(0)
    params = theirs(5, **kwargs).init(key, x)
    assert jax.tree.map(lambda a: (a.shape, a.dtype), ours(5, **kwargs).init(key, x)) == jax.tree.map(
        lambda a: (a.shape, a.dtype), params
    )
    assert jax.tree.all(jax.tree.map(np.array_equal, ours(5, **kwargs).init(key, x), params))
    _close(ours(5, **kwargs).apply(params, x), theirs(5, **kwargs).apply(params, x))
    # bfloat16 policy: bfloat16 params and inputs compute in bfloat16, as flax with dtype=None.
    half = jax.tree.map(lambda a: a.astype(jnp.bfloat16), params)
    out = ours(5, **kwargs).apply(half, x.astype(jnp.bfloat16))
    assert out.dtype == theirs(5, **kwargs).apply(half, x.astype(jnp.bfloat16)).dtype == jnp.bfloat16
    assert ours(5, **kwargs).apply(half, x).dtype == jnp.float32


def test_upsample_conv_module_has_the_params_of_the_conv_it_replaces():
    (x,) = _arrays((2, 5, 6, 3))
    key = jax.random.key(0)
    reference = nn.Conv(4, (3, 3), padding=((1, 1), (1, 1)))
    up = jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)
    params = reference.init(key, up)
    assert jax.tree.all(jax.tree.map(np.array_equal, UpsampleConv(4).init(key, x), params))
    _close(UpsampleConv(4).apply(params, x), reference.apply(params, up))


@pytest.mark.torch
def test_torch_conv_transpose2d_weights_load_directly():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    layer = torch.nn.ConvTranspose2d(6, 3, kernel_size=4, stride=2, padding=1)
    (x,) = _arrays((2, 7, 7, 6))
    with torch.no_grad():
        expected = layer(torch.from_numpy(np.array(x).transpose(0, 3, 1, 2))).numpy().transpose(0, 2, 3, 1)
    # torch weight [C_in, C_out, kh, kw] is the adjoint of a correlation: flip kh, kw, then -> HWIO.
    weight = layer.weight.detach().numpy()
    kernel = weight[:, :, ::-1, ::-1].transpose(2, 3, 0, 1)
    params = {"params": {"kernel": jnp.asarray(kernel), "bias": jnp.asarray(layer.bias.detach().numpy())}}
    _close(ConvTranspose(3, (4, 4), strides=(2, 2), padding="SAME").apply(params, x), expected)


class _FlaxDownUp(nn.Module):
    """ConvDownsampler then ConvUpsampler as they were written with flax's nn.Conv / nn.ConvTranspose."""

    @nn.compact
    def __call__(self, x):
        for width in (4, 8):
            x = nn.relu(nn.Conv(width, (3, 3), strides=(2, 2), padding="SAME")(x))
        for width in (8, 4):
            x = nn.relu(nn.ConvTranspose(width, (3, 3), strides=(2, 2), padding="SAME")(x))
        return nn.Conv(1, (3, 3), padding="SAME")(x)


class _DownUp(nn.Module):
    @nn.compact
    def __call__(self, x):
        from genjax.models.networks.layers import ConvDownsampler, ConvUpsampler

        return ConvUpsampler((8, 4), 1)(ConvDownsampler((4, 8))(x))


def test_conv_stacks_keep_the_flax_parameter_tree_and_function():
    (x,) = _arrays((2, 8, 8, 1))
    params = _FlaxDownUp().init(jax.random.key(0), x)
    ours = _DownUp().init(jax.random.key(0), x)["params"]
    flat = {"ConvDownsampler_0": {}, "ConvUpsampler_0": {}}
    for name, leaf in params["params"].items():
        flat["ConvDownsampler_0" if name in ("Conv_0", "Conv_1") else "ConvUpsampler_0"][
            name.replace("Conv_2", "Conv_0")
        ] = leaf
    # Same names and shapes (the init values differ: flax folds the module path into each key).
    assert jax.tree.map(jnp.shape, ours) == jax.tree.map(jnp.shape, flat)
    _close(_DownUp().apply({"params": flat}, x), _FlaxDownUp().apply(params, x))
