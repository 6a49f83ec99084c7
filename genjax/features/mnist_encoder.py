"""A label-free CNN encoder of binarized MNIST: the feature network of its FID, KID and P/R.

The shared binarized MNIST file has no labels, so no classifier can be
trained on it; this encoder is trained instead by contrastive learning
(SimCLR, Chen et al. 2020): two random augmentations of each image are
embedded, and the NT-Xent (InfoNCE) loss pulls a pair together while pushing
it away from every other view in the batch. FID, KID, precision/recall and
the nearest-neighbour checks read the encoder's penultimate features
`[N, 128]`; there are no logits, so no inception score.

It is trained by ``python -m experiments.features.train_mnist_encoder`` on the
file's train split only (50,000 images), and the shipped weights
(``weights/mnist_encoder.npz``, the encoder without its projection head,
about 0.75 MB) reproduce from the command in that binary's docstring.

Images are `[N, 28, 28, 1]` in [0, 1]. The encoder was trained on binary
images; grey-level inputs (e.g. Bernoulli means instead of samples) are valid
inputs but lie off the training distribution, and the features say so.
"""

from __future__ import annotations

import math
import os
import time

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from genjax.features.base import WEIGHTS_DIR, FeatureNetwork, load_params

IMAGE_SHAPE = (28, 28, 1)
NUM_FEATURES = 128
PROJECTION_DIM = 64
WEIGHTS_FILE = WEIGHTS_DIR / "mnist_encoder.npz"


class MnistEncoder(nn.Module):
    """conv5x5-32/2, conv3x3-64/2, conv3x3-64/2, dense128; ReLU between, no normalisation.

    No batch norm: a feature must be a function of one image, not of the batch
    it is evaluated in. Striding from the first layer on keeps the cost (about
    1.8M multiply-adds an image, 187k parameters) within a CPU training budget:
    a full-resolution first layer made each step five times slower. The
    features are the final dense layer's linear output: no ReLU, so no unit is
    dead (zero for every image), and the Gaussian fit of FID sees no mass at 0.
    """

    num_features: int = NUM_FEATURES

    @nn.compact
    def __call__(self, images: jax.Array) -> jax.Array:
        """images `[N, 28, 28, 1]` in [0, 1] -> features `[N, F]`."""
        h = 2.0 * images - 1.0  # centred inputs: background -1, strokes +1
        h = nn.relu(nn.Conv(32, (5, 5), strides=(2, 2))(h))  # 14 x 14
        for _ in range(2):  # 7 x 7, then 4 x 4
            h = nn.relu(nn.Conv(64, (3, 3), strides=(2, 2))(h))
        # Flatten, not global pooling: where a stroke sits is part of what FID must see.
        return nn.Dense(self.num_features)(h.reshape(h.shape[0], -1))


class ContrastiveModel(nn.Module):
    """The encoder and SimCLR's two-layer projection head; only the encoder ships.

    The loss is computed on the head's output so that the features before it
    keep what the augmentations remove (SimCLR's finding that the
    representation before the head transfers better).
    """

    @nn.compact
    def __call__(self, images: jax.Array) -> jax.Array:
        """images `[N, 28, 28, 1]` -> projections `[N, 64]` (not normalised)."""
        features = MnistEncoder(name="encoder")(images)
        h = nn.relu(nn.Dense(NUM_FEATURES, name="head_hidden")(nn.relu(features)))
        return nn.Dense(PROJECTION_DIM, name="head_out")(h)


def encoder_apply(encoder_params, images: jax.Array) -> jax.Array:
    """Features `[N, 128]` of images `[N, 28, 28, 1]` in [0, 1] under encoder parameters."""
    return MnistEncoder().apply({"params": encoder_params}, images)


