"""SIGTERM / SIGINT: finish the chunk, checkpoint, exit cleanly; the next run resumes exactly.

Cluster schedulers (and TPU maintenance events) send SIGTERM some seconds before
they kill a job; Ctrl-C sends SIGINT. While the loop runs, both only set a flag:
the loop checks it at every chunk end, handles that chunk end's events as an
uninterrupted run would (so a resumed run makes the same evaluations and
selection decisions), writes a checkpoint at that step and returns. A second
SIGINT interrupts at once, as usual.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

import jax
import numpy as np

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class PreemptionWatcher:
    """A context manager that turns SIGTERM/SIGINT into a flag the loop polls.

    Outside the main thread (where Python cannot install handlers) it watches nothing.
    """

    def __init__(self):
        self._signal: int | None = None
        self._previous: dict[int, object] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self._signal == signal.SIGINT and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: the user means it
        self._signal = signum

    def __enter__(self) -> PreemptionWatcher:
        if threading.current_thread() is threading.main_thread():
            for signum in SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    @property
    def signal_name(self) -> str | None:
        return None if self._signal is None else signal.Signals(self._signal).name

    def requested(self) -> bool:
        """True when any process received a signal (every process must call it at the same step)."""
        local = self._signal is not None
        if jax.process_count() == 1:
            return local
        from jax.experimental import multihost_utils

        return bool(np.any(multihost_utils.process_allgather(np.asarray(local))))
