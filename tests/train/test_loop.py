"""The loop end to end: smoke run, bit-exact resume in a new process, divergence stop."""

import json

import jax
import numpy as np
import pytest

from experiments.configs import vae as vae_config
from genjax.errors import TrainingDivergedError
from genjax.train import train_and_evaluate
from genjax.train.checkpoint import Checkpointer, load_config
from genjax.train.logging import read_metrics
from genjax.train.restore import restore_from_workdir


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
    assert {r["split"] for r in records} == {"train", "test"}
    assert [r["step"] for r in records if r["split"] == "train"] == [10, 20]
    assert list((tmp_path / "samples").glob("*.png"))
    assert list((tmp_path / "tensorboard").iterdir())


def _params(workdir):
    config = load_config(workdir)
    _, _, state, _ = restore_from_workdir(config, workdir)
    return jax.device_get(state)


@pytest.mark.subprocess
@pytest.mark.slow
def test_resume_in_a_new_process_is_bit_exact(run, tmp_path):
    common = [
        "--config=experiments/configs/vae.py:smoke",
        "--config.train.checkpoint_every=10",
        "--config.train.eval_every=0",
        "--config.train.sample_every=0",
    ]
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"

    def config(num_steps):
        return smoke_config(num_steps=num_steps, checkpoint_every=10, eval_every=0, sample_every=0)

    # The straight run and the first leg run here; only the resume starts a fresh process, which
    # is what has to reproduce the straight run bit for bit.
    train_and_evaluate(config(30), straight, print_fn=lambda *_: None)
    train_and_evaluate(config(15), resumed, print_fn=lambda *_: None)
    rest = run("experiments.train", *common, f"--workdir={resumed}", "--config.train.num_steps=30")
    assert rest.returncode == 0, rest.stderr[-2000:]
    assert "resumed from step 15" in rest.stdout
    a, b = _params(straight), _params(resumed)
    assert int(a.step) == int(b.step) == 30
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(x, y)
    # The metrics of the resumed run continue the straight run's exactly.
    train_a = [r for r in read_metrics(straight) if r["split"] == "train"]
    train_b = [r for r in read_metrics(resumed) if r["split"] == "train"]
    assert train_a[-1] == train_b[-1]
    assert json.loads(rest.stdout.strip().splitlines()[-1])["step"] == 30


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
    after = _params(tmp_path)
    for x, y in zip(jax.tree.leaves(good), jax.tree.leaves(after), strict=True):
        np.testing.assert_array_equal(x, y)


@pytest.mark.subprocess
@pytest.mark.slow
def test_evaluate_and_sample_binaries(run, tmp_path):
    train_and_evaluate(smoke_config(), tmp_path, print_fn=lambda *_: None)  # the train binary's wiring
    evaluated = run("experiments.evaluate", f"--workdir={tmp_path}")  # is tested with the resume above
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    report = json.loads(evaluated.stdout.strip().splitlines()[-1])
    assert report["step"] == 20 and report["num_examples"] == 297 and np.isfinite(report["nll"])
    assert (tmp_path / "eval_test_20.json").exists()
    sampled = run(
        "experiments.sample", f"--workdir={tmp_path}", "--num_samples=16", f"--output={tmp_path / 'grid.png'}"
    )
    assert sampled.returncode == 0, sampled.stderr[-2000:]
    assert (tmp_path / "grid.png").stat().st_size > 0
