"""Sources (digits, npz, the shared binarized MNIST) and every data ConfigError."""

import os
from pathlib import Path

import ml_collections
import numpy as np
import pytest
from sklearn.datasets import load_digits

from genjax.data import eval_batches, load_dataset, toy2d, train_batches
from genjax.errors import ConfigError

SHARED_DATA = Path(
    os.environ.get("GENJAX_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data")
)
BINARIZED_MNIST = SHARED_DATA / "binarized_mnist.npz"


def config(**fields) -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict({"name": "digits", "batch_size": 10, **fields})


def test_digits():
    dataset = load_dataset(config())
    assert dataset.element_shape == (8, 8, 1) and dataset.num_levels == 17
    assert dataset.log_density is None and dataset.entropy is None
    sizes = (dataset.train.num_examples, dataset.validation.num_examples, dataset.test.num_examples)
    assert sizes == (1350, 150, 297)
    # The documented split: permutation from default_rng(0), first 1500 train (of which
    # validation carves 150), the rest test.
    bunch = load_digits()
    order = np.random.default_rng(0).permutation(1797)
    train = dataset.train.gather(np.arange(1350))
    validation = dataset.validation.gather(np.arange(150))
    train_rows = np.concatenate([dataset.train.indices, dataset.validation.indices])
    np.testing.assert_array_equal(np.sort(train_rows), np.arange(1500))
    for split, rows in [(train, dataset.train.indices), (validation, dataset.validation.indices)]:
        np.testing.assert_array_equal(split["x"][..., 0], bunch.images[order[:1500]][rows])
        np.testing.assert_array_equal(split["label"], bunch.target[order[:1500]][rows])
    test = dataset.test.gather(np.arange(297))
    np.testing.assert_array_equal(test["x"][..., 0], bunch.images[order[1500:]])
    assert train["x"].dtype == np.uint8 and train["x"].max() == 16 and train["label"].dtype == np.int32
    assert dataset.validation.has_labels and dataset.spec.num_classes == 10


@pytest.mark.skipif(not BINARIZED_MNIST.exists(), reason=f"shared data file {BINARIZED_MNIST} is absent")
def test_binarized_mnist_file_unpacks_to_binary_images():
    name = f"npz:{BINARIZED_MNIST}"
    dataset = load_dataset(config(name=name))
    assert dataset.element_shape == (28, 28, 1) and dataset.num_levels == 2
    # The file's own valid split, not a carve: 50k / 10k / 10k.
    sizes = (dataset.train.num_examples, dataset.validation.num_examples, dataset.test.num_examples)
    assert sizes == (50_000, 10_000, 10_000)
    with np.load(BINARIZED_MNIST) as archive:
        packed_valid = archive["valid"]
    np.testing.assert_array_equal(
        dataset.validation.gather(np.arange(10_000))["x"].reshape(10_000, -1),
        np.unpackbits(packed_valid, axis=1)[:, :784],
    )
    images = dataset.train.gather(np.arange(50_000))["x"]
    assert set(np.unique(images)) == {0, 1} and images.dtype == np.uint8
    assert 0.1 < images.mean() < 0.2  # MNIST is ~13% ink
    batch = train_batches(dataset, config(name=name), seed=0)[0]
    assert batch["x"].shape == (10, 28, 28, 1) and set(np.unique(batch["x"])) <= {0.0, 1.0}
    # Training on the validation split would make model selection dishonest.
    assert _error(config(name=name, train_splits="train+valid")).startswith(
        "data.train_splits: got 'train+valid', which includes the validation split 'valid';"
    )
    # The test split as validation is rejected; with valid as test, auto validation carves from train.
    assert _error(config(name=name, validation_split="test")).startswith(
        "data.validation_split: got 'test', which is also data.test_split;"
    )
    swapped = load_dataset(config(name=name, test_split="valid"))
    assert (swapped.train.num_examples, swapped.validation.num_examples) == (45_000, 5_000)


