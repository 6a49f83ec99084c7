"""Masked convolutions from their visible taps equal the dense masked kernel: outputs and gradients."""

from functools import partial

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.models.autoregressive.gated_pixelcnn import GatedPixelCNN
from genjax.models.autoregressive.pixelcnn import PixelCNN
from genjax.models.networks import masked
from genjax.models.networks.masked import MaskedConv2D, PaddedConv2D, masked_conv, pixel_mask

KERNELS = [(1, 1), (1, 3), (3, 3), (5, 5), (7, 7)]


def _dense_reference(x, kernel, *, mask_type, num_groups):
    """The previous implementation: 'SAME' convolution with the whole kernel times its mask."""
    mask = pixel_mask(kernel.shape[:2], kernel.shape[2], kernel.shape[3], num_groups, mask_type=mask_type)
    dense = kernel * jnp.asarray(mask)
    return jax.lax.conv_general_dilated(x, dense, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))


def _inputs(kernel_size, num_groups, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(2, 6, 7, 2 * num_groups)).astype(np.float32)
    kernel = rng.normal(size=(*kernel_size, 2 * num_groups, 4 * num_groups)).astype(np.float32)
    cotangent = rng.normal(size=(2, 6, 7, 4 * num_groups)).astype(np.float32)
    return jnp.asarray(x), jnp.asarray(kernel), jnp.asarray(cotangent)


@pytest.fixture(params=["im2col", pytest.param("conv", marks=pytest.mark.slow)])
def tap_form(request, monkeypatch):
    """The shipped im2col form, and the per-rectangle convolution form kept as the measured alternative."""
    monkeypatch.setattr(masked, "TAP_FORM", request.param)
    return request.param


@pytest.mark.parametrize("num_groups", [1, 3])
@pytest.mark.parametrize("mask_type", ["A", "B"])
def test_taps_equal_the_dense_masked_kernel_in_value_and_gradients(tap_form, mask_type, num_groups):
    cases = [_inputs(kernel_size, num_groups, seed) for seed, kernel_size in enumerate(KERNELS)]

    @jax.jit
    def outputs_and_gradients(cases):
        """Per kernel size, (taps, dense) pairs of (output, d/dx, d/dkernel): one compiled program."""
        results = []
        for x, kernel, cotangent in cases:
            pair = []
            for conv in (masked_conv, _dense_reference):
                out, vjp = jax.vjp(partial(conv, mask_type=mask_type, num_groups=num_groups), x, kernel)
                pair.append((out, *vjp(cotangent)))
            results.append(pair)
        return results

    results = outputs_and_gradients(cases)
    for kernel_size, (_, kernel, _), (taps, dense) in zip(KERNELS, cases, results, strict=True):
        for got, want, atol in zip(taps, dense, (1e-5, 1e-4, 1e-4), strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=atol, err_msg=str(kernel_size))
        # Hidden taps get exactly zero gradient; the visible ones do not (the test is not vacuous).
        mask = pixel_mask(kernel_size, kernel.shape[2], kernel.shape[3], num_groups, mask_type=mask_type)
        grad_kernel = np.asarray(taps[2])
        assert np.all(grad_kernel[mask == 0] == 0.0) and np.all(grad_kernel[mask == 1] != 0.0)


def test_masked_layer_keeps_the_dense_parameters_and_output():
    x, _, _ = _inputs((3, 3), 3)
    layer = MaskedConv2D(12, (3, 3), "B", 3)
    params = layer.init(jax.random.key(0), x)
    shapes = jax.tree.map(lambda leaf: (leaf.shape, leaf.dtype), params["params"])
    assert shapes == {"kernel": ((3, 3, 6, 12), jnp.float32), "bias": ((12,), jnp.float32)}
    params = jax.tree.map(lambda leaf: leaf + 0.1, params)  # a nonzero bias
    expected = _dense_reference(x, params["params"]["kernel"], mask_type="B", num_groups=3)
    expected = expected + params["params"]["bias"]
    np.testing.assert_allclose(layer.apply(params, x), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "kernel_size, padding",
    [((4, 7), ((3, 0), (3, 3))), ((2, 3), ((1, 0), (1, 1))), ((1, 1), ((0, 0), (0, 0)))],
)
def test_padded_conv_is_flax_conv_with_the_same_parameters(tap_form, kernel_size, padding):
    x, _, _ = _inputs((1, 1), 3)
    ours, theirs = PaddedConv2D(8, kernel_size, padding), nn.Conv(8, kernel_size, padding=padding)
    params = ours.init(jax.random.key(1), x)
    flax_params = theirs.init(jax.random.key(1), x)
    jax.tree.map(np.testing.assert_array_equal, params, flax_params)  # same tree, same initial values
    params = jax.tree.map(lambda leaf: leaf + 0.1, params)
    out, vjp = jax.vjp(lambda p, x: ours.apply(p, x), params, x)
    expected, flax_vjp = jax.vjp(lambda p, x: theirs.apply(p, x), params, x)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    cotangent = jnp.asarray(np.random.default_rng(2).normal(size=out.shape), jnp.float32)
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4),
        vjp(cotangent),
        flax_vjp(cotangent),
    )


@pytest.mark.slow  # four model compilations; not timed on a quiet machine
def test_pixelcnns_equal_their_dense_masked_versions_in_value_and_gradients(monkeypatch):
    """Whole models, 3 colour groups, a class-conditional Gated PixelCNN: taps against whole kernels."""
    x = jnp.asarray((np.random.default_rng(3).random((2, 7, 7, 3)) < 0.4).astype(np.float32))
    label = jnp.array([0, 2])
    models = [
        (PixelCNN(2, features=6, num_blocks=1, first_kernel=5, output_features=6), (x,)),
        (
            GatedPixelCNN(2, features=6, num_layers=2, first_kernel=5, output_features=6, num_classes=3),
            (x, label),
        ),
    ]
    for module, args in models:
        params = module.init(jax.random.key(0), *args)
        params = jax.tree.map(lambda leaf: leaf + 0.1, params)  # nonzero biases

        def value_and_grad(params, module=module, args=args):
            out, vjp = jax.vjp(lambda p: module.apply(p, *args), params)
            return out, vjp(jnp.cos(out))[0]

        out, grads = jax.jit(value_and_grad)(params)
        monkeypatch.setattr(masked, "TAP_FORM", "dense")  # the layers before issue 18
        want_out, want_grads = jax.jit(value_and_grad)(params)
        monkeypatch.setattr(masked, "TAP_FORM", "im2col")
        np.testing.assert_allclose(out, want_out, rtol=1e-5, atol=1e-5)
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4), grads, want_grads)
