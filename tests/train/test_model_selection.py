"""The loop's research features end to end on the VAE smoke model, sharing one early-stopped run.

The shared run selects by the *largest* validation NLL (``select_mode=max``), so the
selected step is an early one and not simply the last: the test can then tell the
selected checkpoint from the latest one.
"""

import shutil

import chex
import jax
import numpy as np
import optax
import pytest

from experiments.configs import vae as vae_config
from genjax.train import train_and_evaluate
from genjax.train.checkpoint import BEST_DIR, DAMAGED_DIR, Checkpointer
from genjax.train.hooks import PeriodicHook
from genjax.train.logging import read_metrics
from genjax.train.restore import evaluate_workdir, restore_from_workdir

# Module fixtures are built once per worker: one group keeps this module on one worker (--dist=loadgroup).
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("model_selection")]
LEARNING_RATE = 3e-3


def _config(**train):
    config = vae_config.get_config("smoke")
    config.optim.model.update(schedule="cosine", learning_rate=LEARNING_RATE)
    config.train.update(
        num_steps=20,
        steps_per_call=5,
        log_every=5,
        eval_every=5,
        checkpoint_every=10,
        sample_every=0,
        select_mode="max",
        early_stopping_patience=2,
    )
    config.train.update(**train)
    return config


class Probe:
    def __init__(self):
        self.calls = []

    def __call__(self, ctx):
        self.calls.append((ctx.step, int(ctx.state.step)))
        return {"param_norm": float(optax.tree.norm(ctx.params))}


@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("selection") / "run"
    probe = Probe()
    lines = []
    results = train_and_evaluate(
        _config(profile_steps=5),
        workdir,
        print_fn=lines.append,
        hooks=[PeriodicHook(every=5, fn=probe, name="probe")],
    )
    return workdir, results, lines, probe


def _state(workdir, checkpoint="latest"):
    _, _, state, _ = restore_from_workdir(_config(), workdir, checkpoint=checkpoint)
    return jax.device_get(state)


def test_best_checkpoint_is_the_step_with_the_best_validation_figure(stopped_run):
    workdir, results, lines, _ = stopped_run
    records = [r for r in read_metrics(workdir) if r["split"] == "validation"]
    steps = [r["step"] for r in records]
    assert steps == [5, 10, 15]
    best = max(records, key=lambda r: r["nll"])  # select_mode=max
    assert results["selection/step"] == best["step"] != results["step"]
    assert results["validation/nll"] == pytest.approx(best["nll"])
    assert Checkpointer(workdir, subdir=BEST_DIR).all_steps() == [best["step"]]
    # The test split is evaluated once, on the selected parameters and with their step's keys.
    tests = [r for r in read_metrics(workdir) if r["split"] == "test"]
    assert [r["step"] for r in tests] == [best["step"]]
    report = evaluate_workdir(None, workdir, "test", checkpoint="best")
    assert report["step"] == best["step"]
    assert report["nll"] == pytest.approx(results["test/nll"], rel=1e-6)
    latest = evaluate_workdir(None, workdir, "test", checkpoint="latest")
    assert latest["step"] == results["step"] and latest["nll"] != pytest.approx(report["nll"])
    assert any(line.startswith(f"selected step {best['step']} by validation/nll") for line in lines)


def test_early_stopping_stops_after_patience_evaluations_and_stays_stopped(stopped_run, tmp_path):
    workdir, results, lines, _ = stopped_run
    assert results["step"] == results["selection/step"] + 2 * 5 < 20
    assert any(line.startswith(f"early stopping at step {results['step']}") for line in lines)
    assert Checkpointer(workdir).latest_step() == results["step"]
    copy = tmp_path / "copy"
    shutil.copytree(workdir, copy)
    again = train_and_evaluate(_config(), copy, print_fn=lambda *_: None)
    assert again["step"] == results["step"] and again["test/nll"] == pytest.approx(results["test/nll"])


def test_hooks_fire_at_their_interval_and_are_logged(stopped_run):
    workdir, results, _, probe = stopped_run
    assert probe.calls == [(5, 5), (10, 10), (15, 15)]
    logged = [r for r in read_metrics(workdir) if r["split"] == "probe"]
    assert [r["step"] for r in logged] == [5, 10, 15] and all(r["param_norm"] > 0 for r in logged)


def test_lr_and_grad_norm_are_logged_and_profile_is_written(stopped_run):
    workdir, _, lines, _ = stopped_run
    train = [r for r in read_metrics(workdir) if r["split"] == "train"]
    schedule = optax.cosine_decay_schedule(LEARNING_RATE, 20)
    for record in train:  # log_every = steps_per_call = 5: the mean over the chunk's steps
        expected = np.mean([schedule(s) for s in range(record["step"] - 5, record["step"])])
        assert record["lr"] == pytest.approx(float(expected), rel=1e-5)
        assert record["grad_norm"] > 0
    assert list((workdir / "profile").rglob("*.xplane.pb")), "no jax.profiler trace in workdir/profile"
    assert any(line.startswith("profile of steps 5-10 written to") for line in lines)


def _damage(step_dir):
    """Truncates every array file of a checkpoint (as a job killed mid-write leaves them)."""
    damaged = 0
    for path in (step_dir / "state").rglob("*"):
        if path.is_file() and path.parent.name == "d":
            path.write_bytes(path.read_bytes()[:7])
            damaged += 1
    assert damaged


def test_damaged_latest_checkpoint_resumes_from_the_newest_good_one(stopped_run, tmp_path):
    workdir, results, _, _ = stopped_run
    stopped_at = results["step"]  # 15; checkpoints at 10 and 15
    intact, damaged = tmp_path / "intact", tmp_path / "damaged"
    shutil.copytree(workdir, intact)
    shutil.copytree(workdir, damaged)
    _damage(damaged / "checkpoints" / str(stopped_at))
    go_on = {"num_steps": 25, "early_stopping_patience": 0}
    lines = []
    train_and_evaluate(_config(**go_on), damaged, print_fn=lines.append)
    assert any(f"checkpoint at step {stopped_at}" in line and "is damaged" in line for line in lines)
    assert any(line.startswith("resumed from step 10 ") for line in lines)
    assert (damaged / DAMAGED_DIR / f"checkpoints_{stopped_at}").is_dir()  # moved aside, not deleted
    assert 10 in Checkpointer(damaged).all_steps()  # the good one is still there
    train_and_evaluate(_config(**go_on), intact, print_fn=lambda *_: None)
    chex.assert_trees_all_equal(_state(damaged), _state(intact))


def test_schedule_horizon_is_kept_on_resume_or_rescaled_with_a_line(stopped_run, tmp_path):
    workdir, results, _, _ = stopped_run
    for policy, horizon in (("keep", 20), ("rescale", 30)):
        copy = tmp_path / policy
        shutil.copytree(workdir, copy)
        lines = []
        config = _config(num_steps=30, early_stopping_patience=0, schedule_on_resume=policy)
        train_and_evaluate(config, copy, print_fn=lines.append)
        assert sum("learning-rate schedule" in line for line in lines) == 1
        schedule = optax.cosine_decay_schedule(LEARNING_RATE, horizon)
        resumed = [r for r in read_metrics(copy) if r["split"] == "train" and r["step"] > results["step"]]
        for record in resumed:
            expected = np.mean([schedule(s) for s in range(record["step"] - 5, record["step"])])
            assert record["lr"] == pytest.approx(float(expected), rel=1e-5, abs=1e-9)
