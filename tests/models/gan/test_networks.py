"""GAN networks: DCGAN shapes and upsampling, batch-statistics norm, and the batch-aware critic features."""

import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.models.gan.dcgan import BatchStatNorm, DCGANDiscriminator, DCGANGenerator
from genjax.models.gan.minibatch import MinibatchDiscrimination, MinibatchStdDev
from genjax.models.gan.mlp import MLPDiscriminator, MLPGenerator, gan_activation

LATENT = 5


def _normal(shape, seed=0, scale=1.0, loc=0.0):
    return jnp.asarray(np.random.default_rng(seed).normal(loc, scale, shape), jnp.float32)


def _init(module, *args, seed=0):
    """Random variables of ``module`` drawn with numpy on the shapes of ``module.init`` (traced, not run).

    Kernels N(0, 1/fan_in), scales 1 + N(0, 0.1^2), biases N(0, 0.1^2): compiling the JAX RNG for every
    leaf would cost seconds per network on a shared CPU.
    """
    shapes = jax.eval_shape(module.init, jax.random.key(0), *args)
    rng = np.random.default_rng(seed)

    def draw(path, leaf):
        name = jax.tree_util.keystr(path)
        if name.endswith("['kernel']") or name.endswith("['T']"):
            value = rng.normal(0.0, 1.0 / np.sqrt(np.prod(leaf.shape[:-1])), leaf.shape)
        else:
            value = rng.normal(1.0 if name.endswith("['scale']") else 0.0, 0.1, leaf.shape)
        return jnp.asarray(value, jnp.float32)

    return jax.tree_util.tree_map_with_path(draw, shapes)


