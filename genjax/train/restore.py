"""Rebuilds a trained model from a workdir, for evaluation and sampling binaries."""

from __future__ import annotations

import json
import os
from pathlib import Path

import jax

from genjax import data as data_lib
from genjax.errors import ConfigError
from genjax.train import evaluation
from genjax.train.checkpoint import Checkpointer, load_config
from genjax.train.experiment import setup_experiment


def restore_from_workdir(config, workdir: str | os.PathLike, *, step: int | None = None):
    """Returns ``(model, dataset, state, mesh)`` from ``workdir``'s checkpoint (latest by default)."""
    experiment = setup_experiment(config)
    checkpointer = Checkpointer(workdir)
    try:
        if checkpointer.latest_step() is None:
            raise ConfigError(
                f"--workdir: no checkpoint in {os.fspath(workdir)}; train first with "
                "python -m experiments.train --config=... --workdir=..."
            )
        state = checkpointer.restore(experiment.abstract_state(), step)
    finally:
        checkpointer.close()
    return experiment.model, experiment.dataset, state, experiment.mesh


def evaluate_workdir(config, workdir: str | os.PathLike, split: str = "test") -> dict:
    """Evaluates the latest checkpoint on ``split``; writes ``<workdir>/eval_<split>_<step>.json``.

    ``config`` None means the config saved in the workdir.
    """
    config = config or load_config(workdir)
    model, dataset, state, mesh = restore_from_workdir(config, workdir)
    step = int(jax.device_get(state.step))
    batches = data_lib.eval_batches(
        dataset,
        config.data,
        split=split,
        process_index=jax.process_index(),
        process_count=jax.process_count(),
    )
    report = {"step": step, "split": split, "model": config.model.name, "data": config.data.name}
    if "eval" in config:
        report.update({f"eval.{k}": v for k, v in config.eval.items() if isinstance(v, (int, float, str))})
    report.update(
        evaluation.evaluate(model, state.eval_params(), batches, seed=config.seed, step=step, mesh=mesh)
    )
    path = Path(workdir) / f"eval_{split}_{step}.json"
    path.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    return report
