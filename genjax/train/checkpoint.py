"""Orbax checkpoints of the `TrainState` and the loop's bookkeeping, with automatic resume.

Layout of a workdir::

    workdir/config.json                the run's config (written at every start)
    workdir/checkpoints/<step>/state   orbax StandardSave of the TrainState (the latest few)
    workdir/checkpoints/<step>/meta    JSON: schedule horizon and model-selection bookkeeping
    workdir/best/<step>/...            the same two items for the selected (best-validation) step
    workdir/checkpoints_damaged/<step> latest checkpoints that failed to restore, moved aside

A checkpoint that cannot be restored (corrupt, or only partly written when the
job died) is never deleted and never silently skipped: `Checkpointer.restore`
names its step on one line, moves it aside (so the resumed run can save that
step again) and falls back to the next older one.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import ml_collections
import orbax.checkpoint as ocp

from genjax.errors import ConfigError
from genjax.train.state import TrainState

LATEST_DIR = "checkpoints"
BEST_DIR = "best"
DAMAGED_DIR = "checkpoints_damaged"


class Checkpointer:
    """Saves and restores ``(TrainState, meta)`` pairs under ``workdir/<subdir>``.

    Saves are asynchronous (training continues while the previous state is
    written); `close` blocks until they are on disk. A restore needs an abstract
    target (shapes, dtypes, shardings), which keeps the restored arrays on the
    current mesh, whatever mesh wrote them. All processes call every method
    (orbax saves collectively); only process 0 moves damaged checkpoints.

    Args:
      workdir: the run's directory.
      max_to_keep: how many of the newest checkpoints stay on disk.
      subdir: `LATEST_DIR` (periodic checkpoints) or `BEST_DIR` (the selected one).
    """

    def __init__(self, workdir: str | os.PathLike, *, max_to_keep: int = 3, subdir: str = LATEST_DIR):
        self.workdir = Path(workdir).absolute()
        self.directory = self.workdir / subdir
        self._manager = ocp.CheckpointManager(
            self.directory,
            options=ocp.CheckpointManagerOptions(
                max_to_keep=max_to_keep,
                create=True,
                # The latest and best managers may save the same step at once; in a multi-process
                # run their barriers (named by step) must not collide.
                multiprocessing_options=ocp.options.MultiprocessingOptions(barrier_sync_key_prefix=subdir),
            ),
        )

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def all_steps(self) -> list[int]:
        return sorted(self._manager.all_steps())

    def save(self, state: TrainState, meta: dict[str, Any] | None = None) -> None:
        """Saves ``state`` (and JSON-able ``meta``) at its step, unless that step is saved already."""
        step = int(jax.device_get(state.step))
        if step in self._manager.all_steps():
            return
        self._manager.save(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(dict(meta or {}))
            ),
        )

    def read_meta(self, step: int) -> dict[str, Any]:
        """The ``meta`` item of ``step`` ({} when unreadable; `restore` reports damage)."""
        try:
            restored = self._manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))
        except Exception:  # noqa: BLE001 - damage is reported by `restore`
            return {}
        return dict(restored["meta"] or {})

    def restore(
        self,
        abstract_state: TrainState,
        step: int | None = None,
        *,
        print_fn: Callable[[str], Any] = print,
    ) -> tuple[TrainState, dict[str, Any]]:
        """``(state, meta)`` of ``step``, or of the newest checkpoint that restores when None.

        Raises:
          ConfigError: ``step`` is not saved or is damaged, or every checkpoint is damaged.
        """
        if step is not None:
            if step not in self._manager.all_steps():
                saved = ", ".join(map(str, self.all_steps())) or "none"
                raise ConfigError(f"--checkpoint: no step {step} in {self.directory}; saved steps: {saved}")
            try:
                return self._restore(abstract_state, step)
            except Exception as error:  # orbax raises many types for unreadable files
                raise ConfigError(
                    f"--checkpoint: the checkpoint at step {step} in {self.directory} is damaged "
                    f"({type(error).__name__}); choose another step"
                ) from error
        for candidate in reversed(self.all_steps()):
            try:
                with _stderr_silenced():
                    return self._restore(abstract_state, candidate)
            except Exception as error:  # noqa: BLE001 - any failure to read means damaged
                moved = self._move_aside(candidate)
                print_fn(
                    f"checkpoint at step {candidate} in {self.directory} is damaged "
                    f"({type(error).__name__}: {_first_line(error)}); moved it to {moved} "
                    "and trying the previous one"
                )
        raise ConfigError(
            f"--workdir: no checkpoint in {self.directory} could be restored (damaged ones are in "
            f"{self.workdir / DAMAGED_DIR}); start a new workdir"
        )

    def _restore(self, abstract_state: TrainState, step: int) -> tuple[TrainState, dict[str, Any]]:
        restored = self._manager.restore(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardRestore(abstract_state), meta=ocp.args.JsonRestore()
            ),
        )
        return restored["state"], dict(restored["meta"] or {})

    def _move_aside(self, step: int) -> Path:
        target = self.workdir / DAMAGED_DIR / f"{self.directory.name}_{step}"
        if jax.process_index() == 0:
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists():  # a second damaged copy of the same step: keep both
                target = target.with_name(f"{target.name}_{len(list(target.parent.iterdir()))}")
            shutil.move(str(self.directory / str(step)), target)
        if jax.process_count() > 1:
            from jax.experimental import multihost_utils

            multihost_utils.sync_global_devices(f"genjax_moved_checkpoint_{step}")
        self._manager.reload()
        return target

    def close(self) -> None:
        """Blocks until every save is on disk; a second call does nothing."""
        if self._manager is None:
            return
        self._manager.wait_until_finished()
        self._manager.close()
        self._manager = None


@contextlib.contextmanager
def _stderr_silenced(grace_s: float = 0.5):
    """Silences file descriptor 2 while a possibly damaged checkpoint is read.

    A failed orbax read leaves tensorstore reads in flight whose callbacks later
    hit the closed asyncio loop and print "Event loop is closed" tracebacks from
    C++ (hundreds of lines, none of them news: `Checkpointer.restore` prints the
    one line that matters). They are waited for (``grace_s``) before stderr returns.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    failed = False
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    except Exception:
        failed = True
        raise
    finally:
        if failed:
            logging.getLogger("asyncio").setLevel(logging.CRITICAL)  # and its GC-time task errors
            time.sleep(grace_s)
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0][:160] if text else ""


def save_config(config: ml_collections.ConfigDict, workdir: str | os.PathLike) -> Path:
    path = Path(workdir) / "config.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(config.to_json_best_effort(indent=2, sort_keys=True) + "\n")
    return path


def load_config(workdir: str | os.PathLike) -> ml_collections.ConfigDict:
    """The config a run saved beside its checkpoints."""
    path = Path(workdir) / "config.json"
    if not path.is_file():
        raise ConfigError(f"--workdir: no config.json in {os.fspath(workdir)}; is it a training workdir?")
    return ml_collections.ConfigDict(json.loads(path.read_text()))
