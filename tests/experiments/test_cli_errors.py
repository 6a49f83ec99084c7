"""Every invalid input exits non-zero with one line naming the field.

The cases run the train binary's own flag parsing and ``main`` in this process
(each subprocess costs a JAX start-up); `test_the_binary_itself_exits_one_with_one_line`
and the multi-device and evaluate cases prove the wiring through real
``python -m`` subprocesses. How fast a bad input fails is measured by
``experiments/benchmarks/cli_errors.py``.
"""

import pytest
from absl import flags

from experiments import cli
from experiments import train as train_binary

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
    # Multi-host settings fail before JAX's distributed runtime starts; an unreachable
    # coordinator (which takes the timeout) is tests/train/test_multihost.py's.
    ("process_flag_alone", ["--num_processes=2"], "--num_processes", "--jax_distributed"),
    (
        "process_id_too_big",
        ["--jax_distributed", "--coordinator_address=127.0.0.1:1234", "--num_processes=2", "--process_id=2"],
        "--process_id",
        "below --num_processes=2",
    ),
    (
        "coordinator_without_port",
        ["--jax_distributed", "--coordinator_address=10.0.0.1", "--num_processes=2", "--process_id=1"],
        "--coordinator_address",
        "host:port",
    ),
]


@pytest.fixture
def train_in_process(capsys, monkeypatch):
    """``python -m experiments.train args`` without the subprocess: returns (exit code, stderr lines)."""

    def run(*args: str) -> tuple[int, list[str]]:
        argv = ["experiments.train", *args]
        monkeypatch.setattr("sys.argv", argv)  # config_flags reads its overrides from sys.argv
        capsys.readouterr()
        flags.FLAGS.unparse_flags()
        try:
            cli.parse_flags(argv)
            train_binary.main([])
            code = 0
        except SystemExit as exit_:
            code = exit_.code
        finally:
            flags.FLAGS.unparse_flags()
            # config_flags defines one --config.<field> flag per override as it parses; a fresh
            # process would not have them, and redefining one is an error.
            for name in [name for name in flags.FLAGS if name.startswith("config.")]:
                delattr(flags.FLAGS, name)
        return code, [line for line in capsys.readouterr().err.splitlines() if line.strip()]

    return run


@pytest.mark.parametrize("name,overrides,field,hint", CASES, ids=[c[0] for c in CASES])
def test_invalid_input_gives_one_clear_line(train_in_process, tmp_path, name, overrides, field, hint):
    overrides = [o.format(tmp=tmp_path) for o in overrides]
    code, lines = train_in_process(CONFIG, f"--workdir={tmp_path / 'w'}", *overrides)
    assert code == 1 and len(lines) == 1, lines
    assert lines[0].startswith("error: ") and field in lines[0] and hint in lines[0], lines[0]
    assert not (tmp_path / "w").exists() or not any((tmp_path / "w").rglob("*checkpoint*"))


@pytest.mark.subprocess
def test_the_binary_itself_exits_one_with_one_line(run, tmp_path):
    result = run(
        "experiments.train", CONFIG, f"--workdir={tmp_path}", "--config.data.batch_size=0", timeout=60
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == ["error: data.batch_size: got 0; must be a positive integer."], result.stderr[-2000:]


@pytest.mark.slow
@pytest.mark.subprocess
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


@pytest.mark.slow
@pytest.mark.subprocess
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
def test_bad_flags_give_one_clear_line(train_in_process, tmp_path, name, args, needle):
    code, lines = train_in_process(*args, f"--workdir={tmp_path}")
    assert code == 1 and len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], lines