def nt_xent_loss(z_a: jax.Array, z_b: jax.Array, *, temperature: float = 0.1) -> jax.Array:
    """NT-Xent / InfoNCE loss of two views' embeddings; a scalar in nats, minimised.

    Row i of ``z_a`` and row i of ``z_b`` are a positive pair. Each of the 2B
    views is a (2B - 1)-way classification: find its partner among all other
    views by cosine similarity over ``temperature``. The loss is the mean
    cross-entropy over the 2B views. When every similarity is equal it is
    log(2B - 1), the loss of guessing.

    Args:
      z_a: `[B, D]` embeddings of the first views (any norm; rows are normalised).
      z_b: `[B, D]` embeddings of the second views, B >= 2.
      temperature: > 0; smaller values weigh hard negatives more.
    Returns:
      the scalar mean loss over the 2B views.
    """
    chex.assert_rank([z_a, z_b], 2, custom_message="nt_xent_loss: z_a, z_b must be [B, D]")
    chex.assert_equal_shape([z_a, z_b], custom_message="nt_xent_loss: z_a and z_b must have one shape")
    if temperature <= 0:
        raise ValueError(f"nt_xent_loss: temperature must be > 0, got {temperature}")
    num = z_a.shape[0]
    z = jnp.concatenate([z_a, z_b]).astype(jnp.float32)
    # The eps keeps the gradient finite for an all-zero row (e.g. a dead projection at init).
    z = z / jnp.maximum(jnp.linalg.norm(z, axis=1, keepdims=True), 1e-8)
    logits = z @ z.T / temperature
    # A view is not its own negative: its self-similarity leaves the softmax.
    logits = jnp.where(jnp.eye(2 * num, dtype=bool), -jnp.inf, logits)
    partners = (jnp.arange(2 * num) + num) % (2 * num)
    positive = logits[jnp.arange(2 * num), partners]
    return jnp.mean(jax.nn.logsumexp(logits, axis=1) - positive)


# ---------------------------------------------------------------- augmentations
# Each maps (rng, images [N, 28, 28, 1] with values in {0, 1}) to images of the same
# shape with values in {0, 1}: the encoder must only ever see binary images.


def random_affine(
    rng: jax.Array,
    images: jax.Array,
    *,
    max_rotation: float = 12.0,
    max_scale: float = 0.1,
    max_shift: float = 2.0,
) -> jax.Array:
    """Random rotation (degrees), scaling and translation (pixels), one per image.

    Nearest-neighbour resampling: every output pixel copies one input pixel (or
    0 outside the image), so binary images stay binary, with no re-thresholding.

    Args:
      images: `[N, H, W, C]`.
    Returns:
      `[N, H, W, C]`.
    """
    num, height, width, _ = images.shape
    k_rot, k_scale, k_shift = jax.random.split(rng, 3)
    angle = jnp.deg2rad(jax.random.uniform(k_rot, (num,), minval=-max_rotation, maxval=max_rotation))
    scale = jax.random.uniform(k_scale, (num,), minval=1.0 - max_scale, maxval=1.0 + max_scale)
    shift = jax.random.uniform(k_shift, (num, 2), minval=-max_shift, maxval=max_shift)
    rows, cols = jnp.meshgrid(jnp.arange(height), jnp.arange(width), indexing="ij")
    centre = jnp.array([(height - 1) / 2, (width - 1) / 2])
    out = jnp.stack([rows, cols], -1).reshape(-1, 2) - centre  # [HW, 2] output coordinates

    def warp(image, a, s, t):
        # Inverse map: where in the input each output pixel comes from.
        cos, sin = jnp.cos(a), jnp.sin(a)
        inverse = jnp.array([[cos, sin], [-sin, cos]]) / s
        src = jnp.round((out - t) @ inverse.T + centre).astype(jnp.int32)
        inside = (src[:, 0] >= 0) & (src[:, 0] < height) & (src[:, 1] >= 0) & (src[:, 1] < width)
        src = jnp.clip(src, 0, jnp.array([height - 1, width - 1]))
        values = image[src[:, 0], src[:, 1]]  # [HW, C]
        return jnp.where(inside[:, None], values, 0).reshape(image.shape)

    return jax.vmap(warp)(images, angle, scale, shift)


