"""Two CPU processes on 127.0.0.1 through `jax.distributed` train like one process with two devices.

One set of runs (a module fixture) serves the slow assertions: a 2-process run to
``STEPS``, a 1-process run with 2 simulated devices to ``STEPS``, and a
2-process run to ``STEPS // 2`` resumed in its workdir with the larger
``num_steps=STEPS``. Each process has one local CPU device and reads only its
half of every batch, so the 2-process run matches the 2-device run only if the
shards are disjoint and the gradients are all-reduced across processes. The
fast tests check how `genjax.train.distributed` resolves and validates its
settings, without starting JAX's runtime.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import chex
import jax
import pytest

from genjax.errors import ConfigError
from genjax.train import distributed

# Module fixtures are built once per worker: one group keeps this module on one worker (--dist=loadgroup).
pytestmark = pytest.mark.xdist_group("multihost")

REPO = Path(__file__).resolve().parents[2]
STEPS = 4
SMOKE = [
    "--config=experiments/configs/vae.py:smoke",
    "--config.train.steps_per_call=2",
    "--config.eval.num_importance_samples=2",
]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _env(tmp: Path, *, num_devices: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GENJAX_", "JAX_", "XLA_"))}
    env.update(
        JAX_PLATFORMS="cpu",
        XLA_FLAGS=f"--xla_force_host_platform_device_count={num_devices}",
        PYTHONPATH=str(REPO),
        # Later runs load the first run's executables; the programs, and so the numbers, are the same.
        # The suite's persistent cache (tests/conftest.py) when it is on: warm, no run compiles at all.
        JAX_COMPILATION_CACHE_DIR=os.environ.get("JAX_COMPILATION_CACHE_DIR", str(tmp / "jax_cache")),
        JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
    )
    return env


def _train(*args: str, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "experiments.train", *SMOKE, *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait(procs: list[subprocess.Popen], *, timeout_s: float) -> list[tuple[int, str, str]]:
    """Waits for every process; if one fails or time runs out, ends the others (by pid)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and any(p.poll() is None for p in procs):
        if any(p.poll() not in (None, 0) for p in procs):
            break
        time.sleep(0.2)
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
    return [(p.wait(), *p.communicate()) for p in procs]


def _two_processes(workdir: Path, tmp: Path, *, num_steps: int) -> list[tuple[int, str, str]]:
    address = f"127.0.0.1:{_free_port()}"
    env = _env(tmp, num_devices=1)
    procs = [
        _train(
            f"--workdir={workdir}",
            f"--config.train.num_steps={num_steps}",
            "--jax_distributed",
            f"--coordinator_address={address}",
            "--num_processes=2",
            f"--process_id={index}",
            "--coordinator_timeout_s=60",
            env=env,
        )
        for index in range(2)
    ]
    results = _wait(procs, timeout_s=120)
    for index, (code, _, err) in enumerate(results):
        assert code == 0, f"process {index} exited {code}: {err[-3000:]}"
    return results


