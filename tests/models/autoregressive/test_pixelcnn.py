"""PixelCNN and Gated PixelCNN: exact normalisation, the channel-fastest autoregressive order, blind spots."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.distributions import bernoulli_log_prob
from genjax.models.autoregressive.gated_pixelcnn import GatedPixelCNN
from genjax.models.autoregressive.pixelcnn import PixelCNN
from genjax.models.networks.masked import pixel_mask

# Tiny nets whose widths split into 3 colour groups (so they serve C = 1 and C = 3), four units
# per group: with fewer, dead ReLUs too often hide a real dependence from the Jacobian checks.
SIZES = {"features": 12, "first_kernel": 3, "output_features": 12}
MODELS = {
    "pixelcnn": lambda p, **kw: PixelCNN(p, num_blocks=2, **SIZES, **kw),
    "gated": lambda p, **kw: GatedPixelCNN(p, num_layers=3, **SIZES, **kw),
}


def _random_model(module, shape, label=None, seed=0):
    """Random parameters of ``module`` for `[1, *shape]` images: N(0, 4/fan_in) kernels, N(0, 0.5^2) rest.

    Drawn with numpy on the shapes of ``module.init`` (traced, not run): compiling the JAX RNG
    for every leaf would cost seconds, and no leaf is zero or shared (biases included).
    """
    args = (jnp.zeros((1, *shape)),) if label is None else (jnp.zeros((1, *shape)), jnp.zeros((1,), int))
    shapes = jax.eval_shape(module.init, jax.random.key(0), *args)
    rng = np.random.default_rng(seed)

    def draw(path, leaf):
        is_kernel = jax.tree_util.keystr(path).endswith("['kernel']")
        scale = 2.0 / np.sqrt(np.prod(leaf.shape[:-1])) if is_kernel else 0.5
        return jnp.asarray(rng.normal(0.0, scale, leaf.shape), jnp.float32)

    return jax.tree_util.tree_map_with_path(draw, shapes)


def _all_binary_images(height, width):
    """All 2^(H W) binary one-channel images `[N, H, W, 1]`."""
    bits = np.array(list(itertools.product([0.0, 1.0], repeat=height * width)), np.float32)
    return jnp.asarray(bits.reshape(-1, height, width, 1))


def _log_probs(module, params, images, label=None):
    """log p(x) `[N]` with the single output parameter as a Bernoulli logit."""
    args = () if label is None else (jnp.full((images.shape[0],), label),)
    logits = jax.jit(module.apply)(params, images, *args)[..., 0]
    return bernoulli_log_prob(images.reshape(images.shape[0], -1), logits.reshape(images.shape[0], -1))


def _jacobian(module, params, shape, num_inputs=4, seed=2):
    """|d out / d x| at ``num_inputs`` random binary images, max over them: `[D, P, D]`, channel-fastest.

    A ReLU net's Jacobian at one input can miss a real dependence (all units on the path off); a
    masked-out one is zero at every input, so the maximum tells the two apart.
    """
    num_dims = int(np.prod(shape))
    xs = jax.random.bernoulli(jax.random.key(seed), 0.5, (num_inputs, num_dims)).astype(jnp.float32)

    def flat_out(v):
        return module.apply(params, v.reshape(1, *shape))[0].reshape(num_dims, -1)  # [D, P]

    return np.abs(np.asarray(jax.jit(jax.vmap(jax.jacfwd(flat_out)))(xs))).max(0)


def test_pixel_mask_centre_groups_follow_mask_a_and_b():
    a = pixel_mask((3, 3), 3, 6, 3, mask_type="A")
    b = pixel_mask((3, 3), 3, 6, 3, mask_type="B")
    # Output channel o is colour o % 3; input channel k is colour k.
    np.testing.assert_array_equal(a[1, 1, :, :3], [[0, 1, 1], [0, 0, 1], [0, 0, 0]])
    np.testing.assert_array_equal(b[1, 1, :, :3], [[1, 1, 1], [0, 1, 1], [0, 0, 1]])
    for mask in (a, b):
        assert mask[0].all() and mask[1, 0].all() and not mask[1, 2].any() and not mask[2].any()


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_all_512_binary_3x3_images_have_total_probability_one(name):
    module = MODELS[name](1)
    params = _random_model(module, (3, 3, 1))
    log_p = _log_probs(module, params, _all_binary_images(3, 3))
    np.testing.assert_allclose(jnp.sum(jnp.exp(log_p)), 1.0, rtol=1e-5)
    assert float(jnp.std(log_p)) > 0.5  # far from uniform: the sum is not trivially one


@pytest.mark.slow
@pytest.mark.parametrize("shape", [(4, 4, 1), (3, 3, 3)])
@pytest.mark.parametrize("name", MODELS)
def test_output_d_depends_only_on_dimensions_before_d(name, shape):
    module = MODELS[name](2)
    params = _random_model(module, shape)
    jacobian = _jacobian(module, params, shape)  # [D, P, D] magnitudes
    num_dims = jacobian.shape[0]
    at_or_after = np.triu(np.ones((num_dims, num_dims), bool))  # [out d, in e]: e >= d
    np.testing.assert_array_equal(np.where(at_or_after[:, None, :], jacobian, 0.0), 0.0)
    # Not over-masked either: every output reads the dimension right before it in its row (for
    # colour c > 0 that is colour c - 1 of the same pixel, so the centre channel groups are open).
    # A row's first dimension is left out: the previous row's last pixel is in PixelCNN's blind spot.
    channels, width = shape[2], shape[1]
    in_row = [d for d in range(1, num_dims) if d % (width * channels) != 0]
    assert (jacobian[in_row, :, np.subtract(in_row, 1)] > 0).all()
    if name == "gated":  # three layers cover these images: no blind spot, every earlier dimension
        assert (jacobian.max(1)[~at_or_after] > 0).all()


def _pixel_dependence(module, params, size):
    """`[H W, H W]` bool for one-channel `size x size` images: [q, r] when pixel q's output reads pixel r."""
    jacobian = _jacobian(module, params, (size, size, 1))
    return jacobian.max(1) > 0


