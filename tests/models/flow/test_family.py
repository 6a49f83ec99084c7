"""The flow family end to end: exact densities, the bits/dim accounting, sampling, configs."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.configs import flow as flow_configs
from genjax import bijections, distributions, models
from genjax import data as data_lib
from genjax.errors import ConfigError
from genjax.models.flow import make_flow
from genjax.spec import DataSpec
from genjax.train import train_and_evaluate
from genjax.train.evaluation import evaluate
from genjax.train.step import make_mesh
from tests.models.flow.bijector_checks import check_bijector, jitter, perturbed_params

ARCHITECTURES = flow_configs.ARCHITECTURES


def test_the_configs_offer_exactly_the_family_s_architectures():
    # experiments/configs never import genjax (a config loads without jax), so the
    # tuple is written twice; this keeps the two copies in step.
    from genjax.models.flow import family

    assert flow_configs.ARCHITECTURES == family.ARCHITECTURES


def _small_config(variant: str, **model):
    config = flow_configs.get_config(variant)
    config.model.update(num_layers=4, hidden_sizes=(16, 16), steps_per_scale=2, **model)
    return config


def _fake_dataset(element_shape, num_levels, name="fake"):
    return DataSpec(name=name, element_shape=element_shape, num_levels=num_levels)


@pytest.mark.slow
@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_random_2d_flow_density_integrates_to_one(architecture):
    config = _small_config(f"{architecture}_8gaussians")
    model = models.build(config, _fake_dataset((2,), None))
    init_batch = {"x": jax.random.normal(jax.random.key(0), (64, 2)) * 2}
    params = model.init(jax.random.key(1), init_batch)
    params = {"model": jitter(params["model"], scale=0.1, seed=3)}
    # Midpoint rule on a fine grid wide enough to hold the (perturbed) mass.
    half_width, resolution = 16.0, 800
    cell = 2 * half_width / resolution
    centres = -half_width + cell * (np.arange(resolution) + 0.5)
    grid = np.stack(np.meshgrid(centres, centres), -1).reshape(-1, 2).astype(np.float32)
    log_q = jax.jit(lambda x: model.log_prob(params, {"x": x}, None))(grid)
    mass = float(jnp.sum(jnp.exp(log_q)) * cell**2)
    assert abs(mass - 1.0) < 1e-2, mass


@pytest.mark.slow
@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_full_image_models_invert_with_autodiff_log_det(architecture):
    # 4x4x1 images: a 16 x 16 Jacobian, yet two squeezes for the multi-scale models.
    config = _small_config(f"{architecture}_digits", num_scales=2)
    flow = make_flow(config.model, (4, 4, 1))
    x = jax.random.uniform(jax.random.key(0), (6, 4, 4, 1)) - 0.5
    check_bijector(flow, perturbed_params(flow, x, scale=0.1), x, atol=2e-4)


@pytest.mark.slow
def test_uniform_model_scores_exactly_log2_levels_bits_per_dim():
    # A fresh NICE is the identity; with a logistic prior and the alpha = 0 logit
    # transform the model is exactly uniform on [0, 1)^64, i.e. uniform over the
    # 17^64 digit images: log2(17) bits/dim, whatever the dequantization noise.
    config = flow_configs.get_config("nice_digits")
    config.model.update(base="logistic", preprocess="logit", logit_alpha=0.0)
    dataset = data_lib.load_dataset(config.data)
    model = models.build(config, dataset)
    params = model.init(jax.random.key(0), data_lib.train_batches(dataset, config.data, seed=0)[0])
    results = evaluate(
        model, params, data_lib.eval_batches(dataset, config.data), seed=0, step=0, mesh=make_mesh()
    )
    assert results["num_examples"] == 297
    np.testing.assert_allclose(results["bits_per_dim"], math.log2(17), rtol=1e-5)
    np.testing.assert_allclose(results["nll"], 64 * math.log(17), rtol=1e-5)


@pytest.mark.slow
def test_sampling_temperature_scales_the_base_distribution():
    config = _small_config("realnvp_8gaussians")
    model = models.build(config, _fake_dataset((2,), None))
    params = model.init(jax.random.key(0), {"x": jnp.zeros((8, 2))})  # a fresh flow is the identity
    sample = jax.jit(model.sample, static_argnums=(2, 3))
    np.testing.assert_allclose(
        jnp.std(sample(params, jax.random.key(1), 20_000, 0.5), axis=0), 0.5, rtol=0.03
    )
    np.testing.assert_allclose(
        jnp.std(sample(params, jax.random.key(1), 20_000, None), axis=0), 1.0, rtol=0.03
    )
    np.testing.assert_array_equal(sample(params, jax.random.key(1), 4, 0.0), 0.0)


@pytest.mark.slow
def test_samples_and_log_probs_agree_for_maf_images():
    """MAF samples sequentially and scores in one pass; both must describe the same density.

    For a sample x = g(z), the bundle's log-prob must equal log N(z) minus the
    sampling log-det of z -> x (inverse pass and logit map), less D log L for
    the 17-level dequantization, and the forward pass must give z back.
    """
    config = _small_config("maf_digits")
    model = models.build(config, _fake_dataset((4, 4, 1), 17))
    params = model.init(jax.random.key(0), {"x": jax.random.uniform(jax.random.key(1), (8, 4, 4, 1))})
    params = {"model": jitter(params["model"], scale=0.05, seed=3)}
    rng, num_samples, temperature = jax.random.key(2), 16, 0.7
    images = model.sample(params, rng, num_samples, temperature)
    assert images.shape == (16, 4, 4, 1) and bool(jnp.all((images >= 0) & (images <= 1)))
    # The latents `sample` drew, rebuilt from its key, and their path through the sampler.
    flow = make_flow(config.model, (4, 4, 1))
    latent = flow.apply(params["model"], images, method="forward")[0].shape  # MAF on images: [N, 16]
    z = jax.random.normal(rng, (num_samples, 16)).reshape(latent) * temperature
    y, inverse_log_det = flow.apply(params["model"], z, method="inverse")
    x, logit_log_det = bijections.inverse_logit_transform(y, alpha=config.model.logit_alpha)
    x = x.reshape(images.shape)
    np.testing.assert_allclose(jnp.clip(x, 0, 1), images, atol=1e-6)
    base = distributions.standard_normal_log_prob(z)
    expected = base - inverse_log_det - logit_log_det - 16 * math.log(17)
    # Samples clipped into [0, 1] left the flow's support; the identity holds for the rest.
    inside = np.asarray(jnp.all((x > 0) & (x < 1), axis=(1, 2, 3)))
    assert inside.sum() >= 8, inside
    got = model.log_prob(params, {"x": images}, None)
    np.testing.assert_allclose(got[inside], expected[inside], rtol=1e-4, atol=1e-3)
    z_back, _ = flow.apply(params["model"], y, method="forward")
    np.testing.assert_allclose(z_back, z, atol=1e-4)


@pytest.mark.parametrize(
    "variant, overrides, field",
    [
        ("realnvp_digits", {"data.dequantize": False}, "data.dequantize"),
        ("realnvp_digits", {"data.binarize": "dynamic"}, "data.binarize"),
        ("realnvp_digits", {"model.architecture": "spline"}, "model.architecture"),
        ("realnvp_digits", {"model.num_scales": 5}, "model.num_scales"),
        ("glow_digits", {"model.num_scales": 4}, "model.num_scales"),
        ("realnvp_8gaussians", {"model.preprocess": "logit"}, "model.preprocess"),
        ("maf_8gaussians", {"model.num_layers": 0}, "model.num_layers"),
        ("glow_8gaussians", {"model.scale_fn": "softplus"}, "model.scale_fn"),
        ("maf_8gaussians", {"model.temperature": -1.0}, "model.temperature"),
    ],
)
def test_bad_configs_name_the_field(variant, overrides, field):
    config = flow_configs.get_config(variant)
    for dotted, value in overrides.items():
        section, key = dotted.split(".")
        config[section][key] = value
    toy = variant.endswith("8gaussians")
    dataset = _fake_dataset((2,) if toy else (8, 8, 1), None if toy else 17, "digits")
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        models.build(config, dataset)


_SHAPES = {
    "digits": ((8, 8, 1), 17),
    "binarized_mnist": ((28, 28, 1), 2),
    "tfds_mnist": ((28, 28, 1), 256),
    "tfds_cifar10": ((32, 32, 3), 256),
}


@pytest.mark.slow
@pytest.mark.parametrize(
    "variant",
    [v for v in flow_configs.VARIANTS if v != "smoke" and v not in flow_configs.CONDITIONAL_VARIANTS],
)
def test_every_variant_builds(variant):
    # Architectures may contain "_" (nsf_coupling): match the data by suffix.
    data = next((name for name in _SHAPES if variant.endswith(f"_{name}")), None)
    element_shape, num_levels = _SHAPES.get(data, ((2,), None))
    config = flow_configs.get_config(variant)
    model = models.build(config, _fake_dataset(element_shape, num_levels))
    assert model.element_shape == element_shape and model.players == ("model",)


def test_unknown_variant_lists_the_choices():
    with pytest.raises(ValueError, match="architecture in nice, realnvp"):
        flow_configs.get_config("realnvp_mnist")


@pytest.mark.subprocess
@pytest.mark.slow
def test_sample_binary_draws_at_a_temperature_for_a_2d_flow(run, tmp_path):
    # Trained here (the train binary's wiring has its own test); the sample binary restores it.
    config = flow_configs.get_config("maf_8gaussians")
    config.train.update(num_steps=20, steps_per_call=10)
    config.data.update(num_test=2000, eval_batch_size=1000)
    config.eval.num_samples = 200
    results = train_and_evaluate(config, tmp_path, print_fn=lambda *_: None)
    assert np.isfinite(results["test/nll"])
    sampled = run("experiments.sample", f"--workdir={tmp_path}", "--num_samples=100", "--temperature=0.8")
    assert sampled.returncode == 0, sampled.stderr[-2000:]
    paths = sampled.stdout.strip().splitlines()[-2:]
    assert paths[0].endswith("_t0.8.png") and paths[1].endswith("_t0.8_density.png")
    assert all((tmp_path / "samples" / p.split("/")[-1]).stat().st_size > 0 for p in paths)
