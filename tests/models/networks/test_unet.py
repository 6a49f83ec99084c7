"""DDPM's U-Net: shapes at every supported size, the parameter count of Ho et al.'s CIFAR-10 model from
an independent closed form, conditioning, per-example independence, dropout and attention maths."""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.models.networks.unet import AttnBlock, UNet, check_image_size, group_count, unet_num_params

# Module fixtures are built once per worker: one group keeps this module on one worker (--dist=loadgroup).
pytestmark = pytest.mark.xdist_group("unet")

TINY = dict(channels=8, channel_mults=(1, 2), num_res_blocks=1, attention_resolutions=(4,))


def closed_form_count(
    image_shape, channels, channel_mults, num_res_blocks, attention_resolutions, out_channels=None
):
    """Parameters of the architecture as described by Ho et al. (2020), counted layer by layer by hand."""
    height, _, in_channels = image_shape
    temb = 4 * channels

    def conv(i, o, k=3):
        return k * k * i * o + o

    def dense(i, o):
        return i * o + o

    def res(i, o):  # two norms, two 3x3 convs, the temb projection, a 1x1 skip if widths differ
        return 2 * i + conv(i, o) + dense(temb, o) + 2 * o + conv(o, o) + (conv(i, o, 1) if i != o else 0)

    def attn(c):  # norm, q, k, v, out projection
        return 2 * c + 4 * dense(c, c)

    total = dense(channels, temb) + dense(temb, temb) + conv(in_channels, channels)
    skips, width, size = [channels], channels, height
    for level, mult in enumerate(channel_mults):
        for _ in range(num_res_blocks):
            total += res(width, channels * mult)
            width = channels * mult
            total += attn(width) if size in attention_resolutions else 0
            skips.append(width)
        if level < len(channel_mults) - 1:
            total += conv(width, width)
            skips.append(width)
            size //= 2
    total += 2 * res(width, width) + attn(width)
    for level in reversed(range(len(channel_mults))):
        for _ in range(num_res_blocks + 1):
            target = channels * channel_mults[level]
            total += res(width + skips.pop(), target) + (attn(target) if size in attention_resolutions else 0)
            width = target
        if level > 0:
            total += conv(width, width)
            size *= 2
    assert not skips
    return total + 2 * width + conv(width, out_channels or in_channels)


def test_cifar10_config_has_ho_et_al_parameter_count():
    config = dict(channels=128, channel_mults=(1, 2, 2, 2), num_res_blocks=2, attention_resolutions=(16,))
    count = unet_num_params((32, 32, 3), dropout=0.1, **config)
    print(f"CIFAR-10 DDPM U-Net parameters: {count:,}")
    assert count == closed_form_count((32, 32, 3), **config)
    assert abs(count - 35.7e6) / 35.7e6 < 0.01  # "35.7 million parameters" (Ho et al. 2020, appendix B)


@pytest.mark.slow
@pytest.mark.parametrize(
    "image_shape, config",
    [
        ((28, 28, 1), dict(channels=8, channel_mults=(1, 2, 2), attention_resolutions=(14,))),
        (
            (32, 32, 3),
            dict(channels=16, channel_mults=(1, 2, 2, 2), num_res_blocks=1, attention_resolutions=(8,)),
        ),
        ((8, 8, 1), dict(TINY, out_channels=2)),
    ],
)
def test_shapes_and_parameter_counts_at_supported_sizes(image_shape, config):
    x = jax.ShapeDtypeStruct((2, *image_shape), jnp.float32)
    cond = jax.ShapeDtypeStruct((2,), jnp.float32)
    model = UNet(**config)
    params = jax.eval_shape(lambda x, c: model.init(jax.random.key(0), x, c), x, cond)
    out = jax.eval_shape(model.apply, params, x, cond)
    out_channels = config.get("out_channels") or image_shape[-1]
    assert out.shape == (2, *image_shape[:2], out_channels) and out.dtype == jnp.float32
    count = sum(math.prod(p.shape) for p in jax.tree.leaves(params))
    assert count == closed_form_count(image_shape, **{"num_res_blocks": 2, **config})


@pytest.mark.parametrize(
    "height, width, mults", [(28, 28, (1, 2, 2, 2)), (30, 28, (1, 2, 2)), (8, 7, (1, 2)), (6, 6, (1, 1, 1))]
)
def test_sizes_that_cannot_halve_raise(height, width, mults):
    with pytest.raises(ValueError, match="channel_mults"):
        check_image_size(height, width, mults)
    with pytest.raises(ValueError, match="channel_mults"):
        jax.eval_shape(
            lambda x, c: UNet(channels=8, channel_mults=mults).init(jax.random.key(0), x, c),
            jax.ShapeDtypeStruct((1, height, width, 1), jnp.float32),
            jax.ShapeDtypeStruct((1,), jnp.float32),
        )


def random_params(model, x, cond, seed):
    """Parameters of ``model`` drawn directly (kernels ~ N(0, 1/fan_in), norm scales ~ 1 + N(0, 0.04),
    biases ~ N(0, 0.04)) from the shapes alone: no zero-initialised layer hides the conditioning, and
    no init program (slow to compile on CPU) is built."""
    shapes = jax.eval_shape(lambda x, c: model.init(jax.random.key(0), x, c), x, cond)
    rng = np.random.default_rng(seed)

    def draw(path, leaf):
        name = jax.tree_util.keystr(path)
        noise = rng.standard_normal(leaf.shape)
        if "kernel" in name:
            return (noise / math.sqrt(math.prod(leaf.shape[:-1]))).astype(np.float32)
        return (("scale" in name) + 0.2 * noise).astype(np.float32)

    return jax.tree_util.tree_map_with_path(draw, shapes)


