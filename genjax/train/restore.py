"""Rebuilds a trained model from a workdir, for evaluation and sampling binaries."""

from __future__ import annotations

import functools
import os

import jax

from genjax import config as config_lib
from genjax import data as data_lib
from genjax import models
from genjax.errors import ConfigError
from genjax.train.checkpoint import Checkpointer
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
        init = functools.partial(init_train_state, model, optimizers, seed=config.seed,
                                 ema=config.train.get("ema_decay", 0.0) > 0)
        shapes = jax.eval_shape(init, example)
        abstract: TrainState = jax.tree.map(
            lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=replicated(mesh)), shapes
        )
        state = checkpointer.restore(abstract, step)
    finally:
        checkpointer.close()
    return model, dataset, state, mesh