def test_npz_arrays_levels_and_labels(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "images.npz"
    np.savez(
        path,
        train=rng.integers(256, size=(30, 5, 5), dtype=np.uint8),
        test=rng.integers(256, size=(12, 5, 5), dtype=np.uint8),
        train_labels=np.arange(30),
    )
    dataset = load_dataset(config(name=f"npz:{path}", batch_size=6))
    assert dataset.element_shape == (5, 5, 1) and dataset.num_levels == 256
    assert dataset.train.has_labels and not dataset.test.has_labels
    # 0/1 uint8 images are binary data; floats are continuous.
    np.savez(tmp_path / "binary.npz", train=np.ones((4, 3), np.uint8), test=np.zeros((4, 3), np.uint8))
    np.savez(tmp_path / "float.npz", train=rng.random((4, 3)), test=rng.random((4, 3)))
    binary = f"npz:{tmp_path / 'binary.npz'}"
    assert load_dataset(config(name=binary, validation_fraction=0.25)).num_levels == 2
    floats = f"npz:{tmp_path / 'float.npz'}"
    continuous = load_dataset(config(name=floats, binarize="dynamic", validation_fraction=0.25))
    assert continuous.num_levels is None and continuous.element_shape == (3,)
    assert load_dataset(config(name=floats, num_levels=4, validation_fraction=0.25)).num_levels == 4


def test_toy2d_dataset():
    dataset = load_dataset(config(name="toy2d:ring", num_test=500))
    assert dataset.element_shape == (2,) and dataset.num_levels is None
    assert dataset.entropy == toy2d.get("ring").entropy and dataset.train.num_examples is None
    test = dataset.test.gather(np.arange(500))["x"]
    # A fixed sample, the same in every load, and not a training batch of any small seed.
    np.testing.assert_array_equal(
        test, load_dataset(config(name="toy2d:ring", num_test=500)).test.gather(np.arange(500))["x"]
    )
    for seed in range(3):
        assert not np.array_equal(train_batches(dataset, config(batch_size=500), seed=seed)[0]["x"], test)
    assert np.isfinite(dataset.log_density(test)).all()


def _error(data_config, *, train=False, evaluate=False, **kwargs) -> str:
    """The ConfigError raised by loading (then making train or eval batches)."""
    with pytest.raises(ConfigError) as info:
        dataset = load_dataset(data_config)
        if train:
            train_batches(dataset, data_config, **{"seed": 0, **kwargs})
        if evaluate:
            next(eval_batches(dataset, data_config, **kwargs))
    message = str(info.value)
    # One sentence, one line, naming the field first.
    assert "\n" not in message and message.count(". ") == 0 and message.endswith("."), message
    return message


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            {"binarize": "sometimes"},
            "data.binarize: got 'sometimes'; allowed: none, static, dynamic, threshold.",
        ),
        ({"dequantize": "yes"}, "data.dequantize: got 'yes'; must be True or False."),
        ({"batch_size": 0}, "data.batch_size: got 0; must be a positive integer."),
        ({"batch_size": True}, "data.batch_size: got True; must be a positive integer."),
        ({"batch_size": 8.0}, "data.batch_size: got 8.0; must be a positive integer."),
        ({"eval_batch_size": -1}, "data.eval_batch_size: got -1; must be a positive integer or None."),
        ({"num_test": 0}, "data.num_test: got 0; must be a positive integer."),
        ({"num_levels": 1}, "data.num_levels: got 1; must be at least 2 or None."),
        ({"train_splits": "train+"}, "data.train_splits: got 'train+'; must be split names joined by '+'"),
        ({"tfds_image_key": ""}, "data.tfds_image_key: got ''; must be a non-empty string."),
        ({"binarise": "static"}, "data.binarise: unknown field; known fields: name, batch_size,"),
        ({"name": None}, "data.name: missing; it is required."),
        (
            {"name": "imagenet"},
            "data.name: unknown dataset 'imagenet'; known: toy2d:NAME (8gaussians, 25gaussians, "
            "ring, two_moons, checkerboard, swiss_roll, pinwheel, circles), "
            "toy_binary:D or toy_binary:HxW, toy_markov:V or toy_markov:VxT, digits, npz:PATH, tfds:NAME.",
        ),
        (
            {"name": "toy2d:spiral"},
            "data.name: unknown toy2d dataset 'toy2d:spiral'; known: toy2d:8gaussians,",
        ),
        ({"name": "npz:"}, "data.name: unknown dataset 'npz:'"),
        ({"name": "npz:/nonexistent/x.npz"}, "data.name: npz file not found: '/nonexistent/x.npz'"),
    ],
)
def test_config_errors(fields, expected):
    assert _error(config(**fields)).startswith(expected)


def test_config_errors_that_need_data(tmp_path):
    np.savez(tmp_path / "a.npz", train=np.zeros((5, 2), np.int16), test=np.zeros((3, 2), np.int16))
    np.savez(tmp_path / "f.npz", train=np.zeros((5, 2)), test=np.zeros((3, 2)))
    npz, floats = f"npz:{tmp_path / 'a.npz'}", f"npz:{tmp_path / 'f.npz'}"
    assert _error(config(name=npz)).startswith("data.num_levels: ")
    assert _error(config(name=npz, num_levels=3, train_splits="train+valid")).startswith(
        f"data.train_splits: split 'valid' is not in {tmp_path / 'a.npz'}; available: train, test."
    )
    assert _error(config(name=npz, num_levels=3, test_split="valid")).startswith(
        "data.test_split: split 'valid'"
    )
    assert _error(config(name=floats, dequantize=True)).startswith(
        f"data.dequantize: dataset '{floats}' is continuous"
    )
    assert _error(config(batch_size=2000), train=True).startswith(
        "data.batch_size: got 2000; must be at most the 1350 training examples of digits."
    )
    assert _error(config(batch_size=10), train=True, process_count=3).startswith(
        "data.batch_size: got 10; the global batch must be divisible by the 3 processes."
    )
    assert _error(config(eval_batch_size=10), evaluate=True, process_count=4).startswith(
        "data.eval_batch_size: got 10;"
    )
    assert _error(config(), train=True, seed=-1) == "seed: got -1; must be a non-negative integer."
