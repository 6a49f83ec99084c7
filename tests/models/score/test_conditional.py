"""The class-conditional NCSN: guided annealed Langevin on the requested classes, label dropout to
the null row, one-line config errors, and the unconditional tree unchanged."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.configs import score as score_config
from genjax import models
from genjax.errors import ConfigError
from genjax.models.conditioning import Conditioning
from genjax.models.networks.denoiser import make_network
from genjax.samplers import annealed_langevin, classifier_free_guidance, geometric_sigmas
from genjax.spec import DataSpec
from genjax.train import train_and_evaluate
from tests.models.family_checks import QUIET, short

K = 10
SPEC = DataSpec(name="digits", element_shape=(8, 8, 1), num_levels=17, num_classes=K)
LABELS = jnp.array([1, 1, 1, 8, 8, 8], jnp.int32)


def batch_of(n: int) -> dict:
    x = jnp.asarray(np.random.default_rng(0).integers(0, 17, (n, 8, 8, 1)) / 16.0, jnp.float32)
    return {"x": x, "label": jnp.arange(n, dtype=jnp.int32) % K}


def config_with(**model):
    config = score_config.get_config("smoke_conditional")
    config.model.update(model)
    return config


@pytest.fixture(scope="module")
def trained_like():
    """The smoke model with its parameters moved off their initial values (the zero-initialised
    output layer would otherwise give the same score to every label)."""
    config = config_with()
    model = models.build(config, SPEC)
    params = model.init(jax.random.key(0), batch_of(4))
    leaves, tree = jax.tree.flatten(params)
    keys = jax.random.split(jax.random.key(1), len(leaves))
    params = tree.unflatten(
        [p + 0.3 * jax.random.normal(k, p.shape) for p, k in zip(leaves, keys, strict=True)]
    )
    network = make_network(config.model, SPEC.element_shape, Conditioning(num_classes=K))

    def score_fn(x, sigma, y):  # scale_by_sigma: net(x, log sigma, y) / sigma
        return network.apply(params["score"], x, jnp.log(sigma), None, y) / sigma[:, None, None, None]

    return config, model, params, score_fn


@pytest.mark.slow  # 5-6 s each: the fast tier keeps the exactness tests of tests/samplers/test_guidance.py
@pytest.mark.parametrize("scale", [2.5, 1.0])
def test_sample_runs_guided_annealed_langevin_on_the_requested_classes(trained_like, scale):
    config, model, params, score_fn = trained_like
    m = config.model
    rng = jax.random.key(2)
    samples = model.sample(params, rng, len(LABELS), cond=LABELS, guidance_scale=scale)
    init_key, chain_key = jax.random.split(rng)
    x0 = jax.random.uniform(init_key, samples.shape, minval=m.init_low, maxval=m.init_high)
    guided = classifier_free_guidance(score_fn, LABELS, jnp.full_like(LABELS, K), guidance_scale=scale)
    x = annealed_langevin(
        chain_key,
        guided,
        x0,
        geometric_sigmas(m.sigma_max, m.sigma_min, m.num_sigmas),
        step_size=m.step_size,
        steps_per_sigma=m.steps_per_sigma,
        final_denoise=m.final_denoise,
    )
    np.testing.assert_allclose(samples, jnp.clip(x, 0, 1), atol=1e-5)
    other = model.sample(params, rng, len(LABELS), cond=LABELS[::-1], guidance_scale=scale)
    assert not np.allclose(samples[:3], other[:3], atol=1e-2)  # the label reaches the samples
    if scale == 1.0:  # defaults: labels arange(n) % K, the config's scale
        default = model.sample(params, rng, 12)
        explicit = model.sample(params, rng, 12, cond=jnp.arange(12) % K, guidance_scale=m.guidance_scale)
        np.testing.assert_array_equal(default, explicit)


def test_label_dropout_trains_the_null_row_and_only_with_dropout(trained_like):
    params = trained_like[2]
    batch = batch_of(64)

    def null_row(rate):
        model = models.build(config_with(label_dropout=rate), SPEC)
        grads = jax.jit(jax.grad(lambda p: model.losses["score"](p, batch, jax.random.key(3))[0]))(params)
        table = grads["score"]["params"]["condition"]["label_embedding"]["embedding"]
        assert (
            table.shape == (K + 1, config_with().model.embedding_dim) and float(jnp.abs(table[:K]).sum()) > 0
        )
        return float(jnp.abs(table[K]).sum())

    assert null_row(0.0) == 0.0 and null_row(0.5) > 0.0
    dsm = trained_like[1].eval_metrics(params, batch, jax.random.key(4))["dsm"]
    assert dsm.shape == (64,) and bool(jnp.all(jnp.isfinite(dsm)))


@pytest.mark.parametrize(
    "model_fields, spec, field",
    [
        ({"label_dropout": 1.5}, SPEC, "model.label_dropout"),
        ({"guidance_scale": -0.5}, SPEC, "model.guidance_scale"),
        ({}, DataSpec(name="digits", element_shape=(8, 8, 1), num_levels=17), "model.conditional"),
    ],
)
def test_bad_config_values_are_one_line_config_errors(model_fields, spec, field):
    with pytest.raises(ConfigError, match=field) as error:
        models.build(config_with(**model_fields), spec)
    assert "\n" not in str(error.value)


def test_the_conditional_tree_is_the_unconditional_one_plus_a_label_embedding():
    batch = {
        "x": jax.ShapeDtypeStruct((2, 8, 8, 1), jnp.float32),
        "label": jax.ShapeDtypeStruct((2,), jnp.int32),
    }
    trees = {
        conditional: jax.eval_shape(
            models.build(config_with(conditional=conditional), SPEC).init, jax.random.key(0), batch
        )["score"]["params"]
        for conditional in (False, True)
    }
    conditional_params = dict(trees[True])
    assert conditional_params.pop("condition")["label_embedding"]["embedding"].shape == (K + 1, 8)
    shapes = jax.tree.map(lambda a: a.shape, conditional_params)
    assert shapes == jax.tree.map(lambda a: a.shape, dict(trees[False]))


@pytest.mark.slow
def test_smoke_conditional_trains_on_labelled_digits_through_the_loop(tmp_path):
    result = train_and_evaluate(short(score_config.get_config("smoke_conditional")), tmp_path, **QUIET)
    assert np.isfinite(result["train/loss"]) and np.isfinite(result["test/dsm"])
