"""toy_binary: exact, enumerable binary distributions for testing likelihood models."""

import math

import ml_collections
import numpy as np
import pytest
from scipy import stats

from genjax import data as data_lib
from genjax.data import toy_binary
from genjax.errors import ConfigError


@pytest.mark.parametrize(
    "argument, shape", [("1", (1,)), ("6", (6,)), ("3x3", (3, 3, 1)), ("2x5", (2, 5, 1))]
)
def test_probabilities_of_all_outcomes_sum_to_one(argument, shape):
    toy = toy_binary.get(argument)
    outcomes = toy.all_outcomes()
    assert outcomes.shape == (2 ** math.prod(shape), *shape)
    assert len(np.unique(outcomes.reshape(len(outcomes), -1), axis=0)) == len(outcomes)
    np.testing.assert_allclose(np.exp(toy.log_density(outcomes)).sum(), 1.0, rtol=1e-12)
    # A mixture of products with means in (0.05, 0.95) gives every outcome mass.
    assert np.all(np.isfinite(toy.log_density(outcomes)))


def test_sample_frequencies_match_the_probabilities():
    toy = toy_binary.get("4")
    samples = toy.sample(np.random.default_rng(0), 40_000)
    codes = samples.astype(int) @ (1 << np.arange(4)[::-1])
    observed = np.bincount(codes, minlength=16)
    expected = np.exp(toy.log_density(toy.all_outcomes())) * len(samples)
    assert stats.chisquare(observed, expected).pvalue > 1e-3


def test_entropy_agrees_with_monte_carlo_and_is_fixed_by_the_shape():
    toy = toy_binary.get("8")
    samples = toy.sample(np.random.default_rng(1), 200_000)
    log_p = toy.log_density(samples)
    assert abs(-log_p.mean() - toy.entropy) < 4 * log_p.std() / math.sqrt(len(log_p))
    assert 0 < toy.entropy < 8 * math.log(2)
    np.testing.assert_array_equal(toy_binary.get("8").probs, toy.probs)


def test_load_dataset_and_batches():
    config = ml_collections.ConfigDict({"name": "toy_binary:3x3", "batch_size": 16, "num_test": 500})
    dataset = data_lib.load_dataset(config)
    assert dataset.element_shape == (3, 3, 1) and dataset.num_levels == 2
    batch = data_lib.train_batches(dataset, config, seed=0)[3]
    assert batch["x"].shape == (16, 3, 3, 1) and set(np.unique(batch["x"])) <= {0.0, 1.0}
    test = dataset.test.gather(np.arange(500))["x"]
    assert np.isfinite(dataset.log_density(test)).all()


@pytest.mark.parametrize(
    "name, message", [("toy_binary:0", "toy_binary:D or"), ("toy_binary:5x5", "at most 20")]
)
def test_bad_names_fail_with_one_line(name, message):
    with pytest.raises(ConfigError, match=message):
        data_lib.load_dataset(ml_collections.ConfigDict({"name": name, "batch_size": 4}))
