"""The label-free binarized MNIST encoder: its loss, augmentations, training and shipped weights."""

from __future__ import annotations

import math
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.configs.common import shared_data_path
from genjax.features import mnist_encoder as me

DATA = Path(shared_data_path("binarized_mnist.npz"))
needs_data = pytest.mark.skipif(
    not DATA.is_file(), reason=f"no shared binarized MNIST at {DATA} (set $GENJAX_SHARED_DATA)"
)


def numpy_nt_xent(z_a: np.ndarray, z_b: np.ndarray, temperature: float) -> float:
    """Reference: one softmax per view over every other view, written as plain loops."""
    z = np.concatenate([z_a, z_b]).astype(np.float64)
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    n, b = len(z), len(z_a)
    total = 0.0
    for i in range(n):
        partner = i + b if i < b else i - b
        others = [np.exp(z[i] @ z[k] / temperature) for k in range(n) if k != i]
        total += -math.log(np.exp(z[i] @ z[partner] / temperature) / sum(others))
    return total / n


# Jitted once per module: eager dispatch of the loss's dozen ops costs more than compiling it.
nt_xent = jax.jit(me.nt_xent_loss, static_argnames="temperature")


def random_binary(seed: int, num: int = 8) -> jax.Array:
    return jnp.asarray(np.random.default_rng(seed).random((num, 28, 28, 1)) < 0.2, jnp.float32)


# ---------------------------------------------------------------- the loss


@pytest.mark.parametrize("temperature", [0.1, 0.5, 2.0])
def test_nt_xent_matches_numpy_reference(temperature):
    rng = np.random.default_rng(0)
    z_a, z_b = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    got = nt_xent(jnp.asarray(z_a), jnp.asarray(z_b), temperature=temperature)
    np.testing.assert_allclose(float(got), numpy_nt_xent(z_a, z_b, temperature), rtol=1e-5)


@pytest.mark.parametrize("batch", [2, 5])
def test_nt_xent_equal_similarities_is_chance(batch):
    # Every view identical: all 2B - 1 candidates are equally likely, loss = log(2B - 1).
    z = jnp.ones((batch, 7))
    np.testing.assert_allclose(
        float(nt_xent(z, 3.0 * z, temperature=0.3)), math.log(2 * batch - 1), rtol=1e-6
    )
    # All-zero embeddings have similarity 0 everywhere (no NaN from normalising them).
    np.testing.assert_allclose(float(nt_xent(z * 0, z * 0)), math.log(2 * batch - 1), rtol=1e-6)


def test_nt_xent_aligned_orthogonal_pairs():
    # Partners equal, other views orthogonal: log(1 + (2B - 2) exp(-1 / tau)).
    batch, tau = 4, 0.25
    z = jnp.eye(batch, 6)
    expected = math.log(1 + (2 * batch - 2) * math.exp(-1 / tau))
    np.testing.assert_allclose(float(nt_xent(z, z, temperature=tau)), expected, rtol=1e-6)


def test_nt_xent_is_scale_invariant_and_differentiable():
    rng = np.random.default_rng(1)
    z_a, z_b = jnp.asarray(rng.normal(size=(6, 4))), jnp.asarray(rng.normal(size=(6, 4)))
    scales = jnp.asarray(rng.uniform(0.1, 10, size=(6, 1)))
    np.testing.assert_allclose(float(nt_xent(z_a * scales, z_b)), float(nt_xent(z_a, z_b)), rtol=1e-5)
    grads = jax.jit(jax.grad(lambda a: me.nt_xent_loss(a, z_b)))(z_a)
    assert np.all(np.isfinite(grads))
    # Moving each view towards its partner lowers the loss.
    assert float(nt_xent(z_a + 0.5 * (z_b - z_a), z_b)) < float(nt_xent(z_a, z_b))


def test_nt_xent_rejects_bad_inputs():
    with pytest.raises(AssertionError, match="one shape"):
        me.nt_xent_loss(jnp.ones((4, 3)), jnp.ones((5, 3)))
    with pytest.raises(ValueError, match="temperature"):
        me.nt_xent_loss(jnp.ones((4, 3)), jnp.ones((4, 3)), temperature=0.0)


# ---------------------------------------------------------------- augmentations


@pytest.mark.parametrize("name", ["augment", "random_affine", "random_flips", "random_erasing"])
def test_augmentations_keep_images_binary_and_shaped(name):
    images = random_binary(0)
    fn = jax.jit(getattr(me, name))
    out = fn(jax.random.key(1), images)
    assert out.shape == images.shape and out.dtype == images.dtype
    assert set(np.unique(np.asarray(out))) <= {0.0, 1.0}
    np.testing.assert_array_equal(out, fn(jax.random.key(1), images))  # a pure function of its key
    assert not np.array_equal(out, fn(jax.random.key(2), images))