@pytest.fixture(scope="module")
def tiny():
    """A tiny 8x8 U-Net (attention at 4x4 and in the middle), a jitted apply and random params.

    The apply always passes a dropout rng (seed ``key``), so evaluation calls share one compilation;
    "rbg" keys compile much faster on CPU than threefry ones."""
    model = UNet(**TINY, dropout=0.5)
    x = np.random.default_rng(0).standard_normal((3, 8, 8, 1)).astype(np.float32)
    cond = np.array([0.0, 10.0, 500.0], np.float32)

    @functools.partial(jax.jit, static_argnames="train")
    def apply(params, x, cond, key=0, train=False):
        return model.apply(params, x, cond, train=train, rngs={"dropout": jax.random.key(key, impl="rbg")})

    return model, apply, random_params(model, x, cond, seed=1), x, cond


@pytest.mark.parametrize(
    "channels, expected", [(128, 32), (384, 32), (48, 24), (24, 12), (8, 4), (3, 1), (1, 1)]
)
def test_group_count_divides_and_keeps_two_channels_per_group(channels, expected):
    assert group_count(channels, 32) == expected


@pytest.mark.slow
def test_output_starts_at_zero():
    # One level, no attention: the smallest U-Net; a cheap rng keeps the init program quick to compile.
    model = UNet(channels=4, channel_mults=(1,), num_res_blocks=1, attention_resolutions=())
    x = np.random.default_rng(0).standard_normal((2, 4, 4, 2)).astype(np.float32)
    params = jax.jit(model.init)(jax.random.key(0, impl="unsafe_rbg"), x, np.ones(2, np.float32))
    np.testing.assert_array_equal(params["params"]["conv_out"]["kernel"], 0.0)
    np.testing.assert_array_equal(jax.jit(model.apply)(params, x, np.ones(2, np.float32)), 0.0)


@pytest.mark.slow
def test_output_depends_on_cond_and_examples_do_not_interact(tiny):
    _, apply, params, x, cond = tiny
    out = np.asarray(apply(params, x, cond))
    assert np.all(np.isfinite(out)) and np.abs(out).max() > 1e-3
    # Change example 0's conditioning only: example 0 moves, the others stay bit-for-bit the same.
    moved = np.asarray(apply(params, x, np.r_[np.float32(3.0), cond[1:]]))
    assert np.abs(moved[0] - out[0]).max() > 1e-3
    np.testing.assert_allclose(moved[1:], out[1:], atol=1e-6)
    # Change example 2's image only: the others are unaffected (GroupNorm is per example).
    x_moved = x.copy()
    x_moved[2] = -x_moved[2] + 1.0
    moved = np.asarray(apply(params, x_moved, cond))
    assert np.abs(moved[2] - out[2]).max() > 1e-3
    np.testing.assert_allclose(moved[:2], out[:2], atol=1e-6)


@pytest.mark.slow
def test_dropout_only_with_train_and_a_dropout_rng(tiny):
    model, apply, params, x, cond = tiny
    evaluation = np.asarray(apply(params, x, cond, key=0))
    np.testing.assert_array_equal(apply(params, x, cond, key=5), evaluation)  # the rng goes unused
    first = np.asarray(apply(params, x, cond, key=5, train=True))
    np.testing.assert_array_equal(apply(params, x, cond, key=5, train=True), first)
    other = np.asarray(apply(params, x, cond, key=6, train=True))
    assert np.abs(first - evaluation).max() > 1e-3 and np.abs(first - other).max() > 1e-3
    with pytest.raises(Exception, match="dropout"):  # flax's missing-rng error names the collection
        jax.eval_shape(lambda p: model.apply(p, x, cond, train=True), params)
    # At rate 0 training needs no rng and changes nothing.
    no_dropout = UNet(**TINY)
    trained = jax.eval_shape(lambda p: no_dropout.apply(p, x, cond, train=True), params)
    assert trained.shape == x.shape


def test_attention_block_matches_a_numpy_reference():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 2, 8)).astype(np.float32)
    block = AttnBlock(num_groups=4)
    params = jax.jit(block.init)(jax.random.key(0), x)
    params = jax.tree.map(lambda p: (p + 0.3 * rng.standard_normal(p.shape)).astype(np.float32), params)
    got = np.asarray(jax.jit(block.apply)(params, x))
    p = jax.tree.map(lambda a: np.asarray(a, np.float64), params["params"])
    expected = np.empty_like(x, dtype=np.float64)
    for b in range(2):
        # GroupNorm over (H, W, channels of the group), 4 groups of 2 channels, eps 1e-6.
        groups = x[b].astype(np.float64).reshape(6, 4, 2)
        mean = groups.mean(axis=(0, 2), keepdims=True)
        var = groups.var(axis=(0, 2), keepdims=True)
        h = ((groups - mean) / np.sqrt(var + 1e-6)).reshape(6, 8) * p["norm"]["scale"] + p["norm"]["bias"]
        q, k, v = (h @ p[n]["kernel"] + p[n]["bias"] for n in ("q", "k", "v"))
        logits = q @ k.T / np.sqrt(8)
        weights = np.exp(logits - logits.max(axis=1, keepdims=True))
        weights /= weights.sum(axis=1, keepdims=True)
        out = (weights @ v) @ p["proj_out"]["kernel"] + p["proj_out"]["bias"]
        expected[b] = x[b] + out.reshape(3, 2, 8)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
