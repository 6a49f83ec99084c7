"""Rebuilds a trained model from a workdir, for evaluation and sampling binaries."""

from __future__ import annotations

import json
import os
from pathlib import Path

import jax

from genjax.errors import ConfigError
from genjax.train.checkpoint import BEST_DIR, LATEST_DIR, Checkpointer, load_config
from genjax.train.evaluation import SplitEvaluator
from genjax.train.experiment import setup_experiment

CHECKPOINT_CHOICES = "best, latest or a step number"


def parse_checkpoint(checkpoint: str | int) -> str | int:
    """``"best"``, ``"latest"`` or a step (int); ConfigError naming --checkpoint otherwise."""
    if isinstance(checkpoint, int) or str(checkpoint).isdigit():
        return int(checkpoint)
    if checkpoint in ("best", "latest"):
        return checkpoint
    raise ConfigError(f"--checkpoint: got {checkpoint!r}; allowed: {CHECKPOINT_CHOICES}")


def restore_from_workdir(
    config, workdir: str | os.PathLike, *, step: int | None = None, checkpoint: str | int = "latest"
):
    """Returns ``(model, dataset, state, mesh)`` from one of ``workdir``'s checkpoints.

    Args:
      step: a step of the latest checkpoints (overrides ``checkpoint``).
      checkpoint: ``"latest"`` (the newest that restores), ``"best"`` (the step
        selected on validation, see `genjax.train.selection`) or a step number,
        looked up among the latest checkpoints and then the best one.
    """
    experiment, state = _restore(config, workdir, checkpoint if step is None else step)
    return experiment.model, experiment.dataset, state, experiment.mesh


def _restore(config, workdir: str | os.PathLike, checkpoint: str | int):
    checkpoint = parse_checkpoint(checkpoint)
    experiment = setup_experiment(config)
    latest = Checkpointer(workdir)
    best = Checkpointer(workdir, max_to_keep=1, subdir=BEST_DIR)
    try:
        if not latest.all_steps() and not best.all_steps():
            raise ConfigError(
                f"--workdir: no checkpoint in {os.fspath(workdir)}; train first with "
                "python -m experiments.train --config=... --workdir=..."
            )
        if checkpoint == "best":
            if not best.all_steps():
                raise ConfigError(
                    f"--checkpoint=best: no {BEST_DIR}/ checkpoint in {os.fspath(workdir)} (the run has not "
                    "finished a validation evaluation yet); use --checkpoint=latest"
                )
            state, _ = best.restore(experiment.abstract_state(), best.latest_step())
        elif checkpoint == "latest":
            state, _ = latest.restore(experiment.abstract_state())
        else:
            source = (
                best if checkpoint in best.all_steps() and checkpoint not in latest.all_steps() else latest
            )
            state, _ = source.restore(experiment.abstract_state(), checkpoint)
    finally:
        latest.close()
        best.close()
    return experiment, state


def evaluate_workdir(
    config, workdir: str | os.PathLike, split: str = "test", *, checkpoint: str | int = "best"
) -> dict:
    """Evaluates one checkpoint on ``split``; writes ``<workdir>/eval_<split>_<step>.json``.

    ``config`` None means the config saved in the workdir; ``checkpoint`` is
    ``"best"`` (default: the step selected on validation), ``"latest"`` or a step.
    """
    from genjax import data as data_lib

    if split not in data_lib.SPLITS:
        raise ConfigError(f"--split: got {split!r}; allowed: {', '.join(data_lib.SPLITS)}")
    config = config or load_config(workdir)
    experiment, state = _restore(config, workdir, checkpoint)
    step = int(jax.device_get(state.step))
    report = {"step": step, "split": split, "checkpoint": str(checkpoint)}
    report.update({"model": config.model.name, "data": config.data.name})
    if "eval" in config:
        report.update({f"eval.{k}": v for k, v in config.eval.items() if isinstance(v, (int, float, str))})
    evaluator = SplitEvaluator(experiment, split)
    report.update(evaluator.evaluate(state.eval_params(), step=step))
    if jax.process_index() == 0:
        path = Path(workdir) / f"eval_{split}_{step}.json"
        path.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    return report


__all__ = ["CHECKPOINT_CHOICES", "LATEST_DIR", "evaluate_workdir", "parse_checkpoint", "restore_from_workdir"]
