"""The ebm, score (NCSN) and ddpm families through `genjax.models.build` and the one training loop."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.configs import ddpm as ddpm_config
from experiments.configs import ebm as ebm_config
from experiments.configs import score as score_config
from genjax import models
from genjax.errors import ConfigError
from genjax.spec import DataSpec
from genjax.train import train_and_evaluate

QUIET = {"print_fn": lambda *_: None}
TOY = DataSpec(name="toy2d:8gaussians", element_shape=(2,), num_levels=None)
DIGITS = DataSpec(name="digits", element_shape=(8, 8, 1), num_levels=17)


def _short(config, num_steps=10):
    config.train.update(num_steps=num_steps, log_every=num_steps, checkpoint_every=num_steps)
    config.train.update(eval_every=0, sample_every=0)
    return config


# The EBM's smoke run is the resume test's below.
SMOKES = [(score_config, "test/dsm"), (ddpm_config, "test/mmd")]


@pytest.mark.parametrize("module, metric", SMOKES)
def test_smoke_runs_train_evaluate_and_sample(tmp_path, module, metric):
    result = train_and_evaluate(_short(module.get_config("smoke")), tmp_path, **QUIET)
    assert np.isfinite(result["train/loss"]) and np.isfinite(result[metric])
    assert (tmp_path / "samples" / "step_00000010.png").exists()


def test_ddpm_on_digits_reports_the_bound_in_bits_per_dim_and_samples_pixels():
    config = ddpm_config.get_config("linear_digits")
    config.model.update(channels=8, channel_mults=(1,), num_timesteps=100, attention_resolutions=())
    config.eval.bound_timesteps = 0
    model = models.build(config, DIGITS)
    x = jnp.asarray(np.random.default_rng(0).integers(0, 17, (4, 8, 8, 1)) / 16.0, jnp.float32)
    params = model.init(jax.random.key(0), {"x": x})
    bound = model.log_prob(params, {"x": x}, jax.random.key(1))
    # Even an untrained net defines a valid model of 17-level pixels: the bound is finite and positive.
    assert bound.shape == (4,) and bool(jnp.all(jnp.isfinite(bound))) and bool(jnp.all(-bound > 0))
    samples = model.sample(params, jax.random.key(2), 3)
    assert samples.shape == (3, 8, 8, 1) and float(samples.min()) >= 0 and float(samples.max()) <= 1


def test_short_contrastive_divergence_lowers_data_energy_relative_to_noise():
    config = ebm_config.get_config("cd_short_run_8gaussians")
    config.model.update(hidden=(64, 64), langevin_steps=20, step_size=0.05)
    config.optim.energy.update(learning_rate=3e-3, schedule="constant")
    model = models.build(config, TOY)
    from genjax.data import toy2d
    from genjax.optim import make_optimizers
    from genjax.train.step import init_train_state, make_train_step

    density = toy2d.get("8gaussians")
    data = density.sample(np.random.default_rng(0), 200 * 128).astype(np.float32).reshape(200, 128, 2)
    noise = np.random.default_rng(1).uniform(-4, 4, (2000, 2)).astype(np.float32)
    held_out = density.sample(np.random.default_rng(2), 2000).astype(np.float32)
    optimizers = make_optimizers(config, model.players)
    state = init_train_state(model, optimizers, {"x": data[0]}, seed=0, ema=False)

    def gap(state):
        def energy(x):
            return model.eval_metrics(state.params, {"x": jnp.asarray(x)}, jax.random.key(0))["energy"]

        return float(jnp.mean(energy(held_out)) - jnp.mean(energy(noise)))

    before = gap(state)
    state, _ = make_train_step(model, optimizers, config)(state, {"x": data})
    after = gap(state)
    # The data's energy falls below the noise's, by a margin: CD pushed it down where data live.
    assert after < before - 1.0 and after < -1.0, (before, after)


def test_replay_buffer_lives_in_the_state_and_resumes_exactly(tmp_path):
    def config(num_steps):
        c = _short(ebm_config.get_config("smoke"), num_steps)
        c.optim.energy.schedule = "constant"
        c.train.update(log_every=10, checkpoint_every=10)
        return c

    straight = train_and_evaluate(config(20), tmp_path / "straight", **QUIET)
    assert np.isfinite(straight["test/nll"]) and np.isfinite(straight["test/mmd"])
    assert (tmp_path / "straight" / "samples" / "step_00000020.png").exists()
    train_and_evaluate(config(10), tmp_path / "resumed", **QUIET)
    resumed = train_and_evaluate(config(20), tmp_path / "resumed", **QUIET)
    for name in ("train/loss", "train/energy_gap", "test/nll", "test/mmd"):
        assert resumed[name] == straight[name], name


def test_ebm_quadrature_log_prob_is_normalised_on_the_plane():
    config = ebm_config.get_config("nce_8gaussians")
    config.model.update(hidden=(16,), quadrature_points=200)
    model = models.build(config, TOY)
    params = model.init(jax.random.key(0), {"x": jnp.zeros((2, 2))})
    # A finer, independent midpoint grid over the same box integrates exp(log_prob) to 1.
    edges = np.linspace(-6, 6, 601)
    centres = 0.5 * (edges[1:] + edges[:-1])
    grid = np.stack(np.meshgrid(centres, centres, indexing="ij"), -1).reshape(-1, 2)
    density = np.exp(np.asarray(model.log_prob(params, {"x": jnp.asarray(grid)}, None)))
    np.testing.assert_allclose(density.sum() * (edges[1] - edges[0]) ** 2, 1.0, atol=2e-3)


def test_score_is_scaled_by_sigma_and_samples_have_the_data_shape():
    config = score_config.get_config("smoke")
    model = models.build(config, TOY)
    params = model.init(jax.random.key(0), {"x": jnp.zeros((4, 2))})
    samples = model.sample(params, jax.random.key(1), 5)
    assert samples.shape == (5, 2) and bool(jnp.all(jnp.isfinite(samples)))


@pytest.mark.parametrize(
    "module, variant, field, value, message",
    [
        (ebm_config, "smoke", "objective", "ml", "model.objective"),
        (ebm_config, "smoke", "chains", "forever", "model.chains"),
        (ebm_config, "smoke", "reinit_prob", 1.5, "model.reinit_prob"),
        (score_config, "smoke", "sigma_min", 100.0, "model.sigma_min"),
        (score_config, "smoke", "objective", "mle", "model.objective"),
        (ddpm_config, "smoke", "schedule", "sqrt", "model.schedule"),
        (ddpm_config, "smoke", "sampler", "ode", "model.sampler"),
        (ddpm_config, "linear_digits", "channel_mults", (1, 2, 2, 2, 2), "model.channel_mults"),
        (ddpm_config, "smoke", "num_timesteps", 1, "model.num_timesteps"),
    ],
)
def test_bad_model_fields_name_themselves(module, variant, field, value, message):
    config = module.get_config(variant)
    config.model[field] = value
    data = DIGITS if "digits" in variant else TOY
    with pytest.raises(ConfigError, match=message):
        models.build(config, data)


@pytest.mark.parametrize(
    "module, variant, shape, num_levels",
    [
        (ddpm_config, "cosine_binarized_mnist", (28, 28, 1), 2),
        (ddpm_config, "linear_tfds_cifar10", (32, 32, 3), 256),
        (score_config, "ncsn_tfds_mnist", (28, 28, 1), 256),
        (ebm_config, "esm_digits", (8, 8, 1), 17),
    ],
)
def test_image_configs_build_and_trace_at_their_sizes(module, variant, shape, num_levels):
    """Shapes only (jax.eval_shape): the 28x28 and CIFAR-10 configs trace end to end without running."""
    dataset = DataSpec(name=variant, element_shape=shape, num_levels=num_levels)
    model = models.build(module.get_config(variant), dataset)
    batch = {"x": jax.ShapeDtypeStruct((2, *shape), jnp.float32)}
    params = jax.eval_shape(model.init, jax.random.key(0), batch)
    (player,) = model.players
    loss, _ = jax.eval_shape(model.losses[player], params, batch, jax.random.key(1))
    assert loss.shape == ()
    samples = jax.eval_shape(lambda p: model.sample(p, jax.random.key(2), 3), params)
    assert samples.shape == (3, *shape)
    if variant == "linear_tfds_cifar10":  # Ho et al.'s 35.7M-parameter model
        assert sum(np.prod(x.shape) for x in jax.tree.leaves(params)) == 35_746_307


SHAPES = {"digits": ((8, 8, 1), 17), "binarized_mnist": ((28, 28, 1), 2), "tfds_mnist": ((28, 28, 1), 256)}
SHAPES["tfds_cifar10"] = ((32, 32, 3), 256)


@pytest.mark.parametrize("module", [ebm_config, score_config, ddpm_config])
def test_every_variant_builds_and_validates(module):
    for variant in module.VARIANTS:
        config = module.get_config(variant)
        data = next((name for name in SHAPES if variant.endswith(name)), None)
        shape, levels = SHAPES[data] if data else ((2,), None)
        dataset = DataSpec(name=variant, element_shape=shape, num_levels=levels)
        assert models.build(config, dataset).element_shape == shape, variant
    with pytest.raises(ValueError, match="config variant: got 'gan_ring'"):
        module.get_config("gan_ring")
