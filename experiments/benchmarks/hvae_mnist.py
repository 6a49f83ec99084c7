"""Quality benchmark: the IWAE paper's 2-layer hierarchical VAE on static binarized MNIST.

Trains with the ordinary loop (`train_and_evaluate`) on the 50k train images,
validating every ``train.eval_every`` steps with a cheap importance-sampling
estimate (``--valid_samples`` draws; it selects the checkpoint, never the test
split), then estimates the selected checkpoint's test log-likelihood with k = 5000::

    python -m experiments.benchmarks.hvae_mnist --workdir=/tmp/hvae_mnist

Every validation is stamped with the wall-clock and process CPU seconds since
training began, so the report gives the time at which validation NLL first
reached ``--target_nll``. Any config field can be overridden, e.g.
``--config.train.num_steps=1000``. The JSON report is printed and written to
``<workdir>/quality.json`` (and to ``--json`` if given).
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import re
import time
from pathlib import Path

from absl import app, flags
from ml_collections import config_flags

from experiments.cli import parse_flags, run_or_exit

_CONFIG = config_flags.DEFINE_config_file(
    "config", "experiments/configs/hvae.py:binarized_mnist", "Training config (path.py:variant)."
)
_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory.")
_EVAL_SAMPLES = flags.DEFINE_integer("eval_samples", 5000, "Importance samples k for the test NLL.")
_VALID_SAMPLES = flags.DEFINE_integer("valid_samples", 100, "Importance samples k for validation.")
_TARGET = flags.DEFINE_float("target_nll", 85.5, "Validation NLL (nats) whose first crossing is timed.")
_JSON = flags.DEFINE_string("json", None, "Also write the report here.")
flags.mark_flag_as_required("workdir")

_VALIDATION_LINE = re.compile(r"validation at step (\d+):.*?\bnll[=: ]+(-?[0-9.]+)")


def benchmark(config, workdir: str, eval_samples: int, valid_samples: int, target: float) -> dict:
    from genjax.train import train_and_evaluate
    from genjax.train.restore import evaluate_workdir

    train_config = config.copy_and_resolve_references()
    # Validation (and the loop's own final test pass) use a cheap k; k = 5000 is timed below.
    train_config.eval.num_importance_samples = valid_samples
    train_config.eval.importance_chunk_size = min(valid_samples, 100)
    validations: list[dict] = []
    wall_start, cpu_start = time.perf_counter(), time.process_time()

    def log(line: str) -> None:
        print(line, flush=True)
        match = _VALIDATION_LINE.search(line)
        if match:
            validations.append(
                {
                    "step": int(match.group(1)),
                    "nll": float(match.group(2)),
                    "wall_seconds": round(time.perf_counter() - wall_start, 1),
                    "cpu_seconds": round(time.process_time() - cpu_start, 1),
                }
            )
            Path(workdir, "validation_times.json").write_text(json.dumps(validations, indent=2) + "\n")

    trained = train_and_evaluate(train_config, workdir, print_fn=log)
    train_wall, train_cpu = time.perf_counter() - wall_start, time.process_time() - cpu_start
    reached = next((v for v in validations if v["nll"] <= target), None)
    eval_config = config.copy_and_resolve_references()
    eval_config.eval.num_importance_samples = eval_samples
    started = time.perf_counter()
    report = evaluate_workdir(eval_config, workdir, "test")
    eval_seconds = time.perf_counter() - started
    result = {
        "benchmark": "hvae_mnist",
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "config": {k: v for k, v in config.model.items() if isinstance(v, (int, float, str, tuple))},
        "seed": config.seed,
        "num_steps": config.train.num_steps,
        "batch_size": config.data.batch_size,
        "train_wall_seconds": round(train_wall, 1),
        "train_cpu_seconds": round(train_cpu, 1),
        "eval_seconds": round(eval_seconds, 1),
        "selected_step": trained.get("selection/step"),
        "validation_nll_selected": trained.get("validation/nll"),
        "valid_importance_samples": valid_samples,
        "target_validation_nll": target,
        "target_reached_at": reached,
        "validations": validations,
        "test_nll_iwae": report["nll"],
        "test_elbo": report["elbo"],
        "test_kl_per_layer": {k: v for k, v in report.items() if k.startswith("kl_z")},
        "test_bits_per_dim": report.get("bits_per_dim"),
        "num_importance_samples": eval_samples,
        "final_train_bound": trained.get("train/bound"),
    }
    for path in filter(None, (str(Path(workdir, "quality.json")), _JSON.value)):
        Path(path).write_text(json.dumps(result, indent=2) + "\n")
    return result


def main(argv):
    del argv
    run = lambda: benchmark(  # noqa: E731
        _CONFIG.value, _WORKDIR.value, _EVAL_SAMPLES.value, _VALID_SAMPLES.value, _TARGET.value
    )
    print(json.dumps(run_or_exit(run), indent=2))


if __name__ == "__main__":
    app.run(main, flags_parser=parse_flags)
