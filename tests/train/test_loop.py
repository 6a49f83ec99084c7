"""The loop end to end: smoke run, SIGTERM then a bit-exact resume in a new process, divergence stop."""

import json
import os
import signal
import subprocess
import sys
import time

import chex
import jax
import numpy as np
import pytest

from experiments.configs import vae as vae_config
from genjax.errors import TrainingDivergedError
from genjax.train import train_and_evaluate
from genjax.train.checkpoint import Checkpointer, load_config
from genjax.train.logging import read_metrics
from genjax.train.restore import restore_from_workdir
from tests.conftest import REPO


def smoke_config(**train):
    config = vae_config.get_config("smoke")
    config.train.update(**train)
    return config


@pytest.mark.slow
def test_smoke_run_writes_everything(tmp_path):
    config = smoke_config()
    results = train_and_evaluate(config, tmp_path, print_fn=lambda *_: None)
    assert results["step"] == config.train.num_steps
    assert np.isfinite(results["test/nll"]) and results["test/num_examples"] == 297
    # IWAE estimate (k=10) of log p(x) is at least the ELBO on average.
    assert results["test/nll"] <= -results["test/elbo"] + 1e-3
    assert (tmp_path / "config.json").exists()
    assert load_config(tmp_path).model.name == "vae"
    assert Checkpointer(tmp_path).latest_step() == config.train.num_steps
    records = read_metrics(tmp_path)
    assert {r["split"] for r in records} == {"train", "validation", "test"}
    assert results["selection/step"] == 20  # the smoke run's best validation NLL is its last
    assert [r["step"] for r in records if r["split"] == "train"] == [10, 20]
    assert list((tmp_path / "samples").glob("*.png"))
    assert list((tmp_path / "tensorboard").iterdir())


def _params(workdir):
    config = load_config(workdir)
    _, _, state, _ = restore_from_workdir(config, workdir)
    return jax.device_get(state)


@pytest.mark.slow
def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    config = smoke_config(num_steps=10, checkpoint_every=10, eval_every=0, sample_every=0)
    train_and_evaluate(config, tmp_path, print_fn=lambda *_: None)
    good = _params(tmp_path)
    config = smoke_config(num_steps=30, checkpoint_every=5, eval_every=0, sample_every=0)
    config.optim.model.learning_rate = 1e30  # diverges within a step or two
    with pytest.raises(TrainingDivergedError, match=r"non-finite loss .* at step 1\d"):
        train_and_evaluate(config, tmp_path, print_fn=lambda *_: None)
    assert Checkpointer(tmp_path).latest_step() == 10
    chex.assert_trees_all_equal(good, _params(tmp_path))


@pytest.mark.subprocess
@pytest.mark.slow
def test_evaluate_and_sample_binaries(run, tmp_path):
    train_and_evaluate(smoke_config(), tmp_path, print_fn=lambda *_: None)  # the train binary's wiring
    evaluated = run("experiments.evaluate", f"--workdir={tmp_path}")  # is tested with the resume above
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    report = json.loads(evaluated.stdout.strip().splitlines()[-1])
    assert report["step"] == 20 and report["num_examples"] == 297 and np.isfinite(report["nll"])
    assert (tmp_path / "eval_test_20.json").exists()
    judged = run(
        "experiments.evaluate",
        f"--workdir={tmp_path}",
        "--metrics=fid,kid,precision_recall,nn",
        "--num_samples=64",
        "--num_bootstrap=10",
    )
    assert judged.returncode == 0, judged.stderr[-2000:]
    quality = json.loads(judged.stdout.strip().splitlines()[-1])
    assert quality["feature_network"] == "digits_cnn" and quality["num_samples"] == 64
    assert quality["fid"]["lower"] <= quality["fid"]["value"] <= quality["fid"]["upper"]
    assert 0.0 <= quality["precision"]["value"] <= 1.0 and np.isfinite(quality["kid"]["value"])
    assert (tmp_path / "quality_test_20.json").exists() and (tmp_path / "nearest_neighbours_20.png").exists()
    sampled = run(
        "experiments.sample", f"--workdir={tmp_path}", "--num_samples=16", f"--output={tmp_path / 'grid.png'}"
    )
    assert sampled.returncode == 0, sampled.stderr[-2000:]
    assert (tmp_path / "grid.png").stat().st_size > 0


@pytest.mark.subprocess
@pytest.mark.slow
def test_sigterm_checkpoints_exits_zero_and_the_resume_is_bit_exact(run, tmp_path):
    preempted, straight = tmp_path / "preempted", tmp_path / "straight"
    flags = ["--config.train.log_every=5", "--config.train.eval_every=0", "--config.train.checkpoint_every=0"]
    flags += ["--config.train.sample_every=0"]
    env = {"JAX_PLATFORMS": "cpu", "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [sys.executable, "-m", "experiments.train", "--config=experiments/configs/vae.py:smoke"]
        + [f"--workdir={preempted}", "--config.train.num_steps=100000", *flags],
        cwd=REPO,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 240
    for line in process.stdout:  # the first progress line: compiled and training
        if line.startswith("step ") or time.monotonic() > deadline:
            break
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr[-2000:]
    stop_lines = [line for line in stdout.splitlines() if line.startswith("SIGTERM at step")]
    assert len(stop_lines) == 1 and "run the same command again to resume" in stop_lines[0], stdout[-2000:]
    stopped = int(stop_lines[0].split()[3])
    assert Checkpointer(preempted).latest_step() == stopped < 100000
    # Resume to a few steps past the stop; compare with a straight run to the same step.
    total = stopped + 10
    config = smoke_config(num_steps=total, log_every=5, eval_every=0, checkpoint_every=0, sample_every=0)
    resumed = run("experiments.train", "--config=experiments/configs/vae.py:smoke", f"--workdir={preempted}",
                  f"--config.train.num_steps={total}", *flags)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"resumed from step {stopped}" in resumed.stdout
    train_and_evaluate(config, straight, print_fn=lambda *_: None)
    # The resume ran in a fresh process: it must reproduce the straight run bit for bit.
    chex.assert_trees_all_equal(_params(preempted), _params(straight))
    train_a = [r for r in read_metrics(straight) if r["split"] == "train"]
    train_b = [r for r in read_metrics(preempted) if r["split"] == "train"]
    assert train_a[-1] == train_b[-1]  # the last logging interval lies wholly after the resume
    assert json.loads(resumed.stdout.strip().splitlines()[-1])["step"] == total
