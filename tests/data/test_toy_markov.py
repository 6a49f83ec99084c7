"""toy_markov: token sequences from a fixed Markov chain with exact probabilities."""

import math

import ml_collections
import numpy as np
import pytest
from scipy import stats

from genjax import data as data_lib
from genjax import metrics
from genjax.data import toy_markov
from genjax.errors import ConfigError


def _exact_entropy(toy: toy_markov.ToyMarkov) -> float:
    log_p = toy.log_density(toy.all_outcomes())
    return float(-np.sum(np.exp(log_p) * log_p))


@pytest.mark.parametrize("argument", ["2x1", "3x4", "4x3", "5x2"])
def test_probabilities_of_all_sequences_sum_to_one(argument):
    toy = toy_markov.get(argument)
    outcomes = toy.all_outcomes()
    assert outcomes.shape == (toy.num_states**toy.length, toy.length)
    assert len(np.unique(outcomes, axis=0)) == len(outcomes)
    log_p = toy.log_density(outcomes)
    assert np.all(np.isfinite(log_p))  # the uniform floor gives every sequence mass
    np.testing.assert_allclose(np.exp(log_p).sum(), 1.0, rtol=1e-12)


def test_log_density_is_the_product_of_the_chain_factors():
    toy = toy_markov.get("4x5")
    sequence = [3, 0, 0, 2, 1]
    expected = toy.initial[3] * toy.transition[3, 0] * toy.transition[0, 0]
    expected *= toy.transition[0, 2] * toy.transition[2, 1]
    np.testing.assert_allclose(toy.log_density(np.array([sequence], np.float32)), [np.log(expected)])
    with pytest.raises(ValueError, match="token ids in 0..3"):
        toy.log_density(np.array([[0, 1, 4, 0, 0]], np.float32))


def test_entropy_matches_enumeration_and_the_stationary_formula():
    toy = toy_markov.get("3x4")
    np.testing.assert_allclose(toy.initial @ toy.transition, toy.initial, atol=1e-12)  # stationary start
    closed_form = stats.entropy(toy.initial) + (toy.length - 1) * toy.entropy_rate
    np.testing.assert_allclose(toy.entropy, _exact_entropy(toy), rtol=1e-10)
    np.testing.assert_allclose(toy.entropy, closed_form, rtol=1e-10)
    longer = toy_markov.get("3x5")
    np.testing.assert_allclose(longer.entropy - toy.entropy, toy.entropy_rate, rtol=1e-10)


def test_chain_is_fixed_by_v_and_neither_trivial_nor_uniform():
    np.testing.assert_array_equal(toy_markov.get("6x3").transition, toy_markov.get("6x40").transition)
    assert toy_markov.get("6").length == toy_markov.DEFAULT_LENGTH
    for num_states in (3, 8, 64, 256):  # the next token is predictable, but far from certain
        rate = toy_markov.get(str(num_states)).entropy_rate
        assert 0.2 * math.log(num_states) < rate < 0.9 * math.log(num_states)


def test_sample_frequencies_match_the_probabilities():
    toy = toy_markov.get("3x3")
    samples = toy.sample(np.random.default_rng(0), 30_000)
    assert samples.dtype == np.float32 and samples.shape == (30_000, 3)
    codes = samples.astype(int) @ (3 ** np.arange(3)[::-1])  # the order of all_outcomes
    observed = np.bincount(codes, minlength=27)
    expected = np.exp(toy.log_density(toy.all_outcomes())) * len(samples)
    assert stats.chisquare(observed, expected).pvalue > 1e-3


def test_empirical_entropy_of_long_samples_matches_the_exact_entropy():
    toy = toy_markov.get("12x16")
    log_p = toy.log_density(toy.sample(np.random.default_rng(1), 20_000))
    assert abs(-log_p.mean() - toy.entropy) < 4 * log_p.std() / math.sqrt(len(log_p))
    # The true model's perplexity: exp(H / T), below the uniform model's V.
    np.testing.assert_allclose(
        metrics.perplexity(toy.entropy, toy.length), math.exp(toy.entropy / 16), rtol=1e-6
    )
    assert math.exp(toy.entropy / 16) < 12


def test_load_dataset_and_batches():
    config = ml_collections.ConfigDict({"name": "toy_markov:5x8", "batch_size": 16, "num_test": 300})
    dataset = data_lib.load_dataset(config)
    assert dataset.element_shape == (8,) and dataset.num_levels == 5 and dataset.tokens
    assert dataset.entropy == toy_markov.get("5x8").entropy
    batch = data_lib.train_batches(dataset, config, seed=0)[3]
    assert batch["x"].shape == (16, 8) and set(np.unique(batch["x"])) <= set(range(5))
    test = dataset.test.gather(np.arange(300))["x"]
    assert np.isfinite(dataset.log_density(test)).all()
    assert not data_lib.load_dataset({"name": "toy_binary:3", "batch_size": 4}).tokens


@pytest.mark.parametrize(
    "name, message",
    [
        ("toy_markov:1", "V must be in 2..1024"),
        ("toy_markov:0x4", "V must be in 2..1024"),
        ("toy_markov:3x0", "T must be in 1..4096"),
        ("toy_markov:abc", "is not toy_markov:V or toy_markov:VxT"),
        ("toy_markov:", "is not toy_markov:V or toy_markov:VxT"),
        ("toy_markov:3x4x5", "is not toy_markov:V or toy_markov:VxT"),
    ],
)
def test_bad_names_fail_with_one_line(name, message):
    with pytest.raises(ConfigError, match=message) as error:
        data_lib.load_dataset(ml_collections.ConfigDict({"name": name, "batch_size": 4}))
    assert str(error.value).startswith("data.name: ") and "\n" not in str(error.value)
