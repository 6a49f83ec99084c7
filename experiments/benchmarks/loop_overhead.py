"""What validation and the best-checkpoint save cost the training loop.

Runs ``experiments/configs/<family>.py:<variant>`` (default the digits VAE) end to
end through `train_and_evaluate` twice per round, in interleaved rounds: once
with validation only at the end (``eval_every=0``) and once evaluating the
validation split every ``--eval_every`` steps and saving the best checkpoint on
every improvement. Both compile the same functions and end with the same test
evaluation, so the paired difference is what periodic validation and its saves
add. It also times one best-checkpoint save on its own: the part the loop waits
for (orbax saves asynchronously) and the time until it is on disk::

    python -m experiments.benchmarks.loop_overhead --json=experiments/benchmarks/results/loop_overhead.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from experiments.benchmarks.timing import run_header


def parse_args(argv: list[str]) -> argparse.Namespace:
    prog = "python -m experiments.benchmarks.loop_overhead"
    parser = argparse.ArgumentParser(prog=prog, description=__doc__)
    parser.add_argument("--config", default="vae:digits", help="<family>:<variant> under experiments/configs")
    parser.add_argument("--num_steps", type=int, default=2000)
    parser.add_argument("--eval_every", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", default=None, help="also write the results here")
    return parser.parse_args(argv)


def _config(family_variant: str, num_steps: int, eval_every: int):
    import importlib

    family, variant = family_variant.split(":")
    config = importlib.import_module(f"experiments.configs.{family}").get_config(variant)
    config.train.update(
        num_steps=num_steps,
        eval_every=eval_every,
        log_every=num_steps,
        checkpoint_every=0,
        sample_every=0,
    )
    return config


def _run(config, workdir: Path) -> tuple[float, int]:
    """Wall seconds of one fresh run, and how many validation evaluations improved (best saves)."""
    from genjax.train import train_and_evaluate

    lines: list[str] = []
    started = time.perf_counter()
    train_and_evaluate(config, workdir, print_fn=lines.append)
    seconds = time.perf_counter() - started
    return seconds, sum(line.startswith("validation at step") and "(best)" in line for line in lines)


def _save_timings(config, workdir: Path, repeats: int = 5) -> dict[str, float]:
    """Median seconds the loop blocks on a best save, and until the save is on disk."""
    from genjax.train.checkpoint import BEST_DIR, Checkpointer
    from genjax.train.experiment import setup_experiment

    state = setup_experiment(config).init_state()
    blocking, on_disk = [], []
    for index in range(repeats):
        checkpointer = Checkpointer(workdir / f"save_{index}", max_to_keep=1, subdir=BEST_DIR)
        started = time.perf_counter()
        checkpointer.save(state, {"selection": {"best_step": index}})
        blocking.append(time.perf_counter() - started)
        checkpointer.close()
        on_disk.append(time.perf_counter() - started)
    return {"blocking_s": statistics.median(blocking), "on_disk_s": statistics.median(on_disk)}


def main(argv: list[str]) -> dict:
    args = parse_args(argv)
    result = run_header("loop_overhead", "experiments.benchmarks.loop_overhead", argv)
    baseline = _config(args.config, args.num_steps, 0)
    validated = _config(args.config, args.num_steps, args.eval_every)
    seconds: dict[str, list[float]] = {"end_only": [], "periodic": []}
    best_saves = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        _run(baseline, tmp / "warmup")  # compilation cache, data loading
        for round_index in range(args.rounds):
            order = [("end_only", baseline), ("periodic", validated)]
            for name, config in order if round_index % 2 == 0 else order[::-1]:
                elapsed, saves = _run(config, tmp / f"{name}_{round_index}")
                seconds[name].append(elapsed)
                if name == "periodic":
                    best_saves.append(saves)
                print(f"round {round_index} {name}: {elapsed:.2f} s", flush=True)
        saves = _save_timings(baseline, tmp)
    num_evals = args.num_steps // args.eval_every
    paired = [p - e for p, e in zip(seconds["periodic"], seconds["end_only"], strict=True)]
    median_end = statistics.median(seconds["end_only"])
    result.update(
        config=args.config,
        num_steps=args.num_steps,
        eval_every=args.eval_every,
        periodic_validations=num_evals,
        best_saves_per_run=best_saves,
        seconds=seconds,
        median_seconds={name: statistics.median(v) for name, v in seconds.items()},
        paired_extra_seconds=paired,
        median_extra_seconds=statistics.median(paired),
        median_extra_per_validation_s=statistics.median(paired) / num_evals,
        overhead_fraction=statistics.median(paired) / median_end,
        best_save=saves,
    )
    print(json.dumps({k: v for k, v in result.items() if k != "seconds"}, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
