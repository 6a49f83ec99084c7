"""An experiment's fixed parts, built once from a config: data, model, optimizers, mesh.

Shared by the training loop and by the binaries that restore a trained run
(evaluate, sample), so both build exactly the same model and state structure.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import optax
from jax.sharding import Mesh

from genjax import config as config_lib
from genjax import data as data_lib
from genjax import models
from genjax.models.bundle import GenerativeModel
from genjax.optim import make_optimizers
from genjax.train.state import TrainState
from genjax.train.step import init_train_state, make_mesh, replicated


@dataclasses.dataclass(frozen=True)
class Experiment:
    config: Any
    dataset: data_lib.Dataset
    model: GenerativeModel
    optimizers: dict[str, optax.GradientTransformation]
    mesh: Mesh
    train_batches: Any  # grain MapDataset: step -> this process's batch

    def _init_fn(self):
        return functools.partial(
            init_train_state,
            self.model,
            self.optimizers,
            seed=self.config.seed,
            ema=self.config.train.get("ema_decay", 0.0) > 0,
        )

    def init_state(self) -> TrainState:
        """A fresh, replicated state, initialised from the step-0 batch's shapes."""
        example = self.train_batches[0]
        return jax.jit(self._init_fn(), out_shardings=replicated(self.mesh))(example)

    def abstract_state(self) -> TrainState:
        """Shapes, dtypes and (replicated) shardings of the state; computes nothing.

        The restore target for checkpoints, whatever mesh wrote them.
        """
        shapes = jax.eval_shape(self._init_fn(), self.train_batches[0])
        sharding = replicated(self.mesh)
        return jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sharding), shapes)


def setup_experiment(config) -> Experiment:
    """Validates ``config`` and builds the experiment's fixed parts (raises `ConfigError`)."""
    config_lib.validate(config)
    dataset = data_lib.load_dataset(config.data)
    model = models.build(config, dataset)
    return Experiment(
        config=config,
        dataset=dataset,
        model=model,
        optimizers=make_optimizers(config, model.players),
        mesh=make_mesh(),
        train_batches=data_lib.train_batches(
            dataset,
            config.data,
            seed=config.seed,
            process_index=jax.process_index(),
            process_count=jax.process_count(),
        ),
    )