def _final_state(workdir: Path):
    from genjax.train.checkpoint import load_config
    from genjax.train.restore import restore_from_workdir

    _, _, state, _ = restore_from_workdir(load_config(workdir), workdir)
    return jax.device_get(state)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("multihost")
    start = time.perf_counter()
    # The 1-process run shares the CPUs with the first 2-process run: each of those often
    # waits on the other at a collective, so running both at once saves wall time.
    single = _train(
        f"--workdir={tmp / 'one'}", f"--config.train.num_steps={STEPS}", env=_env(tmp, num_devices=2)
    )
    out = {"two": _two_processes(tmp / "two", tmp, num_steps=STEPS)}
    out["resumed_first"] = _two_processes(tmp / "resumed", tmp, num_steps=STEPS // 2)
    out["resumed"] = _two_processes(tmp / "resumed", tmp, num_steps=STEPS)
    out["one"] = _wait([single], timeout_s=120)
    assert out["one"][0][0] == 0, out["one"][0][2][-3000:]
    print(f"multihost runs: {time.perf_counter() - start:.1f} s")
    return tmp, out


def _results(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.subprocess
def test_two_processes_equal_one_process_with_two_devices(runs):
    tmp, out = runs
    two, one = _final_state(tmp / "two"), _final_state(tmp / "one")
    assert int(two.step) == int(one.step) == STEPS
    # Same shards, same all-reduce; only the reduction's float order may differ. A process that
    # read the wrong half of the batch, or skipped the cross-process mean, moves Adam's update by ~lr.
    chex.assert_trees_all_close(two.params, one.params, rtol=1e-4, atol=2e-5)
    chex.assert_trees_all_close(two.opt_state, one.opt_state, rtol=1e-4, atol=2e-5)
    # Evaluation on the global mesh: each process scores its shard of the test split.
    two_results, one_results = _results(out["two"][0][1]), _results(out["one"][0][1])
    assert two_results["test/num_examples"] == one_results["test/num_examples"]
    for name, value in one_results.items():
        assert two_results[name] == pytest.approx(value, rel=1e-4), name


@pytest.mark.slow
@pytest.mark.subprocess
def test_only_process_zero_writes(runs):
    tmp, out = runs
    (_, stdout_0, _), (_, stdout_1, _) = out["two"]
    assert f"step {STEPS}/{STEPS}" in stdout_0 and "samples:" in stdout_0
    # Process 1 prints nothing of its own (gloo's native connection line aside).
    assert [line for line in stdout_1.splitlines() if not line.startswith("[Gloo]")] == []
    # One record per (step, split), as in the 1-process run: process 1 appended nothing.
    keys = {
        name: [
            (record["step"], record["split"], sorted(record))
            for record in map(json.loads, (tmp / name / "metrics.jsonl").read_text().splitlines())
        ]
        for name in ("two", "one")
    }
    assert keys["two"] == keys["one"] and len(keys["two"]) == len(set(map(str, keys["two"])))
    for subdir in ("samples", "checkpoints", "best"):
        assert sorted(p.name for p in (tmp / "two" / subdir).iterdir()) == sorted(
            p.name for p in (tmp / "one" / subdir).iterdir()
        ), subdir


@pytest.mark.slow
@pytest.mark.subprocess
def test_resumed_two_process_run_is_bit_exact(runs):
    tmp, out = runs
    assert f"resumed from step {STEPS // 2}" in out["resumed"][0][1]
    # The smoke VAE's learning rate is constant, so keeping the first run's schedule horizon
    # (train.schedule_on_resume=keep) changes nothing and the runs must agree bit for bit.
    resumed, uninterrupted = _final_state(tmp / "resumed"), _final_state(tmp / "two")
    chex.assert_trees_all_equal(resumed, uninterrupted)


@pytest.mark.slow
@pytest.mark.subprocess
def test_unreachable_coordinator_exits_with_one_line(tmp_path):
    port = _free_port()  # nobody listens here
    start = time.perf_counter()
    proc = _train(
        f"--workdir={tmp_path / 'w'}",
        "--jax_distributed",
        f"--coordinator_address=127.0.0.1:{port}",
        "--num_processes=2",
        "--process_id=1",
        "--coordinator_timeout_s=2",
        env=_env(tmp_path, num_devices=1),
    )
    ((code, _, err),) = _wait([proc], timeout_s=60)
    elapsed = time.perf_counter() - start
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 1 and len(lines) == 1, err
    assert lines[0].startswith("error: --coordinator_address:") and f"127.0.0.1:{port}" in lines[0]
    assert elapsed < 30, elapsed
    assert not (tmp_path / "w").exists()  # failed before writing anything


def test_settings_come_from_flags_then_environment_then_auto_detection():
    environ = {
        "GENJAX_COORDINATOR_ADDRESS": "10.0.0.1:1234",
        "GENJAX_NUM_PROCESSES": "4",
        "GENJAX_PROCESS_ID": "3",
    }
    assert distributed.resolve_settings(environ=environ) == {
        "coordinator_address": "10.0.0.1:1234",
        "num_processes": 4,
        "process_id": 3,
        "initialization_timeout": distributed.DEFAULT_TIMEOUT_S,
    }
    flags_win = distributed.resolve_settings(process_id=0, timeout_s=5, environ=environ)
    assert flags_win["process_id"] == 0 and flags_win["initialization_timeout"] == 5
    # Nothing set: JAX auto-detects the three (TPU pods, SLURM, Open MPI).
    auto = distributed.resolve_settings(environ={"GENJAX_COORDINATOR_TIMEOUT_S": "7"})
    assert auto == {
        "coordinator_address": None,
        "num_processes": None,
        "process_id": None,
        "initialization_timeout": 7,
    }


@pytest.mark.parametrize(
    "kwargs,environ,flag",
    [
        ({"num_processes": 0}, {}, "--num_processes"),
        ({"num_processes": 2, "process_id": 2}, {}, "--process_id"),
        ({"process_id": -1}, {}, "--process_id"),
        ({}, {"GENJAX_NUM_PROCESSES": "2", "GENJAX_PROCESS_ID": "5"}, "--process_id"),
        ({}, {"GENJAX_NUM_PROCESSES": "two"}, "--num_processes"),
        ({"coordinator_address": "10.0.0.1"}, {}, "--coordinator_address"),
        ({"coordinator_address": "10.0.0.1:99999"}, {}, "--coordinator_address"),
        ({"timeout_s": 0}, {}, "--coordinator_timeout_s"),
    ],
)
def test_bad_settings_raise_one_line_naming_the_flag(kwargs, environ, flag):
    with pytest.raises(ConfigError) as error:
        distributed.resolve_settings(**kwargs, environ=environ)
    assert str(error.value).startswith(flag) and "\n" not in str(error.value)