@pytest.mark.slow
@pytest.mark.parametrize("image_shape", [(8, 8, 1), (28, 28, 1), (32, 32, 3)])
def test_dcgan_shapes_two_doublings_and_sigmoid_range(image_shape):
    height, width, channels = image_shape
    features, batch = 4, 3
    generator = DCGANGenerator(image_shape, features=features)
    z = _normal((batch, LATENT))
    variables = _init(generator, z)
    apply = functools.partial(generator.apply, capture_intermediates=True, mutable=["intermediates"])
    x, state = jax.jit(apply)(variables, z)  # one compile: cheaper than eager's per-op compiles
    steps = state["intermediates"]
    # (H/4, W/4, 2F) after the projection, then exactly 2x per transposed convolution.
    assert variables["params"]["project"]["kernel"].shape == (LATENT, height // 4 * width // 4 * 2 * features)
    assert steps["upsample"]["__call__"][0].shape == (batch, height // 2, width // 2, features)
    assert steps["output"]["__call__"][0].shape == (batch, height, width, channels)
    assert x.shape == (batch, height, width, channels)
    assert bool(jnp.all((x > 0) & (x < 1)))

    critic = DCGANDiscriminator(features=features, norm="layer", minibatch_std=True)
    assert jax.jit(critic.apply)(_init(critic, x), x).shape == (batch,)


def test_dcgan_output_activations_and_invalid_settings():
    z = _normal((4, LATENT), scale=30.0)  # large inputs push a linear output past [-1, 1]
    ranges = {"tanh": (-1.0, 1.0), "none": (None, None)}
    outputs = {}
    for output in ranges:
        generator = DCGANGenerator((8, 8, 1), features=4, norm="none", output=output)
        outputs[output] = generator.apply(_init(generator, z), z)
    # Same key, same parameters: "tanh" is tanh of the raw "none" output.
    np.testing.assert_allclose(outputs["tanh"], jnp.tanh(outputs["none"]), atol=1e-6)
    assert float(jnp.abs(outputs["none"]).max()) > 1.0
    for shape in [(30, 30, 1), (28, 30, 1), (6, 8, 3)]:
        with pytest.raises(ValueError, match="divisible by 4"):
            DCGANGenerator(shape)
    with pytest.raises(ValueError, match="norm"):
        DCGANGenerator((8, 8, 1), norm="layer")
    with pytest.raises(ValueError, match="output"):
        DCGANGenerator((8, 8, 1), output="relu")
    with pytest.raises(ValueError, match="norm"):
        DCGANDiscriminator(norm="batch")


def test_batch_stat_norm_uses_batch_statistics_and_has_params_only():
    # Channels with very different means and scales.
    x = _normal((6, 5, 4, 3), seed=1) * jnp.array([0.5, 3.0, 10.0]) + jnp.array([5.0, -2.0, 0.0])
    norm = BatchStatNorm()
    variables = norm.init(jax.random.key(0), x)  # ones and zeros: no RNG to compile
    assert set(variables) == {"params"}
    np.testing.assert_array_equal(variables["params"]["scale"], np.ones(3))
    np.testing.assert_array_equal(variables["params"]["bias"], np.zeros(3))
    y = norm.apply(variables, x)
    np.testing.assert_allclose(y.mean(axis=(0, 1, 2)), 0.0, atol=1e-5)
    np.testing.assert_allclose(y.var(axis=(0, 1, 2)), 1.0, atol=1e-4)  # eps 1e-5 shrinks it by <= 4e-5 here

    # Learned scale and bias against a float64 numpy reference.
    scale, bias = np.array([2.0, -0.5, 1.5]), np.array([0.3, 1.0, -4.0])
    y = norm.apply({"params": {"scale": jnp.asarray(scale), "bias": jnp.asarray(bias)}}, x)
    x64 = np.asarray(x, np.float64)
    mean, var = x64.mean(axis=(0, 1, 2)), x64.var(axis=(0, 1, 2))
    np.testing.assert_allclose(y, (x64 - mean) / np.sqrt(var + 1e-5) * scale + bias, atol=2e-5)

    generator = DCGANGenerator((8, 8, 1), features=4)
    assert set(_init(generator, _normal((2, LATENT)))) == {"params"}


@pytest.mark.slow
@pytest.mark.parametrize("norm", ["batch", "none"])
def test_generator_sample_depends_on_its_batch_only_with_batch_norm(norm):
    generator = DCGANGenerator((8, 8, 1), features=4, norm=norm)
    z = _normal((4, LATENT))
    params = _init(generator, z)
    other = z.at[1:].set(_normal((3, LATENT), seed=5))  # example 0 unchanged, the rest redrawn
    change = float(jnp.abs(generator.apply(params, z)[0] - generator.apply(params, other)[0]).max())
    assert (change > 1e-3) if norm == "batch" else (change == 0.0)


@pytest.mark.slow
def test_minibatch_std_hand_computed_values():
    x = jnp.array([[1.0, 2.0], [3.0, 2.0], [0.0, 0.0], [0.0, 4.0]])
    out = MinibatchStdDev(group_size=2)(x)
    # Group {0, 1}: stds 1 and 0 -> 0.5; group {2, 3}: stds 0 and 2 -> 1.0 (each std has +1e-8 inside
    # the root, adding sqrt(1e-8) / 2 = 5e-5 to each mean).
    np.testing.assert_allclose(out[:, :2], x)
    np.testing.assert_allclose(out[:, 2], [0.50005, 0.50005, 1.00005, 1.00005], rtol=1e-6)

    # Batch 6 is not divisible by 4: one group of all six. Column 0 = 0..5 (std sqrt(35/12)), column 1 = 0.
    x = jnp.stack([jnp.arange(6.0), jnp.zeros(6)], axis=1)
    expected = (np.sqrt(35 / 12 + 1e-8) + np.sqrt(1e-8)) / 2
    np.testing.assert_allclose(MinibatchStdDev(group_size=4)(x)[:, 2], np.full(6, expected), rtol=1e-6)


def test_minibatch_std_images_against_numpy_loops():
    x = np.asarray(_normal((6, 3, 2, 4), seed=2), np.float64)
    out = np.asarray(MinibatchStdDev(group_size=3)(jnp.asarray(x, jnp.float32)))
    assert out.shape == (6, 3, 2, 5)
    np.testing.assert_allclose(out[..., :4], x, atol=1e-6)
    for group in range(2):
        members = x[3 * group : 3 * group + 3]
        stds = [
            np.sqrt(np.mean([(m[i, j, c] - members[:, i, j, c].mean()) ** 2 for m in members]) + 1e-8)
            for i, j, c in itertools.product(range(3), range(2), range(4))
        ]
        np.testing.assert_allclose(out[3 * group : 3 * group + 3, :, :, 4], np.mean(stds), rtol=1e-5)


def test_minibatch_std_identical_examples_give_zero():
    x = jnp.tile(_normal((1, 3, 3, 2), seed=3), (4, 1, 1, 1))
    np.testing.assert_allclose(MinibatchStdDev(group_size=2, epsilon=0.0)(x)[..., -1], 0.0, atol=1e-6)
    # With the default epsilon: sqrt(1e-8) = 1e-4, the floor that keeps the gradient finite.
    np.testing.assert_allclose(MinibatchStdDev(group_size=2)(x)[..., -1], 1e-4, rtol=1e-3)


CRITICS = {
    "mlp": (lambda mbstd: MLPDiscriminator((6, 6), minibatch_std=mbstd), (8, 5)),
    "dcgan": (lambda mbstd: DCGANDiscriminator(features=4, minibatch_std=mbstd), (8, 4, 4, 1)),
    "dcgan_layer": (
        lambda mbstd: DCGANDiscriminator(features=4, norm="layer", minibatch_std=mbstd),
        (8, 4, 4, 1),
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CRITICS))
@pytest.mark.parametrize("minibatch_std", [False, True])
def test_critic_output_depends_on_other_examples_only_with_minibatch_std(name, minibatch_std):
    build, shape = CRITICS[name]
    critic = build(minibatch_std)
    x = _normal(shape, seed=4)
    params = _init(critic, x)
    jacobian = jax.jit(jax.jacrev(critic.apply, argnums=1))(params, x)  # [B, B, ...]
    dependence = np.asarray(jnp.abs(jacobian).reshape(8, 8, -1).sum(-1))  # [i, j]: d out_i / d x_j
    assert np.all(np.diag(dependence) > 0)
    # With minibatch std: groups of 4 consecutive examples, nothing across groups.
    same_group = np.kron(np.eye(2), np.ones((4, 4))) if minibatch_std else np.eye(8)
    assert np.all(dependence[same_group == 1] > 1e-6)
    assert np.all(dependence[same_group == 0] == 0.0)


def test_minibatch_std_goes_after_the_hidden_stack():
    critic = MLPDiscriminator((6, 3), minibatch_std=True)
    params = _init(critic, jnp.zeros((4, 5)))["params"]
    assert params["hidden_0"]["kernel"].shape == (5, 6)
    assert params["hidden_1"]["kernel"].shape == (6, 3)
    assert params["output"]["kernel"].shape == (4, 1)  # 3 hidden features + the std feature


def test_mlp_generator_is_linear_at_the_output_and_leaky_slope():
    generator = MLPGenerator((8,), output_dim=3)
    z = _normal((5, 2))
    params = _init(generator, z)
    p = params["params"]
    hidden = np.maximum(
        np.asarray(z) @ np.asarray(p["hidden_0"]["kernel"]) + np.asarray(p["hidden_0"]["bias"]), 0
    )
    expected = hidden @ np.asarray(p["output"]["kernel"]) + np.asarray(p["output"]["bias"])
    np.testing.assert_allclose(generator.apply(params, z), expected, atol=1e-5)
    np.testing.assert_allclose(gan_activation("leaky_relu")(jnp.array([-1.0, 2.0])), [-0.2, 2.0])


def test_minibatch_discrimination_matches_numpy():
    x = _normal((5, 2, 3), seed=6)  # flattened to [5, 6]
    layer = MinibatchDiscrimination(num_kernels=4, kernel_dim=3)
    params = _init(layer, x)
    out = np.asarray(layer.apply(params, x))
    flat = np.asarray(x, np.float64).reshape(5, 6)
    rows = (flat @ np.asarray(params["params"]["T"], np.float64)).reshape(5, 4, 3)
    expected = np.zeros((5, 4))
    for i, j, b in itertools.product(range(5), range(5), range(4)):
        if i != j:
            expected[i, b] += np.exp(-np.sum(np.abs(rows[i, b] - rows[j, b])))
    assert out.shape == (5, 10)
    np.testing.assert_allclose(out[:, :6], flat, atol=1e-6)
    np.testing.assert_allclose(out[:, 6:], expected, rtol=1e-5, atol=1e-6)
    assert 0.1 < expected.mean() < 3.9 and expected.std() > 0.05  # a reference neither all 0 nor all 4
    # Self is excluded: a lone example has no neighbours.
    np.testing.assert_allclose(layer.apply(params, x[:1])[:, 6:], 0.0)