# Options are traced keyword arguments below: one compilation per augmentation.


def test_affine_without_range_is_the_identity():
    images, key = random_binary(3), jax.random.key(0)
    still = jax.jit(me.random_affine)(key, images, max_rotation=0.0, max_scale=0.0, max_shift=0.0)
    np.testing.assert_array_equal(still, images)


def test_flips_follow_their_rate():
    images, key = random_binary(3), jax.random.key(0)
    flips = jax.jit(me.random_flips)
    np.testing.assert_array_equal(flips(key, images, rate=0.0), images)
    np.testing.assert_array_equal(flips(key, images, rate=1.0), 1.0 - images)
    flipped = flips(key, jnp.zeros_like(images), rate=0.05)
    assert abs(float(flipped.mean()) - 0.05) < 0.01  # 6272 pixels: 3.6 standard errors


def test_erasing_only_removes_ink():
    images, key = random_binary(3), jax.random.key(0)
    erasing = jax.jit(me.random_erasing)
    erased = erasing(key, images, prob=1.0)
    assert np.all(erased <= images) and float(erased.sum()) < float(images.sum())
    np.testing.assert_array_equal(erasing(key, images, prob=0.0), images)


def test_unpack_images_layout():
    bits = np.zeros((1, 784), np.uint8)
    bits[0, 28 * 3 + 5] = 1  # row 3, column 5
    packed = np.packbits(bits, axis=1)
    assert packed.shape == (1, 98)
    images = me.unpack_images(packed)
    assert images.shape == (1, 28, 28, 1) and images[0, 3, 5, 0] == 1 and images.sum() == 1
    with pytest.raises(ValueError, match="98"):
        me.unpack_images(np.zeros((2, 97), np.uint8))


# ---------------------------------------------------------------- shipped weights


def test_shipped_weights_load_and_give_features():
    assert me.WEIGHTS_FILE.stat().st_size < 1_000_000
    net = me.load_mnist_encoder()
    assert (net.name, net.input_shape, net.logits, net.num_features) == (
        "mnist_encoder",
        (28, 28, 1),
        None,
        128,
    )
    images = random_binary(4, num=5)
    feats = jax.jit(net.features)(images)
    assert feats.shape == (5, 128) and np.all(np.isfinite(feats))
    # A feature depends on its own image only, not on the batch around it.
    np.testing.assert_allclose(net.features(images[2:3]), feats[2:3], rtol=1e-5, atol=1e-5)
    assert float(jnp.std(feats, axis=0).min()) > 0  # no dead feature on varied inputs


def test_load_missing_weights_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no file"):
        me.load_mnist_encoder(tmp_path / "absent.npz")


def test_binary_names_a_missing_data_file(tmp_path):
    from experiments.features.splits import mnist_splits as load_splits
    from genjax.errors import ConfigError

    with pytest.raises(ConfigError, match="--data: no binarized MNIST file"):
        load_splits(str(tmp_path / "absent.npz"))


@needs_data
@pytest.mark.slow
def test_shipped_encoder_retrieves_augmented_views():
    # 500 test images (never trained on), one training-style augmentation each; a view
    # must find its own original as nearest neighbour in feature space. Chance: 1/500.
    # Measured 0.45-0.46 over three augmentation seeds; a random-init encoder gets
    # 0.06-0.10 and raw pixels 0.21, so 0.35 can only be met by learned features.
    from experiments.features.mnist_stability import retrieval_top1

    with np.load(DATA) as data:
        originals = me.unpack_images(data["test"][:500]).astype(np.float32)
    net = me.load_mnist_encoder()
    top1 = retrieval_top1(net.features, originals, seed=0)
    pixels = retrieval_top1(lambda x: x.reshape(len(x), -1), originals, seed=0)
    assert top1 > 0.35, top1
    assert top1 > pixels + 0.1, (top1, pixels)


@pytest.mark.slow
def test_training_lowers_the_loss_below_chance():
    # Random blobs at random places: enough structure for views of one image to match.
    rng = np.random.default_rng(0)
    images = np.zeros((256, 28, 28), np.uint8)
    for image, (r, c, h, w) in zip(
        images, rng.integers([2, 2, 4, 4], [20, 20, 10, 10], (256, 4)), strict=True
    ):
        image[r : r + h, c : c + w] = 1
    params, history = me.train_mnist_encoder(0, images, num_steps=40, batch_size=32, log_every=10)
    assert set(params) == {"encoder", "head_hidden", "head_out"}
    assert history["chance_loss"] == pytest.approx(math.log(63))
    # Measured (seeds 0, 1): last 10-step means 2.29 and 2.13 against chance 4.14, first 3.49 and 3.37.
    assert history["loss"][-1] < 0.75 * history["chance_loss"], history["loss"]
    assert history["loss"][-1] < history["loss"][0] - 0.5, history["loss"]
