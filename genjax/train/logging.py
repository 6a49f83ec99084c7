"""Metrics logging: a JSON-lines file, TensorBoard events and a progress line.

``metrics.jsonl`` is the source of truth (evaluate scripts and tests read it
with :func:`read_metrics`); TensorBoard event files mirror it for browsing.
Events are written with ``tensorboardX``, a pure-Python writer: clu's writers
import TensorFlow, which genjax never needs.

This module deliberately does not import JAX. Callers pass ``enabled=False``
on every process except ``jax.process_index() == 0`` so multi-host runs write
one copy of each file.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # Never imported at runtime, so Python 3.10 is fine.
    from typing import Self

METRICS_FILENAME = "metrics.jsonl"
TENSORBOARD_DIRNAME = "tensorboard"
_RESERVED_KEYS = ("step", "split")
# JSON has no NaN/Infinity; these strings keep the file valid and lossless.
_NON_FINITE_TO_STR = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def _to_float(name: str, value: Any) -> float:
    """Python float from a float, NumPy or JAX scalar (or size-1 array)."""
    try:
        return float(np.asarray(value).reshape(()))
    except (TypeError, ValueError):
        raise TypeError(
            f"Metric {name!r} must be a scalar number, got {type(value).__name__}"
            f" with shape {np.shape(value)}."
        ) from None


def _encode(value: float) -> float | str:
    if math.isfinite(value):
        return value
    return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")


def _decode(value: Any) -> Any:
    if isinstance(value, str) and value in _NON_FINITE_TO_STR:
        return _NON_FINITE_TO_STR[value]
    return value


def _parse_lines(text: str, path: Path) -> list[dict[str, Any]]:
    """Parses JSON lines, ignoring only a torn final line (a crash mid-write)."""
    lines = text.splitlines()
    records = []
    for index, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            is_torn_tail = index == len(lines) - 1 and not text.endswith("\n")
            if is_torn_tail:
                break
            raise ValueError(f"{path}:{index + 1} is not valid JSON: {line!r}") from None
        records.append({key: _decode(value) for key, value in record.items()})
    return records


def read_metrics(workdir: str | os.PathLike) -> list[dict[str, Any]]:
    """Reads ``workdir/metrics.jsonl`` back, in the order it was written.

    Each record is ``{"step": int, "split": str, **scalars}``; non-finite
    values come back as ``float("nan")`` / ``float("inf")``. A missing file
    reads as an empty list.
    """
    path = Path(workdir) / METRICS_FILENAME
    if not path.exists():
        return []
    return _parse_lines(path.read_text(encoding="utf-8"), path)


class MetricsWriter:
    """Writes scalars to ``metrics.jsonl`` and to TensorBoard, images to TensorBoard.

    Args:
      workdir: run directory; created if missing.
      enabled: False on non-zero JAX processes; every method is then a no-op
        and nothing is created on disk.
      resume_step: the step a resumed run restored from. Lines and events with
        a larger step, written by the previous run after its last checkpoint,
        are dropped so the logs read like one uninterrupted run.
    """

    def __init__(
        self,
        workdir: str | os.PathLike,
        *,
        enabled: bool = True,
        resume_step: int | None = None,
    ) -> None:
        self._enabled = enabled
        self._metrics_file = None
        self._tensorboard = None
        if not enabled:
            return
        workdir = Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        self._metrics_path = workdir / METRICS_FILENAME
        self._rewrite_existing(resume_step)
        self._metrics_file = open(self._metrics_path, "a", encoding="utf-8")  # noqa: SIM115

        from tensorboardX import SummaryWriter  # Lazy: only process 0 pays for it.

        self._tensorboard = SummaryWriter(
            logdir=str(workdir / TENSORBOARD_DIRNAME),
            # tensorboardX names files by the second and opens them with "wb", so
            # a resume within the same second would overwrite the first file.
            filename_suffix=f".{uuid.uuid4().hex[:8]}",
            # TensorBoard hides older events at steps >= purge_step.
            purge_step=None if resume_step is None else resume_step + 1,
            flush_secs=10,
        )

    def _rewrite_existing(self, resume_step: int | None) -> None:
        """Drops a torn last line, and lines after ``resume_step``, atomically."""
        if not self._metrics_path.exists():
            return
        text = self._metrics_path.read_text(encoding="utf-8")
        if resume_step is None and (not text or text.endswith("\n")):
            return  # Nothing to repair: appending is safe.
        records = _parse_lines(text, self._metrics_path)
        if resume_step is not None:
            records = [r for r in records if r["step"] <= resume_step]
        tmp_path = self._metrics_path.with_suffix(".jsonl.tmp")
        with open(tmp_path, "w", encoding="utf-8") as tmp_file:
            tmp_file.writelines(_dumps(r) + "\n" for r in records)
        os.replace(tmp_path, self._metrics_path)

    def write_scalars(self, step: int, scalars: Mapping[str, Any], *, split: str = "train") -> None:
        """Appends ``{"step": step, "split": split, **scalars}`` and logs each
        scalar to TensorBoard as ``f"{split}/{name}"``.

        Values may be Python, NumPy or JAX scalars; converting a JAX array
        waits for the computation that produces it.
        """
        if not self._enabled:
            return
        clashes = [key for key in _RESERVED_KEYS if key in scalars]
        if clashes:
            raise ValueError(f"Metric names {clashes} are reserved in metrics.jsonl.")
        values = {name: _to_float(name, value) for name, value in scalars.items()}
        record = {"step": int(step), "split": split, **values}
        self._metrics_file.write(_dumps(record) + "\n")
        # Flushed every call so a crash loses nothing and readers see progress.
        self._metrics_file.flush()
        for name, value in values.items():
            self._tensorboard.add_scalar(f"{split}/{name}", value, int(step))

    def write_image(self, step: int, name: str, image: np.ndarray) -> None:
        """Logs one image to TensorBoard.

        Args:
          image: [H, W, C] uint8 (or float in [0, 1]), C in {1, 3, 4}.
        """
        if not self._enabled:
            return
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[-1] not in (1, 3, 4):
            raise ValueError(f"Image {name!r} must be [H, W, C] with C in 1, 3, 4; got {image.shape}.")
        self._tensorboard.add_image(name, image, int(step), dataformats="HWC")

    def flush(self) -> None:
        """Flushes both outputs.

        tensorboardX writes events from a background thread, so events queued
        just before this call may land a moment later; :meth:`close` waits.
        """
        if not self._enabled:
            return
        self._metrics_file.flush()
        self._tensorboard.flush()

    def close(self) -> None:
        """Writes everything out and closes the files; safe to call twice."""
        if self._metrics_file is not None:
            self._metrics_file.close()
            self._metrics_file = None
        if self._tensorboard is not None:
            self._tensorboard.close()
            self._tensorboard = None
        self._enabled = False

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _dumps(record: Mapping[str, Any]) -> str:
    encoded = {key: _encode(v) if isinstance(v, float) else v for key, v in record.items()}
    return json.dumps(encoded, allow_nan=False)


class ProgressLogger:
    """Prints one progress line per :meth:`update`, e.g.

    ``step 1200/5000 (24.0%) | loss 93.412 | kl 21.3 | 812.4 steps/s | ETA 0:00:04``

    Throughput is measured over the interval since the previous update (or
    since construction), so the first line includes compilation time.
    """

    def __init__(
        self,
        *,
        total_steps: int,
        start_step: int,
        print_fn: Callable[[str], Any] = print,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._total_steps = total_steps
        self._print_fn = print_fn
        self._clock = clock
        self._last_step = start_step
        self._last_time = clock()

    def update(self, step: int, scalars: Mapping[str, Any]) -> str:
        """Prints and returns the progress line for ``step``."""
        now = self._clock()
        steps_done = step - self._last_step
        elapsed = now - self._last_time
        self._last_step, self._last_time = step, now

        percent = 100.0 * step / self._total_steps if self._total_steps else 100.0
        parts = [f"step {step}/{self._total_steps} ({percent:.1f}%)"]
        parts += [f"{name} {_to_float(name, value):.5g}" for name, value in scalars.items()]
        if steps_done > 0 and elapsed > 0:
            rate = steps_done / elapsed
            remaining = max(self._total_steps - step, 0) / rate
            parts.append(f"{rate:.1f} steps/s" if rate >= 1 else f"{rate:.3g} steps/s")
            parts.append(f"ETA {datetime.timedelta(seconds=round(remaining))}")
        else:
            parts += ["- steps/s", "ETA ?"]
        line = " | ".join(parts)
        self._print_fn(line)
        return line