def _reachable_by_masked_3x3_stack(size, num_b_layers):
    """The same pattern by path counting: one mask-A step, then up to ``num_b_layers`` mask-B steps."""
    steps_a = [(-1, -1), (-1, 0), (-1, 1), (0, -1)]  # rows above (3 wide) and the left neighbour
    offsets = set(steps_a)
    for _ in range(num_b_layers):  # mask B adds the centre: a layer may also stay put
        offsets |= {(a + c, b + d) for a, b in offsets for c, d in [*steps_a, (0, 0)]}
    reach = np.zeros((size * size,) * 2, bool)
    for i, j, (di, dj) in itertools.product(range(size), range(size), offsets):
        if 0 <= i + di < size and 0 <= j + dj < size:
            reach[i * size + j, (i + di) * size + j + dj] = True
    return reach


@pytest.mark.slow
def test_pixelcnn_has_a_blind_spot_that_gated_pixelcnn_does_not():
    size = 7
    earlier = np.tril(np.ones((size * size,) * 2, bool), k=-1)  # [out, in]: in strictly before out
    # Six 3x3 blocks after the first layer: receptive fields span the image, yet the blind spot stays.
    pixelcnn = PixelCNN(1, features=8, num_blocks=6, first_kernel=3, output_features=8)
    seen = _pixel_dependence(pixelcnn, _random_model(pixelcnn, (size, size, 1)), size)
    np.testing.assert_array_equal(seen, _reachable_by_masked_3x3_stack(size, num_b_layers=6))
    for i, j in itertools.product(range(1, size), range(size - 2)):
        # Up-right steps are the only way right, each costing a row: (i-1, j+2) is never read.
        assert not seen[i * size + j, (i - 1) * size + j + 2], (i, j)
    assert seen[earlier].mean() < 0.9

    gated = GatedPixelCNN(1, features=4, num_layers=size, kernel_size=3, first_kernel=3, output_features=4)
    seen = _pixel_dependence(gated, _random_model(gated, (size, size, 1)), size)
    np.testing.assert_array_equal(seen, earlier)  # every strictly earlier pixel, nothing else


@pytest.mark.slow
def test_class_conditioning_changes_the_output_and_each_label_is_normalised():
    module = MODELS["gated"](1, num_classes=3)
    params = _random_model(module, (3, 3, 1), label=0)
    images = _all_binary_images(3, 3)
    per_label = [_log_probs(module, params, images, label) for label in range(3)]
    for log_p in per_label:
        np.testing.assert_allclose(jnp.sum(jnp.exp(log_p)), 1.0, rtol=1e-5)
    for first, second in itertools.combinations(per_label, 2):
        assert float(jnp.max(jnp.abs(first - second))) > 0.1
    with pytest.raises(ValueError, match="pass label"):
        module.apply(params, images[:1])
    with pytest.raises(ValueError, match="unconditional"):
        MODELS["gated"](1).init(jax.random.key(0), images[:1], jnp.zeros((1,), int))


def test_feature_counts_must_split_into_colour_groups():
    with pytest.raises(ValueError, match="divisible"):
        PixelCNN(1, features=4, output_features=6).init(jax.random.key(0), jnp.zeros((1, 3, 3, 3)))
    with pytest.raises(ValueError, match="divisible"):
        GatedPixelCNN(1, features=6, output_features=4).init(jax.random.key(0), jnp.zeros((1, 3, 3, 3)))
