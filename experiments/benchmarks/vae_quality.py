"""Quality benchmark: MLP VAE (one stochastic layer) on static binarized MNIST.

Trains with the ordinary loop (`train_and_evaluate`), then estimates the test
log-likelihood by importance sampling with k = 5000 (the IWAE bound, which
approaches log p(x) from below), timing training and evaluation separately::

    python -m experiments.benchmarks.vae_quality --workdir=/tmp/vae_mnist_bench

Any config field can be overridden, e.g. ``--config.train.num_steps=1000`` or
``--config.model.objective=iwae --config.model.num_train_samples=5``. The JSON
report is printed and written to ``<workdir>/quality.json``.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import time
from pathlib import Path

from absl import app, flags
from ml_collections import config_flags

from experiments.cli import parse_flags, run_or_exit

_CONFIG = config_flags.DEFINE_config_file(
    "config", "experiments/configs/vae.py:binarized_mnist", "Training config (path.py:variant)."
)
_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory.")
_EVAL_SAMPLES = flags.DEFINE_integer("eval_samples", 5000, "Importance samples k for the test NLL.")
flags.mark_flag_as_required("workdir")


def benchmark(config, workdir: str, eval_samples: int) -> dict:
    from genjax.train import train_and_evaluate
    from genjax.train.restore import evaluate_workdir

    train_config = config.copy_and_resolve_references()
    # The loop's own final pass uses a cheap k; the k = 5000 pass is timed on its own below.
    train_config.eval.num_importance_samples = 1
    started = time.perf_counter()
    trained = train_and_evaluate(train_config, workdir)
    train_seconds = time.perf_counter() - started
    eval_config = config.copy_and_resolve_references()
    eval_config.eval.num_importance_samples = eval_samples
    started = time.perf_counter()
    report = evaluate_workdir(eval_config, workdir, "test")
    eval_seconds = time.perf_counter() - started
    result = {
        "benchmark": "vae_quality",
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "train_seconds": round(train_seconds, 1),
        "eval_seconds": round(eval_seconds, 1),
        "num_steps": config.train.num_steps,
        "batch_size": config.data.batch_size,
        "train_splits": config.data.train_splits or "train",
        "test_nll_iwae": report["nll"],
        "test_elbo": report["elbo"],
        "test_kl": report["kl"],
        "test_bits_per_dim": report["bits_per_dim"],
        "num_importance_samples": eval_samples,
        "final_train_bound": trained.get("train/bound"),
    }
    Path(workdir, "quality.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def main(argv):
    del argv
    print(
        json.dumps(
            run_or_exit(lambda: benchmark(_CONFIG.value, _WORKDIR.value, _EVAL_SAMPLES.value)), indent=2
        )
    )


if __name__ == "__main__":
    app.run(main, flags_parser=parse_flags)
