"""The VAE family: every network x likelihood builds, trains and reports consistent bounds."""

import jax
import numpy as np
import pytest

from experiments.configs import vae as vae_config
from genjax import models
from genjax.errors import ConfigError
from genjax.spec import DataSpec

DIGITS = DataSpec(element_shape=(8, 8, 1), num_levels=17)
TOY = DataSpec(element_shape=(2,), num_levels=None)


def build(dataset=DIGITS, **model):
    config = vae_config.get_config("smoke")
    config.model.update(**model)
    return config, models.build(config, dataset)


def digit_batch(likelihood):
    rng = np.random.default_rng(0)
    levels = rng.integers(0, 17, size=(16, 8, 8, 1)) / 16.0
    x = (levels > 0.5).astype(np.float32) if likelihood == "bernoulli" else levels.astype(np.float32)
    return {"x": x}


@pytest.mark.slow
@pytest.mark.parametrize("network", ["mlp", "conv"])
@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian", "discretized_logistic"])
def test_every_network_and_likelihood_trains(network, likelihood):
    config, model = build(network=network, likelihood=likelihood)
    batch = digit_batch(likelihood)
    params = model.init(jax.random.key(0), batch)
    (loss, metrics), grads = jax.value_and_grad(model.losses["model"], has_aux=True)(
        params, batch, jax.random.key(1)
    )
    assert np.isfinite(loss) and np.isfinite(metrics["kl"]) and metrics["kl"] >= 0
    # Every parameter that the likelihood uses gets a gradient.
    flat = jax.tree_util.tree_leaves_with_path(grads)
    for path, grad in flat:
        if "log_scale" in jax.tree_util.keystr(path) and likelihood == "bernoulli":
            continue
        assert np.any(np.asarray(grad) != 0), jax.tree_util.keystr(path)
    samples = model.sample(params, jax.random.key(2), 5)
    assert samples.shape == (5, 8, 8, 1) and np.all(np.isfinite(samples))
    # The IWAE estimate is at least the ELBO on average (here, over the batch).
    log_prob = model.log_prob(params, batch, jax.random.key(3))
    elbo = model.eval_metrics(params, batch, jax.random.key(3))["elbo"]
    assert log_prob.shape == (16,) and float(log_prob.mean()) >= float(elbo.mean()) - 0.5


@pytest.mark.slow
def test_iwae_objective_is_tighter_than_elbo_objective_at_the_same_parameters():
    config, elbo_model = build(objective="elbo", num_train_samples=1)
    _, iwae_model = build(objective="iwae", num_train_samples=50)
    batch = digit_batch("bernoulli")
    params = elbo_model.init(jax.random.key(0), batch)
    keys = jax.random.split(jax.random.key(0), 20)

    def mean_loss(model):
        losses = jax.jit(jax.vmap(lambda key: model.losses["model"](params, batch, key)[0]))(keys)
        return float(losses.mean())

    elbo_loss, iwae_loss = mean_loss(elbo_model), mean_loss(iwae_model)
    assert iwae_loss < elbo_loss


@pytest.mark.slow
def test_beta_changes_only_the_kl_weight():
    batch = digit_batch("bernoulli")
    _, beta1 = build(beta=1.0)
    _, beta4 = build(beta=4.0)
    params = beta1.init(jax.random.key(0), batch)
    loss1, metrics = beta1.losses["model"](params, batch, jax.random.key(1))
    loss4, _ = beta4.losses["model"](params, batch, jax.random.key(1))
    np.testing.assert_allclose(loss4 - loss1, 3.0 * metrics["kl"], rtol=1e-4)


@pytest.mark.slow
def test_gaussian_vae_on_continuous_2d_data():
    _, model = build(TOY, likelihood="gaussian")
    batch = {"x": np.random.default_rng(0).normal(size=(8, 2)).astype(np.float32)}
    params = model.init(jax.random.key(0), batch)
    assert np.isfinite(model.losses["model"](params, batch, jax.random.key(1))[0])
    assert model.sample(params, jax.random.key(2), 3).shape == (3, 2)


@pytest.mark.parametrize(
    "dataset,model_fields,field",
    [
        (DIGITS, {"likelihood": "poisson"}, "model.likelihood"),
        (DIGITS, {"network": "transformer"}, "model.network"),
        (DIGITS, {"objective": "wake_sleep"}, "model.objective"),
        (DIGITS, {"latent_dim": 0}, "model.latent_dim"),
        (DIGITS, {"network": "conv", "conv_features": (8, 8, 8, 8)}, "model.network"),
        (TOY, {"likelihood": "discretized_logistic"}, "model.likelihood"),
        (TOY, {"network": "conv"}, "model.network"),
    ],
)
def test_bad_model_config_names_the_field(dataset, model_fields, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        build(dataset, **model_fields)


def test_unknown_family_lists_the_known_ones():
    config = vae_config.get_config("smoke")
    config.model.name = "glow"  # an architecture of the flow family, not a family
    known = ", ".join(models.known_models())  # every registered family, e.g. "autoregressive, flow, vae"
    with pytest.raises(ConfigError, match=f"model.name: unknown model 'glow'; known: {known}$"):
        models.build(config, DIGITS)
