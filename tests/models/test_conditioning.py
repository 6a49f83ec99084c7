"""The conditioning core: y from the data spec, from batches, for samplers, and through the pipeline."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from genjax.data import eval_batches, train_batches
from genjax.data.dataset import ArraySource, Dataset
from genjax.errors import ConfigError
from genjax.models import conditioning
from genjax.models.networks.conditioning import ConditionEmbedding, condition_features
from genjax.spec import DataSpec

DIGITS = DataSpec((8, 8, 1), num_levels=17, num_classes=10, name="digits")
UNLABELLED = DataSpec((28, 28, 1), num_levels=2, name="binarized_mnist")
WITH_COND = DataSpec((2,), cond_shape=(3,), name="regression")


def model_config(**fields):
    return ml_collections.ConfigDict({"model": {"name": "vae", **fields}})


def test_from_config_reads_y_from_the_data_spec():
    assert conditioning.from_config(model_config(), DIGITS) is None
    assert conditioning.from_config(model_config(conditional=False), DIGITS) is None
    labels = conditioning.from_config(model_config(conditional=True), DIGITS)
    assert labels == conditioning.Conditioning(num_classes=10)
    assert labels.key == "label" and labels.null_label == 10 and labels.labels
    arrays = conditioning.from_config(model_config(conditional=True), WITH_COND)
    assert arrays.key == "cond" and arrays.cond_shape == (3,) and arrays.cond_size == 3
    with pytest.raises(ValueError, match="null_label"):
        _ = arrays.null_label
    # The older name still switches it on (configs saved in existing workdirs).
    assert conditional_alias_works()
    # A matching model.num_classes is accepted.
    assert conditioning.from_config(model_config(conditional=True, num_classes=10), DIGITS).num_classes == 10


def conditional_alias_works() -> bool:
    return conditioning.from_config(model_config(class_conditional=True), DIGITS) is not None


@pytest.mark.parametrize(
    ("fields", "spec", "message"),
    [
        ({"conditional": True}, UNLABELLED, "model.conditional: the dataset 'binarized_mnist' has no labels"),
        ({"conditional": True, "num_classes": 3}, DIGITS, "model.num_classes: got 3; the dataset 'digits'"),
        ({"conditional": "yes"}, DIGITS, "model.conditional: got 'yes'; must be true or false"),
    ],
)
def test_from_config_rejects_with_one_line(fields, spec, message):
    with pytest.raises(ConfigError, match=message) as error:
        conditioning.from_config(model_config(**fields), spec)
    assert "\n" not in str(error.value)


def test_exactly_one_kind_of_y():
    with pytest.raises(ValueError, match="exactly one"):
        conditioning.Conditioning()
    with pytest.raises(ValueError, match="exactly one"):
        conditioning.Conditioning(num_classes=3, cond_shape=(2,))
    with pytest.raises(ValueError, match="cond_shape"):
        DataSpec((2,), cond_shape=(0,))


def test_batch_and_sample_condition():
    labels = conditioning.Conditioning(num_classes=3)
    batch = {"x": jnp.zeros((4, 2)), "label": jnp.asarray([2, 0, 1, 1])}
    y = conditioning.batch_condition(labels, batch)
    assert y.dtype == jnp.int32
    np.testing.assert_array_equal(y, [2, 0, 1, 1])
    with pytest.raises(ValueError, match=r"needs batch\['label'\]"):
        conditioning.batch_condition(labels, {"x": batch["x"]})
    # Default: a row of every class in turn, so a grid shows each class.
    np.testing.assert_array_equal(conditioning.sample_condition(labels, None, 7), [0, 1, 2, 0, 1, 2, 0])
    np.testing.assert_array_equal(conditioning.sample_condition(labels, np.full(5, 2), 5), np.full(5, 2))
    with pytest.raises(ValueError, match=r"cond has shape \(4,\); expected \(5,\)"):
        conditioning.sample_condition(labels, np.zeros(4), 5)
    arrays = conditioning.Conditioning(cond_shape=(3,))
    with pytest.raises(ValueError, match="pass cond"):
        conditioning.sample_condition(arrays, None, 2)
    assert conditioning.sample_condition(arrays, np.ones((2, 3)), 2).dtype == jnp.float32
    with pytest.raises(ValueError, match="unconditional"):
        conditioning.no_condition(np.zeros(2), "vae")
    conditioning.no_condition(None, "vae")


def test_embedding_has_a_null_row_and_features_are_one_hot():
    labels = conditioning.Conditioning(num_classes=3)
    module = ConditionEmbedding(labels, features=5)
    params = module.init(jax.random.key(0), jnp.zeros((2,), jnp.int32))
    table = params["params"]["label_embedding"]["embedding"]
    assert table.shape == (4, 5)  # three classes and the null label
    out = module.apply(params, jnp.asarray([3, 1]))
    np.testing.assert_array_equal(out, table[jnp.asarray([3, 1])])
    features = condition_features(labels, jnp.asarray([0, 2, 3]))
    np.testing.assert_array_equal(features, [[1, 0, 0], [0, 0, 1], [0, 0, 0]])  # null: all zeros
    arrays = conditioning.Conditioning(cond_shape=(2, 2))
    dense = ConditionEmbedding(arrays, features=4)
    y = jnp.arange(8.0).reshape(2, 2, 2)
    variables = dense.init(jax.random.key(0), y)
    kernel = variables["params"]["cond_projection"]["kernel"]
    bias = variables["params"]["cond_projection"]["bias"]
    np.testing.assert_allclose(dense.apply(variables, y), y.reshape(2, 4) @ kernel + bias, rtol=1e-6)
    np.testing.assert_array_equal(condition_features(arrays, y), y.reshape(2, 4))


@pytest.fixture(scope="module")
def cond_dataset():
    """x rows hold their example id; cond rows hold 10 * id, so batches show whether they line up."""
    ids = np.arange(40, dtype=np.float32)
    source = ArraySource(np.repeat(ids[:, None], 2, axis=1), label=np.arange(40) % 4, cond=10 * ids[:, None])
    splits = {"train": source, "test": source, "validation": source}
    return Dataset("regression", **splits, element_shape=(2,), num_levels=None)


def test_cond_rows_travel_with_their_examples(cond_dataset):
    data_config = ml_collections.ConfigDict({"name": "regression", "batch_size": 8})
    assert cond_dataset.spec.cond_shape == (1,) and cond_dataset.spec.num_classes == 4
    for process_index in range(2):
        shard = {"process_index": process_index, "process_count": 2}
        batch = train_batches(cond_dataset, data_config, seed=0, **shard)[3]
        assert batch["cond"].dtype == np.float32 and batch["cond"].shape == (4, 1)
        np.testing.assert_array_equal(batch["cond"][:, 0], 10 * batch["x"][:, 0])
        np.testing.assert_array_equal(batch["label"], batch["x"][:, 0].astype(int) % 4)
    for batch in eval_batches(cond_dataset, data_config, split="test"):
        np.testing.assert_array_equal(batch["cond"][:, 0], 10 * batch["x"][:, 0])
    with pytest.raises(ValueError, match="3 conditioning rows for 2 examples"):
        ArraySource(np.zeros((2, 1)), cond=np.zeros((3, 1)))
