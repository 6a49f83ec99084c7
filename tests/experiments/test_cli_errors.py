"""Every invalid input exits non-zero within seconds with one line naming the field."""

import time

import pytest

CONFIG = "--config=experiments/configs/vae.py:smoke"

CASES = [
    ("unknown_model", ["--config.model.name=flow_that_does_not_exist"], "model.name", "vae"),
    ("unknown_dataset", ["--config.data.name=imagenet_from_space"], "data.name", "digits"),
    ("missing_npz", ["--config.data.name=npz:/nonexistent/mnist.npz"], "data.name", "/nonexistent/mnist.npz"),
    (
        "unprepared_tfds",
        ["--config.data.name=tfds:genjax_never_prepared_dataset", "--config.data.tfds_data_dir={tmp}/tfds"],
        "data.name",
        "tfds build",
    ),
    ("non_positive_lr", ["--config.optim.model.learning_rate=0.0"], "optim.model.learning_rate", "positive"),
    ("negative_lr", ["--config.optim.model.learning_rate=-1e-3"], "optim.model.learning_rate", "positive"),
    ("zero_steps", ["--config.train.num_steps=0"], "train.num_steps", "positive"),
    ("zero_batch", ["--config.data.batch_size=0"], "data.batch_size", "positive"),
    ("bad_likelihood", ["--config.model.likelihood=poisson"], "model.likelihood", "bernoulli"),
    ("bad_binarize", ["--config.data.binarize=sometimes"], "data.binarize", "dynamic"),
]


@pytest.mark.parametrize("name,overrides,field,hint", CASES, ids=[c[0] for c in CASES])
def test_invalid_input_gives_one_clear_line(run, tmp_path, name, overrides, field, hint):
    overrides = [o.format(tmp=tmp_path) for o in overrides]
    started = time.monotonic()
    result = run("experiments.train", CONFIG, f"--workdir={tmp_path / 'w'}", *overrides, timeout=60)
    elapsed = time.monotonic() - started
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr[-2000:]
    assert lines[0].startswith("error: ") and field in lines[0] and hint in lines[0], lines[0]
    assert "Traceback" not in result.stderr
    assert elapsed < 30, elapsed


def test_batch_not_divisible_by_devices(run, tmp_path):
    result = run(
        "experiments.train",
        CONFIG,
        f"--workdir={tmp_path}",
        "--config.data.batch_size=12",
        env={"XLA_FLAGS": "--xla_force_host_platform_device_count=8"},
        timeout=60,
    )
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "data.batch_size" in lines[0] and "8" in lines[0], result.stderr[-2000:]


def test_evaluate_without_checkpoint_names_the_workdir(run, tmp_path):
    (tmp_path / "config.json").write_text("{}")
    result = run("experiments.evaluate", CONFIG, f"--workdir={tmp_path}", timeout=60)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "--workdir" in lines[0], result.stderr[-2000:]


FLAG_CASES = [
    ("unknown_variant", ["--config=experiments/configs/vae.py:no_such_variant"], "config variant"),
    ("missing_config_file", ["--config=experiments/configs/no_such_family.py"], "--config"),
    ("wrong_type", [CONFIG, "--config.train.num_steps=many"], "--config.train.num_steps"),
    ("unknown_field", [CONFIG, "--config.train.no_such_field=3"], "--config.train.no_such_field"),
]


@pytest.mark.parametrize("name,args,needle", FLAG_CASES, ids=[c[0] for c in FLAG_CASES])
def test_bad_flags_give_one_clear_line(run, tmp_path, name, args, needle):
    result = run("experiments.train", *args, f"--workdir={tmp_path}", timeout=60)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], result.stderr[-2000:]
