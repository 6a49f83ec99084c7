"""Orbax checkpoints of the `TrainState`, with automatic resume from a workdir.

Layout of a workdir::

    workdir/config.json          the run's config (written at every start)
    workdir/checkpoints/<step>/  orbax StandardSave of the TrainState
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import jax
import ml_collections
import orbax.checkpoint as ocp

from genjax.train.state import TrainState


class Checkpointer:
    """Saves and restores `TrainState`s under ``workdir/checkpoints``.

    Saves are asynchronous (training continues while the previous state is
    written); `close` blocks until they are on disk. A restore needs an abstract
    target (shapes, dtypes, shardings), which keeps the restored arrays on the
    current mesh, whatever mesh wrote them.
    """

    def __init__(self, workdir: str | os.PathLike, *, max_to_keep: int = 3):
        directory = Path(workdir).absolute() / "checkpoints"
        self._manager = ocp.CheckpointManager(
            directory,
            options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True),
        )

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def save(self, state: TrainState) -> None:
        step = int(jax.device_get(state.step))
        if step in self._manager.all_steps():
            return
        self._manager.save(step, args=ocp.args.StandardSave(state))

    def restore(self, abstract_state: TrainState, step: int | None = None) -> TrainState:
        """Restores ``step`` (the latest by default) into ``abstract_state``'s structure."""
        step = self.latest_step() if step is None else step
        return self._manager.restore(step, args=ocp.args.StandardRestore(abstract_state))

    def close(self) -> None:
        self._manager.wait_until_finished()
        self._manager.close()


def save_config(config: ml_collections.ConfigDict, workdir: str | os.PathLike) -> Path:
    path = Path(workdir) / "config.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(config.to_json_best_effort(indent=2, sort_keys=True) + "\n")
    return path


def load_config(workdir: str | os.PathLike) -> ml_collections.ConfigDict:
    """The config a run saved beside its checkpoints."""
    return ml_collections.ConfigDict(json.loads((Path(workdir) / "config.json").read_text()))
