"""tfds:NAME on datasets this test builds locally (ArrayRecord, no network, no TensorFlow)."""

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import ml_collections
import numpy as np
import pytest
import tensorflow_datasets as tfds

from genjax.data import eval_batches, load_dataset, train_batches
from genjax.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
NUM_TRAIN, NUM_VALIDATION, NUM_TEST = 10, 4, 7
NUM_BINARY_TRAIN = 10


def _value(split_offset: int, index: int) -> int:
    return split_offset + 3 * index  # distinct per example, so rows can be identified


class GenjaxTestImages(tfds.core.GeneratorBasedBuilder):
    """4x4 uint8 images filled with one distinct value each; label = value % 3; its own validation split."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        # Tensor, not Image: the Image feature needs TensorFlow to encode.
        features = tfds.features.FeaturesDict(
            {
                "image": tfds.features.Tensor(shape=(4, 4, 1), dtype=np.uint8),
                "label": tfds.features.ClassLabel(num_classes=3),
            }
        )
        return tfds.core.DatasetInfo(builder=self, features=features)

    def _split_generators(self, dl_manager):
        return {
            "train": self._generate_examples(0, NUM_TRAIN),
            "validation": self._generate_examples(50, NUM_VALIDATION),
            "test": self._generate_examples(100, NUM_TEST),
        }

    def _generate_examples(self, offset, count):
        for i in range(count):
            value = _value(offset, i)
            yield i, {"image": np.full((4, 4, 1), value, np.uint8), "label": value % 3}


class GenjaxTestBinary(tfds.core.GeneratorBasedBuilder):
    """0/1 uint8 vectors without labels and without a validation split (so it is carved)."""

    VERSION = tfds.core.Version("0.1.0")

    def _info(self):
        features = tfds.features.FeaturesDict({"pixels": tfds.features.Tensor(shape=(6,), dtype=np.uint8)})
        return tfds.core.DatasetInfo(builder=self, features=features)

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples(NUM_BINARY_TRAIN), "test": self._generate_examples(3)}

    def _generate_examples(self, count):
        for i in range(count):
            yield i, {"pixels": ((np.arange(6) + i) % 2).astype(np.uint8)}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tfds")
    for builder in (GenjaxTestImages, GenjaxTestBinary):
        builder(data_dir=str(directory), file_format="array_record").download_and_prepare()
    return str(directory)


def config(name, data_dir, **fields):
    return ml_collections.ConfigDict({"name": name, "batch_size": 4, "tfds_data_dir": data_dir, **fields})


def test_values_round_trip(data_dir):
    dataset = load_dataset(config("tfds:genjax_test_images", data_dir))
    assert dataset.element_shape == (4, 4, 1) and dataset.num_levels == 256
    sizes = (dataset.train.num_examples, dataset.validation.num_examples, dataset.test.num_examples)
    assert sizes == (NUM_TRAIN, NUM_VALIDATION, NUM_TEST)
    for source, offset, count in [
        (dataset.train, 0, NUM_TRAIN),
        (dataset.validation, 50, NUM_VALIDATION),
        (dataset.test, 100, NUM_TEST),
    ]:
        batch = source.gather(np.arange(count))
        assert batch["x"].dtype == np.uint8 and batch["label"].dtype == np.int32
        values = batch["x"][:, 0, 0, 0].astype(int)
        assert np.all(batch["x"] == batch["x"][:, :1, :1, :1])  # each image is constant
        np.testing.assert_array_equal(np.sort(values), [_value(offset, i) for i in range(count)])
        np.testing.assert_array_equal(batch["label"], values % 3)


def test_pipeline_over_tfds(data_dir):
    data_config = config("tfds:genjax_test_images", data_dir, batch_size=5)
    dataset = load_dataset(data_config)
    batches = train_batches(dataset, data_config, seed=0)
    epoch = [batches[0], batches[1]]
    values = np.concatenate([b["x"][:, 0, 0, 0] for b in epoch]) * 255
    np.testing.assert_allclose(np.sort(values), [_value(0, i) for i in range(NUM_TRAIN)], atol=1e-4)
    evaluated = list(eval_batches(dataset, data_config, batch_size=4))
    masks = np.concatenate([b["mask"] for b in evaluated])
    test_values = np.concatenate([b["x"][:, 0, 0, 0] for b in evaluated])[masks == 1] * 255
    np.testing.assert_allclose(np.sort(test_values), [_value(100, i) for i in range(NUM_TEST)], atol=1e-4)
    assert masks.sum() == NUM_TEST and len(masks) == 8


def test_train_splits_and_binary_levels(data_dir):
    both = load_dataset(config("tfds:genjax_test_images", data_dir, train_splits="train+test"))
    assert both.train.num_examples == NUM_TRAIN + NUM_TEST
    sliced = load_dataset(config("tfds:genjax_test_images", data_dir, train_splits="train[:60%]"))
    assert sliced.train.num_examples == 6
    binary = load_dataset(config("tfds:genjax_test_binary", data_dir, tfds_image_key="pixels"))
    assert binary.num_levels == 2 and binary.element_shape == (6,) and not binary.train.has_labels
    batch = train_batches(
        binary, config("tfds:genjax_test_binary", data_dir, tfds_image_key="pixels"), seed=0
    )[0]
    assert set(batch) == {"x"} and set(np.unique(batch["x"])) == {0.0, 1.0}


@pytest.mark.subprocess
@pytest.mark.slow
def test_reading_needs_no_registered_builder(data_dir):
    """experiments/train.py is another process: it only has data_dir, not the builder class."""
    script = textwrap.dedent(
        f"""
        import numpy as np
        from tensorflow_datasets.core import registered
        from genjax.data import load_dataset
        data_config = {{"name": "tfds:genjax_test_images", "batch_size": 4, "tfds_data_dir": {data_dir!r}}}
        dataset = load_dataset(data_config)
        assert "genjax_test_images" not in registered.list_imported_builders(), "builder is registered"
        batch = dataset.test.gather(np.arange({NUM_TEST}))
        print(sorted(batch["x"][:, 0, 0, 0].tolist()), batch["label"].tolist())
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "JAX_PLATFORMS": "cpu"}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    values = [_value(100, i) for i in range(NUM_TEST)]
    assert result.stdout.splitlines()[-1].startswith(str(values))


