"""An experiment's fixed parts, built once from a config: data, model, optimizers, mesh.

Shared by the training loop and by the binaries that restore a trained run
(evaluate, sample), so both build exactly the same model and state structure.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import numpy as np
import optax
from jax.sharding import Mesh

from genjax import config as config_lib
from genjax import data as data_lib
from genjax import models
from genjax.models.bundle import GenerativeModel
from genjax.optim import make_optimizers
from genjax.train.state import TrainState
from genjax.train.step import batch_sharding, init_train_state, make_mesh, replicated


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

    def example_batch(self) -> dict[str, jax.Array]:
        """The step-0 batch as one global array per key, sharded over the mesh like training batches.

        In a multi-process run each process holds only its shard of every batch; built
        this way, init sees the whole global batch, as a single process would, so a
        data-dependent init (Glow's ActNorm) and model state sized by the batch
        (persistent chains) are the same on every process.
        """
        sharding = batch_sharding(self.mesh, stacked=False)
        return {
            key: jax.make_array_from_process_local_data(sharding, np.asarray(value))
            for key, value in self.train_batches[0].items()
        }

    def init_state(self) -> TrainState:
        """A fresh, replicated state, initialised from the global step-0 batch."""
        return jax.jit(self._init_fn(), out_shardings=replicated(self.mesh))(self.example_batch())

    def abstract_state(self) -> TrainState:
        """Shapes, dtypes and (replicated) shardings of the state; computes nothing.

        The restore target for checkpoints, whatever mesh wrote them. Traced once
        per experiment (the loop asks for it at resume, selection and the end) and
        kept: tracing a U-Net's init costs seconds.
        """
        cached = self.__dict__.get("_abstract_state")
        if cached is not None:
            return cached
        global_batch = {  # this process's shard, scaled up to the global batch's shape
            key: jax.ShapeDtypeStruct((len(value) * jax.process_count(), *value.shape[1:]), value.dtype)
            for key, value in self.train_batches[0].items()
        }
        shapes = jax.eval_shape(self._init_fn(), global_batch)
        sharding = replicated(self.mesh)
        abstract = jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sharding), shapes)
        object.__setattr__(self, "_abstract_state", abstract)  # a frozen dataclass: memoise by hand
        return abstract


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
