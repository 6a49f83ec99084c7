"""Evaluates a workdir's latest checkpoint on a split and writes a JSON report.

    python -m experiments.evaluate --workdir=/tmp/vae
    python -m experiments.evaluate --workdir=/tmp/mnist \
        --config=experiments/configs/vae.py:binarized_mnist --config.eval.num_importance_samples=5000

Without --config the config saved in the workdir is used. The report (test NLL
or bound in nats, bits/dim and the family's extra metrics) is printed and saved
as ``<workdir>/eval_<split>_<step>.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

from absl import app, flags
from ml_collections import config_flags

from experiments.cli import run_or_exit

_CONFIG = config_flags.DEFINE_config_file("config", None, "Config; defaults to <workdir>/config.json.")
_WORKDIR = flags.DEFINE_string("workdir", None, "A training run's workdir.")
_SPLIT = flags.DEFINE_string("split", "test", "Split to evaluate.")
flags.mark_flag_as_required("workdir")


def evaluate_workdir(config, workdir: str, split: str) -> dict:
    import jax

    from genjax import data as data_lib
    from genjax.train import evaluation
    from genjax.train.checkpoint import load_config
    from genjax.train.restore import restore_from_workdir

    config = config or load_config(workdir)
    model, dataset, state, mesh = restore_from_workdir(config, workdir)
    step = int(jax.device_get(state.step))
    batches = data_lib.eval_batches(dataset, config.data, split=split,
                                    process_index=jax.process_index(),
                                    process_count=jax.process_count())
    report = {"step": step, "split": split, "model": config.model.name, "data": config.data.name}
    if "eval" in config:
        report.update({f"eval.{k}": v for k, v in config.eval.items() if isinstance(v, (int, float, str))})
    report.update(evaluation.evaluate(model, state.eval_params(), batches,
                                      seed=config.seed, step=step, mesh=mesh))
    path = Path(workdir) / f"eval_{split}_{step}.json"
    path.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    return report


def main(argv):
    del argv
    report = run_or_exit(lambda: evaluate_workdir(_CONFIG.value, _WORKDIR.value, _SPLIT.value))
    print(json.dumps(report, sort_keys=True))


if __name__ == "__main__":
    app.run(main)
