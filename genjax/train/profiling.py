"""``train.profile_steps``: a `jax.profiler` trace of a few steady-state steps.

The trace starts at the second chunk (the first one compiles) and stops at the
first chunk end after ``profile_steps`` steps. It lands in ``workdir/profile``;
open it with TensorBoard's profile plugin (``tensorboard --logdir workdir/profile``)
or load the ``*.trace.json.gz`` file in https://ui.perfetto.dev.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax


class StepProfiler:
    """Starts and stops one trace around whole chunks (process 0 only)."""

    def __init__(self, workdir: Path, profile_steps: int, *, enabled: bool, print_fn: Callable[[str], Any]):
        self.directory = Path(workdir) / "profile"
        self.remaining = int(profile_steps) if enabled else 0
        self._print_fn = print_fn
        self._chunks_seen = 0
        self._start_step: int | None = None

    def before_chunk(self, step: int) -> None:
        if self.remaining > 0 and self._start_step is None and self._chunks_seen >= 1:
            jax.profiler.start_trace(str(self.directory))
            self._start_step = step

    def after_chunk(self, step: int) -> None:
        self._chunks_seen += 1
        if self._start_step is not None and step - self._start_step >= self.remaining:
            self.stop(step)

    def stop(self, step: int | None = None) -> None:
        if self._start_step is None:
            return
        jax.profiler.stop_trace()
        end = "" if step is None else f"-{step}"
        self._print_fn(f"profile of steps {self._start_step}{end} written to {self.directory}")
        self._start_step, self.remaining = None, 0