@pytest.mark.parametrize("name", ["genjax_never_prepared_dataset", "mnist"])
def test_unprepared_dataset_fails_fast_without_network(tmp_path, name):
    empty = str(tmp_path / "empty")
    start = time.perf_counter()
    with pytest.raises(ConfigError) as info:
        load_dataset(config(f"tfds:{name}", empty))
    assert time.perf_counter() - start < 10
    assert str(info.value).startswith(
        f"data.name: TFDS dataset '{name}' is not prepared in {empty}; prepare it once on a machine with "
        f"internet: tfds build {name} --data_dir {empty}"
    )
    assert "data.tfds_data_dir" in str(info.value) and "\n" not in str(info.value)
    # Nothing was downloaded (a download attempt creates DATA_DIR/downloads).
    assert not (tmp_path / "empty" / "downloads").exists()


def test_tfds_feature_and_split_errors(data_dir):
    with pytest.raises(
        ConfigError, match=r"^data.tfds_image_key: 'img' is not a feature .* available: image, label"
    ):
        load_dataset(config("tfds:genjax_test_images", data_dir, tfds_image_key="img"))
    with pytest.raises(
        ConfigError, match=r"^data.test_split: TFDS dataset 'genjax_test_images' has no split"
    ):
        load_dataset(config("tfds:genjax_test_images", data_dir, test_split="dev"))


def test_validation_split_own_carved_or_named(data_dir):
    images = config("tfds:genjax_test_images", data_dir)
    dataset = load_dataset(images)
    # Its own "validation" split, read through eval_batches, once per example.
    evaluated = list(eval_batches(dataset, images, split="validation", batch_size=4))
    masks = np.concatenate([b["mask"] for b in evaluated])
    values = np.concatenate([b["x"][:, 0, 0, 0] for b in evaluated])[masks == 1] * 255
    np.testing.assert_allclose(np.sort(values), [_value(50, i) for i in range(NUM_VALIDATION)], atol=1e-4)
    # No validation split: 1 of the 10 training rows is carved off, the same in every load.
    binary = config("tfds:genjax_test_binary", data_dir, tfds_image_key="pixels")
    carved = load_dataset(binary)
    assert (carved.train.num_examples, carved.validation.num_examples) == (9, 1)
    rows = np.concatenate([carved.train.indices, carved.validation.indices])
    np.testing.assert_array_equal(np.sort(rows), np.arange(NUM_BINARY_TRAIN))
    np.testing.assert_array_equal(load_dataset(binary).validation.indices, carved.validation.indices)
    # A named slice of train validates; the rest of train trains.
    sliced = load_dataset(
        config(
            "tfds:genjax_test_images", data_dir, train_splits="train[:80%]", validation_split="train[80%:]"
        )
    )
    assert (sliced.train.num_examples, sliced.validation.num_examples) == (8, 2)
    values = [
        split.gather(np.arange(split.num_examples))["x"][:, 0, 0, 0]
        for split in (sliced.train, sliced.validation)
    ]
    np.testing.assert_array_equal(np.sort(np.concatenate(values)), [_value(0, i) for i in range(NUM_TRAIN)])


def test_validation_split_errors(data_dir):
    with pytest.raises(
        ConfigError,
        match=r"^data.validation_split: split 'dev' is not in TFDS dataset 'genjax_test_images'; "
        r"available: train, validation, test\.$",
    ):
        load_dataset(config("tfds:genjax_test_images", data_dir, validation_split="dev"))
    with pytest.raises(ConfigError, match=r"^data.train_splits: got 'train\+validation', which includes"):
        load_dataset(config("tfds:genjax_test_images", data_dir, train_splits="train+validation"))
    with pytest.raises(
        ConfigError, match=r"^data.train_splits: got 'train', which includes .* 'train\[80%:\]'"
    ):
        load_dataset(config("tfds:genjax_test_images", data_dir, validation_split="train[80%:]"))
