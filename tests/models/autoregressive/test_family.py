"""The autoregressive family through the bundle and the loop, on exactly known binary data."""

import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from experiments.configs import autoregressive as ar_configs
from genjax import data as data_lib
from genjax import models
from genjax.errors import ConfigError
from genjax.models.autoregressive.family import ARCHITECTURES, exact_kl
from genjax.train import train_and_evaluate
from genjax.train.restore import restore_from_workdir
from tests.models.flows.bijector_checks import jitter


def _model(architecture: str, data_name: str):
    config = ar_configs.get_config(f"{architecture}_toy_binary")
    config.data.name = data_name
    dataset = data_lib.load_dataset(config.data)
    model = models.build(config, dataset)
    params = model.init(jax.random.key(0), {"x": jnp.zeros((2, *dataset.element_shape))})
    return model, {"model": jitter(params["model"], scale=0.5, seed=1)}, dataset


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_bundle_probabilities_sum_to_one_over_all_images(architecture):
    model, params, dataset = _model(architecture, "toy_binary:3x3")  # all 512 binary 3x3 images
    outcomes = jnp.asarray(data_lib.toy_binary.get("3x3").all_outcomes())
    total = jnp.sum(jnp.exp(model.log_prob(params, {"x": outcomes}, None)))
    np.testing.assert_allclose(total, 1.0, rtol=1e-5)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_bundle_samples_follow_the_model(architecture):
    model, params, _ = _model(architecture, "toy_binary:4")
    samples = jax.jit(model.sample, static_argnums=2)(params, jax.random.key(2), 30_000)
    outcomes = jnp.asarray(data_lib.toy_binary.get("4").all_outcomes())
    probs = np.exp(np.asarray(model.log_prob(params, {"x": outcomes}, None), np.float64))
    codes = np.asarray(samples).astype(int) @ (1 << np.arange(4)[::-1])
    observed = np.bincount(codes, minlength=16)
    assert stats.chisquare(observed, probs / probs.sum() * len(codes)).pvalue > 1e-3


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_training_fits_a_known_distribution(architecture, tmp_path):
    config = ar_configs.get_config(f"{architecture}_toy_binary")
    config.data.name = "toy_binary:6"
    config.train.update(num_steps=1_500, checkpoint_every=1_500, log_every=1_500)
    train_and_evaluate(config, tmp_path, print_fn=lambda *_: None)
    model, dataset, state, _ = restore_from_workdir(config, tmp_path)
    fresh = model.init(jax.random.key(0), {"x": jnp.zeros((2, 6))})
    assert exact_kl(model, state.eval_params(), dataset) < 0.05 < exact_kl(model, fresh, dataset)


def test_non_binary_data_and_unknown_architectures_are_config_errors():
    config = ar_configs.get_config("nade_digits")
    digits = types.SimpleNamespace(name="digits", element_shape=(8, 8, 1), num_levels=17)
    config.data.binarize = "none"
    with pytest.raises(ConfigError, match=r"data\.binarize"):
        models.build(config, digits)
    config.data.binarize = "dynamic"
    config.model.architecture = "pixelcnn"
    with pytest.raises(ConfigError, match=r"model\.architecture"):
        models.build(config, digits)


@pytest.mark.parametrize("variant", [v for v in ar_configs.VARIANTS if "mnist" not in v])
def test_offline_variants_build(variant):
    config = ar_configs.get_config(variant)
    model = models.build(config, data_lib.load_dataset(config.data))
    assert model.players == ("model",)


def test_mnist_variants_build_on_the_mnist_shape():
    mnist = types.SimpleNamespace(name="npz", element_shape=(28, 28, 1), num_levels=2)
    for architecture in ARCHITECTURES:
        config = ar_configs.get_config(f"{architecture}_binarized_mnist")
        assert models.build(config, mnist).element_shape == (28, 28, 1)


def test_smoke_binary_runs(run, tmp_path):
    result = run(
        "experiments.train", "--config=experiments/configs/autoregressive.py:smoke", f"--workdir={tmp_path}"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "nll" in result.stdout
