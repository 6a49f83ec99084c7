"""The EBM family: contrastive divergence lowers data energy, the replay buffer resumes, Z by quadrature."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.configs import ebm as ebm_config
from genjax import models
from genjax.data import toy2d
from genjax.errors import ConfigError
from genjax.optim import make_optimizers
from genjax.train import train_and_evaluate
from genjax.train.step import init_train_state, make_train_step
from tests.models.family_checks import (
    DIGITS,
    QUIET,
    TOY,
    check_bad_field,
    check_every_variant_builds,
    short,
    trace_at_size,
)


@pytest.mark.slow
def test_short_contrastive_divergence_lowers_data_energy_relative_to_noise():
    config = ebm_config.get_config("cd_short_run_8gaussians")
    config.model.update(hidden=(64, 64), langevin_steps=20, step_size=0.05)
    config.optim.energy.update(learning_rate=3e-3, schedule="constant")
    model = models.build(config, TOY)
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


@pytest.mark.slow
def test_replay_buffer_lives_in_the_state_and_resumes_exactly(tmp_path):
    def config(num_steps):
        c = short(ebm_config.get_config("smoke"), num_steps)
        c.optim.energy.schedule = "constant"
        c.train.update(log_every=10, checkpoint_every=10)
        return c

    straight = train_and_evaluate(config(20), tmp_path / "straight", **QUIET)
    assert np.isfinite(straight["test/nll"]) and np.isfinite(straight["test/mmd"])
    assert (tmp_path / "straight" / "samples" / "step_00000020.png").exists()
    train_and_evaluate(config(10), tmp_path / "resumed", **QUIET)
    resumed = train_and_evaluate(config(20), tmp_path / "resumed", **QUIET)
    compared = ("train/loss", "train/energy_gap", "test/nll", "test/mmd")
    chex.assert_trees_all_equal({k: resumed[k] for k in compared}, {k: straight[k] for k in compared})


@pytest.mark.slow
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


@pytest.mark.parametrize(
    "field, value",
    [("objective", "ml"), ("chains", "forever"), ("reinit_prob", 1.5)],
)
def test_bad_model_fields_name_themselves(field, value):
    check_bad_field(ebm_config, "smoke", field, value)


@pytest.mark.slow
def test_every_variant_builds_and_the_digits_config_traces():
    check_every_variant_builds(ebm_config)
    trace_at_size(ebm_config.get_config("esm_digits"), DIGITS.element_shape, DIGITS.num_levels)
    with pytest.raises(ValueError, match="config variant: got 'gan_ring'"):
        ebm_config.get_config("gan_ring")


@pytest.mark.parametrize(
    "field, value",
    [("smc_beta_min", 0.0), ("smc_resample_threshold", 1.5), ("smc_num_betas", 0), ("smc_steps_per_beta", 0)],
)
def test_bad_smc_fields_name_themselves(field, value):
    config = ebm_config.get_config("smoke")
    config.model.update(sampler="smc", **{field: value})
    with pytest.raises(ConfigError, match=f"model.{field}"):
        models.build(config, TOY)


@pytest.mark.slow
def test_smc_samples_follow_the_quadrature_density_on_the_box():
    """Tempered SMC samples of a rugged random energy match exp(-E)'s cell masses on [-4, 4]^2.

    A flipped sign, a missing final resampling or a prior other than the start box would move
    whole cells' worth of mass; 4000 samples resolve the 16 cells' masses to about 0.01 each.
    """
    config = ebm_config.get_config("smoke")
    config.model.update(sampler="smc", smc_num_betas=20, smc_steps_per_beta=5, sample_step_size=0.05)
    model = models.build(config, TOY)
    params = model.init(jax.random.key(0), {"x": jnp.zeros((2, 2))})
    last = params["energy"]["net"]["params"]["MLP_0"]["Dense_2"]
    last["kernel"] = 8.0 * last["kernel"]  # energy differences of several nats across the box
    x = np.asarray(model.sample(params, jax.random.key(1), 4000))
    assert np.all(np.abs(x) <= 4.0)  # the uniform start's box is the prior's support
    edges = np.linspace(-4, 4, 5)
    centres = 0.5 * (np.linspace(-4, 4, 201)[1:] + np.linspace(-4, 4, 201)[:-1])
    grid = np.stack(np.meshgrid(centres, centres, indexing="ij"), -1).reshape(-1, 2)
    log_p = np.asarray(model.log_prob(params, {"x": jnp.asarray(grid, jnp.float32)}, None), np.float64)
    expected, _, _ = np.histogram2d(*grid.T, bins=[edges, edges], weights=np.exp(log_p - log_p.max()))
    observed, _, _ = np.histogram2d(*x.T, bins=[edges, edges])
    assert expected.max() / expected.sum() > 0.4  # the energy concentrates the mass: a real check
    total_variation = 0.5 * np.abs(expected / expected.sum() - observed / len(x)).sum()
    assert total_variation < 0.04, total_variation