def random_flips(rng: jax.Array, images: jax.Array, *, rate: float = 0.01) -> jax.Array:
    """Flips each pixel independently with probability ``rate`` (salt-and-pepper noise).

    Args:
      images: `[N, H, W, C]` in {0, 1}.
    Returns:
      `[N, H, W, C]` in {0, 1}.
    """
    flip = jax.random.bernoulli(rng, rate, images.shape).astype(images.dtype)
    return jnp.abs(images - flip)  # xor on {0, 1}


def random_erasing(
    rng: jax.Array, images: jax.Array, *, prob: float = 0.5, min_size: int = 4, max_size: int = 10
) -> jax.Array:
    """With probability ``prob`` per image, sets a random rectangle to background (0).

    Side lengths are drawn uniformly from [min_size, max_size]; the rectangle
    may stick out of the image (then less is erased).

    Args:
      images: `[N, H, W, C]`.
    Returns:
      `[N, H, W, C]`.
    """
    num, height, width, _ = images.shape
    k_on, k_size, k_pos = jax.random.split(rng, 3)
    on = jax.random.bernoulli(k_on, prob, (num,))
    size = jax.random.randint(k_size, (num, 2), min_size, max_size + 1)
    top_left = jax.random.randint(k_pos, (num, 2), 0, jnp.array([height, width]))
    rows = jnp.arange(height)[None, :, None]
    cols = jnp.arange(width)[None, None, :]
    in_rows = (rows >= top_left[:, 0, None, None]) & (rows < (top_left[:, 0] + size[:, 0])[:, None, None])
    in_cols = (cols >= top_left[:, 1, None, None]) & (cols < (top_left[:, 1] + size[:, 1])[:, None, None])
    erase = on[:, None, None] & in_rows & in_cols  # [N, H, W]
    return jnp.where(erase[..., None], 0, images).astype(images.dtype)


def augment(rng: jax.Array, images: jax.Array, *, flip_rate: float = 0.01) -> jax.Array:
    """SimCLR's view generator for binary digits: affine warp, erasing, then pixel flips.

    The flip rate is kept low on purpose: the features must stay sensitive to
    the salt-and-pepper noise a bad sampler produces, and an encoder trained
    to ignore heavy noise would hide it from FID.

    Args:
      images: `[N, 28, 28, 1]` in {0, 1}.
    Returns:
      `[N, 28, 28, 1]` in {0, 1}.
    """
    k_affine, k_erase, k_flip = jax.random.split(rng, 3)
    images = random_affine(k_affine, images)
    images = random_erasing(k_erase, images)
    return random_flips(k_flip, images, rate=flip_rate)


# ---------------------------------------------------------------- data and training


def unpack_images(packed: np.ndarray) -> np.ndarray:
    """Packed binarized MNIST rows `[N, 98]` uint8 -> images `[N, 28, 28, 1]` uint8 in {0, 1}."""
    packed = np.asarray(packed, np.uint8)
    if packed.ndim != 2 or packed.shape[1] != 98:
        raise ValueError(f"unpack_images: expected [N, 98] uint8 rows, got shape {packed.shape}")
    return np.unpackbits(packed, axis=1)[:, :784].reshape(-1, *IMAGE_SHAPE)


