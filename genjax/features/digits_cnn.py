"""A small CNN classifier of scikit-learn's 8x8 digits: the digits' Inception network.

FID, KID, precision/recall and the nearest-neighbour checks read its
penultimate features `[N, 128]`; the inception score and its variants read its
class probabilities. It is trained by
``python -m experiments.features.train_digits_classifier`` on the digits'
training split (1350 images after the loader carves 150 for validation), the
step selected on validation accuracy, and the shipped weights
(``weights/digits_cnn.npz``, about 0.4 MB) reproduce from that command.

Images are `[N, 8, 8, 1]` in [0, 1], the 17 grey levels scaled by 1/16 as the
data pipeline's ``scale`` does. Binarized samples are valid inputs too, but
they are not grey digits, and the features say so.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from genjax.features.base import WEIGHTS_DIR, FeatureNetwork, load_params

NUM_CLASSES = 10
NUM_FEATURES = 128
WEIGHTS_FILE = WEIGHTS_DIR / "digits_cnn.npz"


class DigitsCNN(nn.Module):
    """conv32-conv32-pool-conv64-conv64-pool-dense128-dense10, ReLU, no normalisation.

    No batch norm or dropout in the graph: features must be a deterministic
    function of one image, independent of the batch it is evaluated in.
    """

    @nn.compact
    def __call__(self, images: jax.Array) -> tuple[jax.Array, jax.Array]:
        """images `[N, 8, 8, 1]` in [0, 1] -> (logits `[N, 10]`, features `[N, 128]`)."""
        h = 2.0 * images - 1.0  # centred inputs: Adam converges faster and no bias shift is learned
        for channels in (32, 64):
            h = nn.relu(nn.Conv(channels, (3, 3))(h))
            h = nn.relu(nn.Conv(channels, (3, 3))(h))
            h = nn.avg_pool(h, (2, 2), strides=(2, 2))
        features = nn.relu(nn.Dense(NUM_FEATURES)(h.reshape(h.shape[0], -1)))
        return nn.Dense(NUM_CLASSES)(features), features


def digits_cnn_apply(params, images: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(logits `[N, 10]`, features `[N, 128]`) of images `[N, 8, 8, 1]` in [0, 1]."""
    return DigitsCNN().apply({"params": params}, images)


def cross_entropy_loss(params, images: jax.Array, labels: jax.Array) -> jax.Array:
    """Mean softmax cross-entropy (nats), a scalar, of images `[N, 8, 8, 1]` and labels `[N]`."""
    logits, _ = digits_cnn_apply(params, images)
    log_probs = jax.nn.log_softmax(logits)
    return -jnp.mean(jnp.take_along_axis(log_probs, labels[:, None], axis=1))


def accuracy(params, images: np.ndarray, labels: np.ndarray) -> float:
    """Top-1 accuracy of the classifier on images `[N, 8, 8, 1]` with labels `[N]`."""
    logits, _ = jax.jit(digits_cnn_apply)(params, jnp.asarray(images, jnp.float32))
    return float(np.mean(np.argmax(np.asarray(logits), axis=1) == np.asarray(labels)))


def shift_augment(rng: jax.Array, images: jax.Array, *, max_shift: int = 1) -> jax.Array:
    """Random translations by up to ``max_shift`` pixels (zero fill), one per image `[N, 8, 8, 1]`."""
    num = images.shape[0]
    pad = max_shift
    padded = jnp.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    offsets = jax.random.randint(rng, (num, 2), 0, 2 * pad + 1)
    height, width = images.shape[1:3]

    def crop(image, offset):
        return jax.lax.dynamic_slice(image, (offset[0], offset[1], 0), (height, width, image.shape[-1]))

    return jax.vmap(crop)(padded, offsets)


def train_digits_cnn(
    seed: int,
    train: tuple[np.ndarray, np.ndarray],
    validation: tuple[np.ndarray, np.ndarray],
    *,
    num_steps: int = 3000,
    batch_size: int = 128,
    learning_rate: float = 1e-3,
    eval_every: int = 100,
) -> tuple[dict, dict]:
    """Trains the classifier with Adam and shift augmentation; keeps the best validation step.

    Args:
      seed: initialisation and batch-order seed.
      train, validation: (images `[N, 8, 8, 1]` in [0, 1], labels `[N]`).

    Returns:
      (params at the best validation accuracy, history with ``best_step``,
      ``best_validation_accuracy`` and the per-evaluation curve).
    """
    import optax

    images, labels = (jnp.asarray(a) for a in train)
    rng = jax.random.key(seed)
    params = DigitsCNN().init(rng, images[:1])["params"]
    optimizer = optax.adam(optax.cosine_decay_schedule(learning_rate, num_steps))
    opt_state = optimizer.init(params)

    @jax.jit
    def step(params, opt_state, key):
        batch_key, shift_key = jax.random.split(key)
        rows = jax.random.choice(batch_key, images.shape[0], (batch_size,), replace=False)
        batch = shift_augment(shift_key, images[rows])
        loss, grads = jax.value_and_grad(cross_entropy_loss)(params, batch, labels[rows])
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    best = (-1.0, 0, params)
    curve = []
    for index in range(1, num_steps + 1):
        params, opt_state, loss = step(params, opt_state, jax.random.fold_in(rng, index))
        if index % eval_every == 0 or index == num_steps:
            valid_accuracy = accuracy(params, *validation)
            curve.append({"step": index, "loss": float(loss), "validation_accuracy": valid_accuracy})
            if valid_accuracy > best[0]:  # strict: ties keep the earlier, less fitted step
                best = (valid_accuracy, index, params)
    history = {"best_validation_accuracy": best[0], "best_step": best[1], "curve": curve}
    return jax.device_get(best[2]), history


def load_digits_cnn(weights_path: str | os.PathLike | None = None) -> FeatureNetwork:
    """The digits classifier as a `FeatureNetwork` (shipped weights unless a path is given)."""
    params = jax.tree.map(jnp.asarray, load_params(weights_path or WEIGHTS_FILE))
    apply = jax.jit(digits_cnn_apply)  # weights as an argument, not compiled-in constants

    def features(images: jax.Array) -> jax.Array:
        return apply(params, images)[1]

    logits: Callable[[jax.Array], jax.Array] = lambda images: apply(params, images)[0]
    return FeatureNetwork("digits_cnn", (8, 8, 1), features, logits, NUM_FEATURES)
