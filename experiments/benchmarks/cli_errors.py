"""How long a bad input takes to fail: ``python -m experiments.train`` from start to its one error line.

    python -m experiments.benchmarks.cli_errors --rounds=3

A researcher who mistypes a flag should hear about it in seconds, before any
data is loaded or anything is compiled. Each case runs in a fresh process (the
real cost, JAX import included), in interleaved rounds; the report gives each
case's median seconds and checks that every run exited 1 with one line.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CONFIG = "--config=experiments/configs/vae.py:smoke"
CASES = {
    "unknown_model": [CONFIG, "--config.model.name=flow_that_does_not_exist"],
    "missing_npz": [CONFIG, "--config.data.name=npz:/nonexistent/mnist.npz"],
    "zero_batch": [CONFIG, "--config.data.batch_size=0"],
    "bad_likelihood": [CONFIG, "--config.model.likelihood=poisson"],
    "unknown_field": [CONFIG, "--config.train.no_such_field=3"],
    "missing_config_file": ["--config=experiments/configs/no_such_family.py"],
}


def time_case(args: list[str], workdir: Path) -> tuple[float, bool]:
    """(seconds, whether it exited 1 with exactly one ``error:`` line)."""
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(REPO)}
    env.pop("XLA_FLAGS", None)
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "experiments.train", *args, f"--workdir={workdir}"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    seconds = time.perf_counter() - started
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    return seconds, result.returncode == 1 and len(lines) == 1 and lines[0].startswith("error: ")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workdir", default="/tmp/genjax_cli_errors")
    args = parser.parse_args()
    seconds: dict[str, list[float]] = {name: [] for name in CASES}
    clean = True
    for round_index in range(args.rounds):
        names = list(CASES)
        names = names[round_index % len(names) :] + names[: round_index % len(names)]  # rotate the order
        for name in names:
            elapsed, ok = time_case(CASES[name], Path(args.workdir) / name)
            seconds[name].append(elapsed)
            clean &= ok
    print("| case | median s | max s |")
    print("|---|---|---|")
    for name, values in seconds.items():
        print(f"| {name} | {statistics.median(values):.2f} | {max(values):.2f} |")
    print(f"every run exited 1 with one line: {clean}")
    if not clean:
        sys.exit(1)


if __name__ == "__main__":
    main()
