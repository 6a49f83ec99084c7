"""Model selection, schedule horizons, finiteness checks and the loop's config fields (no training)."""

import numpy as np
import optax
import pytest

from experiments.configs import flow as flow_config
from experiments.configs import vae as vae_config
from genjax import config as config_lib
from genjax.errors import ConfigError, TrainingDivergedError
from genjax.train import selection
from genjax.train.finite import check_finite
from genjax.train.loop import schedule_horizon
from genjax.train.restore import parse_checkpoint


def test_selection_keeps_the_best_and_counts_evaluations_since():
    chosen = selection.Selection("validation/nll", "min")
    for step, nll in [(10, 5.0), (20, 4.0), (30, 4.5), (40, 4.0), (50, float("nan"))]:
        chosen, _ = chosen.update(step, {"nll": nll})
    assert (chosen.best_step, chosen.best_value) == (20, 4.0)  # ties keep the earlier step; NaN never wins
    assert chosen.evals_since_best == 3
    assert chosen.should_stop(3) and not chosen.should_stop(4) and not chosen.should_stop(0)
    assert chosen.best_results == {"nll": 4.0}
    maximised = selection.Selection("validation/elbo", "max")
    for step, elbo in [(10, -5.0), (20, -4.0), (30, -4.5)]:
        maximised, improved = maximised.update(step, {"elbo": elbo})
    assert maximised.best_step == 20 and not improved


def test_selection_round_trips_through_checkpoint_meta_and_resets_on_a_new_metric():
    chosen, _ = selection.Selection("validation/nll", "min").update(10, {"nll": 3.0})
    restored = selection.Selection.from_json(chosen.to_json(), metric="validation/nll", mode="min")
    assert restored == chosen
    fresh = selection.Selection.from_json(chosen.to_json(), metric="validation/mmd", mode="min")
    assert fresh.best_step is None


@pytest.mark.parametrize(
    ("metric", "mode"),
    [
        ("validation/nll", "min"),
        ("validation/bits_per_dim", "min"),
        ("validation/mmd", "min"),
        ("validation/elbo", "max"),
        ("validation/iwae_bound", "max"),
        ("validation/modes_captured", "max"),
        ("validation/high_quality_fraction", "max"),
    ],
)
def test_the_name_says_the_direction(metric, mode):
    assert selection.default_mode(metric) == mode


def test_resolve_auto_and_unknown_metrics():
    names = {"nll", "elbo", "bits_per_dim"}
    assert selection.resolve("auto", "auto", available=names, has_log_prob=True) == ("validation/nll", "min")
    assert selection.resolve("validation/elbo", "auto", available=names, has_log_prob=True)[1] == "max"
    assert selection.resolve("auto", "auto", available={"mmd"}, has_log_prob=False)[0] == "validation/mmd"
    with pytest.raises(ConfigError, match=r"select_by: got 'validation/fid'; allowed: .*validation/nll"):
        selection.resolve("validation/fid", "auto", available=names, has_log_prob=True)
    with pytest.raises(ConfigError, match="train.select_mode"):
        selection.resolve("auto", "lowest", available=names, has_log_prob=True)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("select_by", "test/nll", r"train.select_by: .* allowed: auto or validation/<metric>"),
        ("select_mode", "up", "train.select_mode"),
        ("grad_accum_steps", 3, r"train.grad_accum_steps: got 3, which does not divide the per-device batch"),
        ("grad_accum_steps", 0, "train.grad_accum_steps"),
        ("schedule_on_resume", "restart", "train.schedule_on_resume"),
        ("compute_dtype", "float16", "train.compute_dtype"),
        ("profile_steps", -1, "train.profile_steps"),
    ],
)
def test_bad_loop_fields_are_one_line_config_errors(field, value, message):
    config = vae_config.get_config("smoke")
    config.train[field] = value
    with pytest.raises(ConfigError, match=message):
        config_lib.validate(config, device_count=1)


def test_early_stopping_needs_validation_evaluations():
    config = vae_config.get_config("smoke")
    config.train.update(early_stopping_patience=2, eval_every=0)
    with pytest.raises(ConfigError, match=r"train.early_stopping_patience: .* train.eval_every > 0"):
        config_lib.validate(config, device_count=1)


def test_schedule_horizon_keep_and_rescale_say_so():
    config = flow_config.get_config("smoke")  # cosine schedule
    config.train.num_steps = 300
    lines = []
    assert schedule_horizon(config, ["model"], 200, step=200, print_fn=lines.append) == 200
    assert "keeping it" in lines[-1] and "spans 200" in lines[-1]
    config.train.schedule_on_resume = "rescale"
    assert schedule_horizon(config, ["model"], 200, step=200, print_fn=lines.append) == 300
    old = optax.cosine_decay_schedule(1e-3, 200)(200)
    new = optax.cosine_decay_schedule(1e-3, 300)(200)
    assert "changed from 200 to 300" in lines[-1] and f"{float(old):.4g} -> {float(new):.4g}" in lines[-1]
    assert len(lines) == 2
    # Same horizon, a fresh run, or a constant schedule: nothing to say.
    assert schedule_horizon(config, ["model"], 300, step=200, print_fn=lines.append) == 300
    assert schedule_horizon(config, ["model"], None, step=0, print_fn=lines.append) == 300
    config.optim.model.schedule = "constant"
    assert schedule_horizon(config, ["model"], 200, step=200, print_fn=lines.append) == 300
    assert len(lines) == 2


def test_check_finite_names_the_first_step_player_and_metric():
    metrics = {
        "generator/loss": np.array([1.0, 1.0, np.inf]),
        "discriminator/loss": np.array([1.0, 1.0, 1.0]),
        "discriminator/grad_norm": np.array([1.0, np.nan, 1.0]),
    }
    players = ("discriminator", "generator")
    with pytest.raises(TrainingDivergedError, match=r"non-finite generator/loss \(inf\) at step 12"):
        check_finite(metrics, 10, players)  # by default only losses are checked
    with pytest.raises(TrainingDivergedError, match=r"step 11: player 'discriminator', metric 'grad_norm'"):
        check_finite(metrics, 10, players, state=object())


def test_check_finite_debug_names_a_player_with_non_finite_parameters():
    import jax.numpy as jnp

    from genjax.train.state import TrainState

    state = TrainState(
        step=jnp.int32(7), params={"model": {"w": jnp.array([1.0, jnp.nan])}}, opt_state={"model": ()}
    )
    check_finite({"loss": np.ones(2)}, 5, ("model",))  # finite losses pass without the state
    with pytest.raises(TrainingDivergedError, match="player 'model' has non-finite parameters"):
        check_finite({"loss": np.ones(2)}, 5, ("model",), state=state)


def test_parse_checkpoint():
    assert parse_checkpoint("best") == "best" and parse_checkpoint("latest") == "latest"
    assert parse_checkpoint("1200") == 1200 and parse_checkpoint(30) == 30
    with pytest.raises(ConfigError, match="--checkpoint: got 'newest'; allowed: best, latest or a step"):
        parse_checkpoint("newest")
