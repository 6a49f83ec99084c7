"""The class-conditional DDPM: guided ddpm/ddim sampling of the requested classes, the conditional
bound, label dropout to the null row, one-line config errors, and unconditional trees unchanged."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.configs import ddpm as ddpm_config
from genjax import models
from genjax.diffusion import make_schedule
from genjax.errors import ConfigError
from genjax.losses.diffusion import ddpm_variational_bound
from genjax.models.conditioning import Conditioning
from genjax.models.ddpm.family import make_betas
from genjax.models.networks.denoiser import make_network
from genjax.samplers import classifier_free_guidance, ddim_sample, ddpm_sample
from genjax.spec import DataSpec
from genjax.train import train_and_evaluate
from tests.models.family_checks import QUIET, short

K = 10
SPEC = DataSpec(name="digits", element_shape=(8, 8, 1), num_levels=17, num_classes=K)
UNLABELLED = DataSpec(name="digits", element_shape=(8, 8, 1), num_levels=17)
LABELS = jnp.array([3, 3, 3, 7, 7, 7], jnp.int32)


def batch_of(n: int) -> dict:
    x = jnp.asarray(np.random.default_rng(0).integers(0, 17, (n, 8, 8, 1)) / 16.0, jnp.float32)
    return {"x": x, "label": jnp.arange(n, dtype=jnp.int32) % K}


def config_with(**model):
    config = ddpm_config.get_config("smoke_conditional")
    config.model.update(model)
    return config


@pytest.fixture(scope="module")
def trained_like():
    """The smoke model with every parameter moved off its initial value: the zero-initialised
    output layer would otherwise predict eps = 0 for every label."""
    config = config_with()
    model = models.build(config, SPEC)
    params = model.init(jax.random.key(0), batch_of(4))
    leaves, tree = jax.tree.flatten(params)
    keys = jax.random.split(jax.random.key(1), len(leaves))
    params = tree.unflatten(
        [p + 0.3 * jax.random.normal(k, p.shape) for p, k in zip(leaves, keys, strict=True)]
    )
    network = make_network(config.model, SPEC.element_shape, Conditioning(num_classes=K))

    def eps_fn(x, t, y):
        return network.apply(params["denoiser"], x, t.astype(jnp.float32), None, y)

    return config, model, params, eps_fn, make_schedule(make_betas(config.model))


@pytest.mark.parametrize("sampler", ["ddpm", "ddim"])
def test_sample_runs_the_guided_chain_on_the_requested_classes(trained_like, sampler):
    config, _, params, eps_fn, schedule = trained_like
    config = config_with(sampler=sampler, ddim_steps=7)
    model = models.build(config, SPEC)
    rng = jax.random.key(2)
    samples = model.sample(params, rng, len(LABELS), cond=LABELS, guidance_scale=2.5)
    noise_key, chain_key = jax.random.split(rng)
    x_T = jax.random.normal(noise_key, samples.shape)
    guided = classifier_free_guidance(eps_fn, LABELS, jnp.full_like(LABELS, K), guidance_scale=2.5)
    if sampler == "ddpm":
        x = ddpm_sample(chain_key, guided, x_T, schedule, variance=config.model.variance)
    else:
        x = ddim_sample(chain_key, guided, x_T, schedule, num_steps=7, eta=config.model.ddim_eta)
    np.testing.assert_allclose(samples, jnp.clip((x + 1) / 2, 0, 1), atol=1e-5)
    other = model.sample(params, rng, len(LABELS), cond=LABELS[::-1], guidance_scale=2.5)
    assert not np.allclose(samples[:3], other[:3], atol=1e-2)  # the label reaches the samples


def test_default_labels_and_scale_come_from_arange_and_the_config(trained_like):
    config, model, params, eps_fn, schedule = trained_like
    rng = jax.random.key(3)
    default = model.sample(params, rng, 12)
    explicit = model.sample(
        params, rng, 12, cond=jnp.arange(12) % K, guidance_scale=config.model.guidance_scale
    )
    np.testing.assert_array_equal(default, explicit)
    # Scale 1 is the plain conditional chain.
    noise_key, chain_key = jax.random.split(rng)
    x_T = jax.random.normal(noise_key, (len(LABELS), *SPEC.element_shape))
    x = ddpm_sample(chain_key, lambda x, t: eps_fn(x, t, LABELS), x_T, schedule)
    np.testing.assert_allclose(
        model.sample(params, rng, len(LABELS), cond=LABELS, guidance_scale=1.0),
        jnp.clip((x + 1) / 2, 0, 1),
        atol=1e-5,
    )


def test_log_prob_is_the_bound_of_p_x_given_its_label(trained_like):
    config, model, params, eps_fn, schedule = trained_like
    batch = batch_of(4)
    bound = model.log_prob(params, batch, jax.random.key(4))
    expected = ddpm_variational_bound(
        jax.random.key(4),
        lambda x, t: eps_fn(x, t, batch["label"]),
        2.0 * batch["x"] - 1.0,
        schedule,
        num_levels=17,
        timesteps=config.eval.bound_timesteps,
        variance=config.model.variance,
    )
    assert bound.shape == (4,) and bool(jnp.all(jnp.isfinite(bound)))
    np.testing.assert_allclose(bound, expected, rtol=1e-5)
    relabelled = model.log_prob(params, {**batch, "label": (batch["label"] + 1) % K}, jax.random.key(4))
    assert not np.allclose(bound, relabelled, rtol=1e-4)
    assert model.eval_metrics(params, batch, jax.random.key(5))["eps_mse"].shape == (4,)


def null_row_gradient(rate: float, params) -> jax.Array:
    """|d loss / d (null label's embedding row)| for a model trained with label dropout ``rate``."""
    model = models.build(config_with(label_dropout=rate), SPEC)
    grads = jax.jit(jax.grad(lambda p: model.losses["denoiser"](p, batch_of(64), jax.random.key(6))[0]))(
        params
    )
    table = grads["denoiser"]["params"]["condition"]["label_embedding"]["embedding"]
    assert table.shape == (K + 1, config_with().model.embedding_dim)
    assert float(jnp.abs(table[:K]).sum()) > 0  # the batch's labels reach the loss
    return jnp.abs(table[K]).sum()


def test_label_dropout_trains_the_null_row_and_only_with_dropout(trained_like):
    params = trained_like[2]
    assert float(null_row_gradient(0.0, params)) == 0.0
    assert float(null_row_gradient(0.5, params)) > 0.0


@pytest.mark.parametrize(
    "model_fields, spec, field",
    [
        ({"label_dropout": 1.5}, SPEC, "model.label_dropout"),
        ({"label_dropout": 1.0}, SPEC, "model.label_dropout"),
        ({"guidance_scale": -1.0}, SPEC, "model.guidance_scale"),
        ({}, UNLABELLED, "model.conditional"),
        (
            {},
            DataSpec(name="arrays", element_shape=(8, 8, 1), num_levels=17, cond_shape=(3,)),
            "model.label_dropout",
        ),
    ],
)
def test_bad_config_values_are_one_line_config_errors(model_fields, spec, field):
    with pytest.raises(ConfigError, match=field) as error:
        models.build(config_with(**model_fields), spec)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("architecture", ["mlp", "unet"])
def test_the_conditional_tree_is_the_unconditional_one_plus_a_label_embedding(architecture):
    """Unconditional parameter trees (and so their checkpoints) are untouched by conditioning."""
    fields = {
        "architecture": architecture,
        "channels": 8,
        "channel_mults": (1, 2),
        "attention_resolutions": (),
    }
    batch = jax.ShapeDtypeStruct((2, 8, 8, 1), jnp.float32)
    labels = jax.ShapeDtypeStruct((2,), jnp.int32)
    trees = {}
    for conditional in (False, True):
        model = models.build(config_with(conditional=conditional, **fields), SPEC)
        trees[conditional] = jax.eval_shape(model.init, jax.random.key(0), {"x": batch, "label": labels})
    conditional_params = dict(trees[True]["denoiser"]["params"])
    embedding = conditional_params.pop("condition")["label_embedding"]["embedding"]
    width = 4 * 8 if architecture == "unet" else config_with().model.embedding_dim
    assert embedding.shape == (K + 1, width)
    assert jax.tree.map(lambda a: a.shape, conditional_params) == jax.tree.map(
        lambda a: a.shape, dict(trees[False]["denoiser"]["params"])
    )


def test_unconditional_samplers_refuse_cond_and_guidance():
    model = models.build(config_with(conditional=False), SPEC)
    params = model.init(jax.random.key(0), batch_of(2))
    with pytest.raises(ValueError, match="unconditional"):
        model.sample(params, jax.random.key(1), 2, cond=LABELS[:2])
    with pytest.raises(ValueError, match="guidance_scale needs a conditional model"):
        model.sample(params, jax.random.key(1), 2, guidance_scale=2.0)


def test_a_conditioning_array_trains_and_samples_without_guidance():
    spec = DataSpec(name="arrays", element_shape=(8, 8, 1), num_levels=17, cond_shape=(3,))
    model = models.build(config_with(label_dropout=0.0, guidance_scale=1.0), spec)
    batch = {"x": batch_of(4)["x"], "cond": jnp.ones((4, 3))}
    params = model.init(jax.random.key(0), batch)
    loss, _ = model.losses["denoiser"](params, batch, jax.random.key(1))
    assert np.isfinite(float(loss))
    assert model.sample(params, jax.random.key(2), 4, cond=jnp.zeros((4, 3))).shape == (4, 8, 8, 1)
    with pytest.raises(ValueError, match="needs class labels"):
        model.sample(params, jax.random.key(2), 4, cond=jnp.zeros((4, 3)), guidance_scale=2.0)


@pytest.mark.slow
def test_smoke_conditional_trains_on_labelled_digits_through_the_loop(tmp_path):
    result = train_and_evaluate(short(ddpm_config.get_config("smoke_conditional")), tmp_path, **QUIET)
    assert np.isfinite(result["train/loss"]) and np.isfinite(result["test/nll"])
