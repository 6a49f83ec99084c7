"""Short training runs through the loop reach distributions that are known exactly."""

import math

import jax
import jax.numpy as jnp
import pytest

from experiments.configs import autoregressive as ar_configs
from genjax.models.autoregressive.family import exact_kl
from genjax.train import train_and_evaluate
from genjax.train.restore import restore_from_workdir


@pytest.mark.slow
@pytest.mark.parametrize("architecture", ["fvsbn", "nade", "made"])
def test_training_fits_a_known_binary_distribution(architecture, tmp_path):
    config = ar_configs.get_config(f"{architecture}_toy_binary")
    config.data.name = "toy_binary:6"
    config.train.update(num_steps=1_500, checkpoint_every=1_500, log_every=1_500)
    train_and_evaluate(config, tmp_path, print_fn=lambda *_: None)
    model, dataset, state, _ = restore_from_workdir(config, tmp_path)
    fresh = model.init(jax.random.key(0), {"x": jnp.zeros((2, 6))})
    outcomes, log_p = dataset.outcomes(), dataset.log_density
    assert (
        exact_kl(model, state.eval_params(), outcomes, log_p) < 0.05 < exact_kl(model, fresh, outcomes, log_p)
    )


@pytest.mark.slow
def test_transformer_perplexity_approaches_the_markov_chain_entropy_rate(tmp_path):
    config = ar_configs.get_config("transformer_markov")
    config.data.update(name="toy_markov:4x8", num_test=2_000)
    config.model.update(features=32, num_layers=1, num_heads=2)
    config.train.update(num_steps=1_000, checkpoint_every=1_000, log_every=1_000)
    results = train_and_evaluate(config, tmp_path, print_fn=lambda *_: None)
    _, dataset, _, _ = restore_from_workdir(config, tmp_path)
    true_perplexity = math.exp(dataset.entropy / 8)
    assert results["test/perplexity"] == pytest.approx(math.exp(results["test/nll"] / 8), rel=1e-5)
    # The test NLL exceeds the entropy by KL (>= 0) plus sampling noise of the 2000 test sequences.
    assert true_perplexity * 0.97 < results["test/perplexity"] < true_perplexity * 1.05 < 4.0
