"""Rebuilds a trained model from a workdir, for evaluation and sampling binaries."""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

import jax

from genjax import config as config_lib
from genjax import data as data_lib
from genjax import models
from genjax.errors import ConfigError
from genjax.train import evaluation
from genjax.train.checkpoint import Checkpointer, load_config
from genjax.train.optimizers import make_optimizers
from genjax.train.state import TrainState
from genjax.train.step import init_train_state, make_mesh, replicated


def restore_from_workdir(config, workdir: str | os.PathLike, *, step: int | None = None):
    """Returns ``(model, dataset, state, mesh)`` from ``workdir``'s checkpoint.

    The abstract target comes from ``jax.eval_shape`` of the initializer, so no
    parameters are computed just to be overwritten.
    """
    config_lib.validate(config)
    dataset = data_lib.load_dataset(config.data)
    model = models.build(config, dataset)
    optimizers = make_optimizers(config, model.players)
    mesh = make_mesh()
    checkpointer = Checkpointer(workdir)
    try:
        if checkpointer.latest_step() is None:
            raise ConfigError(
                f"--workdir: no checkpoint in {os.fspath(workdir)}; train first with "
                "python -m experiments.train --config=... --workdir=..."
            )
        example = data_lib.train_batches(dataset, config.data, seed=config.seed)[0]
        init = functools.partial(
            init_train_state, model, optimizers, seed=config.seed, ema=config.train.get("ema_decay", 0.0) > 0
        )
        shapes = jax.eval_shape(init, example)
        abstract: TrainState = jax.tree.map(
            lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=replicated(mesh)), shapes
        )
        state = checkpointer.restore(abstract, step)
    finally:
        checkpointer.close()
    return model, dataset, state, mesh


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
