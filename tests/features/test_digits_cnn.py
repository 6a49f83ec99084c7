"""The bundled digits classifier: its reported accuracy, batch-independent features, the registry."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.features.splits import digits_splits
from genjax import features
from genjax.errors import ConfigError
from genjax.features import digits_cnn
from tests.conftest import REPO

# Module fixtures are built once per worker: one group keeps this module on one worker (--dist=loadgroup).
pytestmark = pytest.mark.xdist_group("digits_cnn")


@pytest.fixture(scope="module")
def splits():
    return digits_splits()


@pytest.fixture(scope="module")
def network():
    return features.load("digits_cnn")


def test_shipped_classifier_reaches_its_reported_test_accuracy(splits):
    reported = json.loads((REPO / "experiments/benchmarks/results/digits_cnn.json").read_text())
    params = features.load_params(digits_cnn.WEIGHTS_FILE)
    images, labels = splits["test"]
    assert len(labels) == 297
    accuracy = digits_cnn.accuracy(params, images, labels)
    # Same weights, same images: at most one of 297 predictions may flip between CPUs' float rounding.
    assert abs(accuracy - reported["test_accuracy"]) <= 1 / 297 + 1e-9
    assert accuracy >= 0.97


def test_features_do_not_depend_on_the_batch(splits, network):
    images = splits["validation"][0][:12]
    together = np.asarray(network.features(jnp.asarray(images)))
    alone = np.concatenate([np.asarray(network.features(jnp.asarray(images[i : i + 1]))) for i in range(12)])
    assert together.shape == (12, digits_cnn.NUM_FEATURES) == (12, network.num_features)
    np.testing.assert_allclose(together, alone, rtol=1e-5, atol=1e-5)
    logits = np.asarray(network.logits(jnp.asarray(images)))
    assert logits.shape == (12, digits_cnn.NUM_CLASSES)
    chunked = features.extract(network.features, images, batch_size=5)  # 5 + 5 + padded 2
    np.testing.assert_allclose(chunked, together, rtol=1e-5, atol=1e-5)


def test_shift_augment_translates_whole_images():
    image = jnp.zeros((1, 8, 8, 1)).at[0, 3, 4, 0].set(1.0)
    shifted = digits_cnn.shift_augment(jax.random.key(0), jnp.repeat(image, 64, axis=0), max_shift=1)
    rows, cols = np.nonzero(np.asarray(shifted)[..., 0].sum(axis=0))
    # Every pixel moved by at most one in each direction, and the mass of each image is kept.
    assert set(rows) <= {2, 3, 4} and set(cols) <= {3, 4, 5}
    np.testing.assert_array_equal(np.asarray(shifted).sum(axis=(1, 2, 3)), np.ones(64))


def test_params_round_trip(tmp_path):
    params = {"a": {"kernel": np.arange(6.0).reshape(2, 3)}, "b": np.ones(2, np.float32)}
    features.save_params(tmp_path / "p.npz", params)
    loaded = features.load_params(tmp_path / "p.npz")
    np.testing.assert_array_equal(loaded["a"]["kernel"], params["a"]["kernel"])
    np.testing.assert_array_equal(loaded["b"], params["b"])
    with pytest.raises(FileNotFoundError, match="no file at"):
        features.load_params(tmp_path / "missing.npz")


def test_registry():
    assert features.network_for_dataset("digits") == "digits_cnn"
    assert features.network_for_dataset("binarized_mnist") == "mnist_encoder"
    assert features.network_for_dataset("tfds_cifar10") == "inception_v3"
    with pytest.raises(ConfigError, match="allowed: digits_cnn"):
        features.load("resnet")