def train_mnist_encoder(
    rng_seed: int,
    train_images: np.ndarray,
    *,
    num_steps: int,
    batch_size: int = 256,
    learning_rate: float = 2e-3,
    temperature: float = 0.1,
    warmup_steps: int = 100,
    log_every: int = 50,
    print_fn=None,
) -> tuple[dict, dict]:
    """Trains the encoder and head with NT-Xent on two augmented views of each batch.

    Adam with a linear warm-up and a cosine decay to 0. Batches are drawn
    without replacement from per-epoch permutations of
    ``numpy.random.default_rng([rng_seed, epoch])``, so a batch never holds the
    same image twice (which would be a positive counted as a negative).

    Args:
      rng_seed: seeds initialisation, batch order and augmentations.
      train_images: `[N, 28, 28]` or `[N, 28, 28, 1]` in {0, 1} (any numeric dtype).
      num_steps: optimiser steps.
      batch_size: images per step (2 * batch_size views).
      print_fn: called with a progress line every ``log_every`` steps, if given.
    Returns:
      (params ``{"encoder": ..., "head_hidden": ..., "head_out": ...}`` on the
      host; ``params["encoder"]`` is what ships, history with ``steps``,
      ``loss`` (mean over each ``log_every`` interval), ``final_loss`` and
      ``train_seconds``).
    """
    import optax

    images = np.asarray(train_images).reshape(-1, *IMAGE_SHAPE).astype(np.uint8)
    if len(images) < batch_size:
        raise ValueError(f"train_mnist_encoder: {len(images)} images, fewer than batch_size={batch_size}")
    device_images = jnp.asarray(images)  # uint8 on device: 4x less memory; cast per batch
    model = ContrastiveModel()
    key = jax.random.key(rng_seed)
    params = model.init(jax.random.fold_in(key, 0), jnp.zeros((1, *IMAGE_SHAPE)))["params"]
    schedule = optax.warmup_cosine_decay_schedule(
        0.0, learning_rate, min(warmup_steps, num_steps // 2), max(num_steps, 1)
    )
    optimizer = optax.adam(schedule)
    opt_state = optimizer.init(params)

    def loss_fn(params, batch, rng):
        k_a, k_b = jax.random.split(rng)
        views = jnp.concatenate([augment(k_a, batch), augment(k_b, batch)])
        z = model.apply({"params": params}, views)
        return nt_xent_loss(z[: len(batch)], z[len(batch) :], temperature=temperature)

    @jax.jit
    def step(params, opt_state, rows, rng):
        batch = device_images[rows].astype(jnp.float32)
        loss, grads = jax.value_and_grad(loss_fn)(params, batch, rng)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    per_epoch = len(images) // batch_size  # the ragged tail of each permutation is dropped
    history = {"steps": [], "loss": []}
    losses, order, start = [], None, time.perf_counter()
    for index in range(num_steps):
        epoch, position = divmod(index, per_epoch)
        if position == 0:
            order = np.random.default_rng([rng_seed, epoch]).permutation(len(images))
        rows = order[position * batch_size : (position + 1) * batch_size]
        # fold_in(key, 0) made the initial parameters; step keys start at 1.
        params, opt_state, loss = step(params, opt_state, rows, jax.random.fold_in(key, index + 1))
        losses.append(loss)
        if (index + 1) % log_every == 0 or index + 1 == num_steps:
            mean = float(np.mean(jax.device_get(losses)))
            if not math.isfinite(mean):
                raise FloatingPointError(f"train_mnist_encoder: non-finite loss by step {index + 1}")
            history["steps"].append(index + 1)
            history["loss"].append(mean)
            losses = []
            if print_fn is not None:
                print_fn(
                    f"step {index + 1}/{num_steps}  loss {mean:.4f}  {time.perf_counter() - start:.0f} s"
                )
    history["final_loss"] = history["loss"][-1]
    history["train_seconds"] = time.perf_counter() - start
    history["chance_loss"] = math.log(2 * batch_size - 1)
    return jax.device_get(params), history


def load_mnist_encoder(weights_path: str | os.PathLike | None = None) -> FeatureNetwork:
    """The contrastive encoder as a `FeatureNetwork` (shipped weights unless a path is given)."""
    params = jax.tree.map(jnp.asarray, load_params(weights_path or WEIGHTS_FILE))
    apply = jax.jit(encoder_apply)  # weights as an argument, not compiled-in constants

    def features(images: jax.Array) -> jax.Array:
        chex.assert_shape(images, (None, *IMAGE_SHAPE), custom_message="mnist_encoder: images [N, 28, 28, 1]")
        return apply(params, images)

    return FeatureNetwork("mnist_encoder", IMAGE_SHAPE, features, None, NUM_FEATURES)
