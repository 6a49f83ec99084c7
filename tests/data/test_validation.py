"""Validation splits: carved from train deterministically, or a fixed toy sample; bad fields."""

import ml_collections
import numpy as np
import pytest

from genjax.data import eval_batches, load_dataset, splits, train_batches
from genjax.errors import ConfigError

NUM_TRAIN, NUM_TEST = 90, 13


@pytest.fixture(scope="module")
def npz_path(tmp_path_factory):
    """No validation split (so it is carved); labels are the example ids within train."""
    rng = np.random.default_rng(1)
    path = tmp_path_factory.mktemp("npz") / "carve.npz"
    np.savez(
        path,
        train=rng.integers(256, size=(NUM_TRAIN, 3, 3, 1), dtype=np.uint8),
        test=rng.integers(256, size=(NUM_TEST, 3, 3, 1), dtype=np.uint8),
        train_labels=np.arange(NUM_TRAIN),
    )
    return path


def config(name, **fields):
    return ml_collections.ConfigDict({"name": name, "batch_size": 6, **fields})


def ids(source):
    """The original train ids (labels) of every row of a carved split, in order."""
    return source.gather(np.arange(source.num_examples))["label"]


@pytest.mark.parametrize(("fraction", "num_validation"), [(0.1, 9), (0.25, 23), (0.5, 45), (0.99, 89)])
def test_carve_is_fixed_disjoint_and_covers_train(npz_path, fraction, num_validation):
    data_config = config(f"npz:{npz_path}", validation_fraction=fraction)
    dataset = load_dataset(data_config)
    train, validation = ids(dataset.train), ids(dataset.validation)
    # floor(fraction * N + 0.5) examples, the rest stay in train, in source order.
    assert (len(validation), len(train)) == (num_validation, NUM_TRAIN - num_validation)
    assert not set(train) & set(validation)
    np.testing.assert_array_equal(np.sort(np.concatenate([train, validation])), np.arange(NUM_TRAIN))
    assert np.all(np.diff(train) > 0) and np.all(np.diff(validation) > 0)
    # The documented permutation, from the constant seed (not the run's).
    order = np.random.default_rng(splits.VALIDATION_CARVE_SEED).permutation(NUM_TRAIN)
    np.testing.assert_array_equal(validation, np.sort(order[:num_validation]))
    # Deterministic: a second load carves the same rows.
    np.testing.assert_array_equal(ids(load_dataset(data_config).validation), validation)


def test_training_never_sees_validation_examples_whatever_the_seed(npz_path):
    data_config = config(f"npz:{npz_path}")
    dataset = load_dataset(data_config)
    validation = set(ids(dataset.validation))
    steps_per_epoch = dataset.train.num_examples // 6
    for seed in (0, 1, 7):
        batches = train_batches(dataset, data_config, seed=seed)
        epoch = np.concatenate([batches[step]["label"] for step in range(steps_per_epoch)])
        assert len(set(epoch)) == len(epoch) == 78  # 13 batches of 6 from the 81 remaining rows
        seen = set(epoch) | {
            i for step in range(steps_per_epoch, 3 * steps_per_epoch) for i in batches[step]["label"]
        }
        assert seen <= set(ids(dataset.train)) and not validation & seen
    # The validation set does not depend on the run seed: the carve happens at load time.
    assert validation == set(ids(load_dataset(data_config).validation))


@pytest.mark.parametrize("process_count", [1, 2])
def test_eval_covers_the_validation_split_once(npz_path, process_count):
    data_config = config(f"npz:{npz_path}", binarize="dynamic")
    dataset = load_dataset(data_config)
    per_process = [
        list(
            eval_batches(
                dataset,
                data_config,
                split="validation",
                batch_size=4,
                process_index=p,
                process_count=process_count,
            )
        )
        for p in range(process_count)
    ]
    labels, masks = [], []
    for batch_index in range(len(per_process[0])):
        for p in range(process_count):
            labels.append(per_process[p][batch_index]["label"])
            masks.append(per_process[p][batch_index]["mask"])
    labels, masks = np.concatenate(labels), np.concatenate(masks)
    assert len(masks) == 12 and masks.sum() == 9  # ceil(9 / 4) batches of 4, padding masked
    np.testing.assert_array_equal(labels[masks == 1], ids(dataset.validation))


@pytest.mark.parametrize("name", ["toy2d:ring", "toy_binary:6", "toy_markov:3x4"])
def test_toy_validation_is_a_fixed_sample_unlike_the_test_sample(name):
    data_config = config(name, num_test=64, batch_size=64)
    dataset = load_dataset(data_config)
    validation = dataset.validation.gather(np.arange(64))["x"]
    test = dataset.test.gather(np.arange(64))["x"]
    assert dataset.validation.num_examples == 64 and validation.shape == test.shape
    np.testing.assert_array_equal(load_dataset(data_config).validation.gather(np.arange(64))["x"], validation)
    assert not np.array_equal(validation, test)
    assert not np.array_equal(validation, train_batches(dataset, data_config, seed=0)[0]["x"])
    evaluated = list(eval_batches(dataset, data_config, split="validation"))
    np.testing.assert_array_equal(np.concatenate([b["x"] for b in evaluated]), validation)


def _one_line_error(data_config) -> str:
    with pytest.raises(ConfigError) as info:
        load_dataset(data_config)
    message = str(info.value)
    assert "\n" not in message and ". " not in message and message.endswith("."), message
    return message


@pytest.mark.parametrize("fraction", [0, 1, -0.1, 1.5, "a", True, float("nan")])
def test_bad_validation_fractions(fraction):
    expected = f"data.validation_fraction: got {fraction!r}; must be in (0, 1)."
    assert _one_line_error(config("digits", validation_fraction=fraction)) == expected


def test_a_carve_must_leave_examples_in_both_parts(tmp_path):
    np.savez(tmp_path / "tiny.npz", train=np.zeros((4, 2), np.uint8), test=np.zeros((2, 2), np.uint8))
    name = f"npz:{tmp_path / 'tiny.npz'}"
    for fraction, carved in [(0.1, 0), (0.9, 4)]:
        assert _one_line_error(config(name, validation_fraction=fraction)) == (
            f"data.validation_fraction: got {fraction}, which carves {carved} of the 4 training examples "
            f"of {name}; train and validation each need at least one."
        )


def test_validation_split_names(npz_path, tmp_path):
    assert _one_line_error(config(f"npz:{npz_path}", validation_split="valid")) == (
        f"data.validation_split: split 'valid' is not in {npz_path}; available: train, test."
    )
    assert _one_line_error(config("digits", validation_split="valid")).startswith(
        "data.validation_split: got 'valid', but only npz and tfds datasets have named splits;"
    )
    # A split named "validation" is found by itself; any other name is used when named.
    zeros, ones = np.zeros((5, 2), np.uint8), np.ones((3, 2), np.uint8)
    np.savez(tmp_path / "own.npz", train=zeros, validation=ones, dev=ones, test=zeros[:2])
    own = f"npz:{tmp_path / 'own.npz'}"
    for fields in ({}, {"validation_split": "dev"}):
        dataset = load_dataset(config(own, batch_size=5, **fields))
        assert (dataset.train.num_examples, dataset.validation.num_examples) == (5, 3)
        assert np.all(dataset.validation.gather(np.arange(3))["x"] == 1)
