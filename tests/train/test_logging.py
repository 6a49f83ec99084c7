"""Tests for genjax.train.logging: metrics.jsonl, TensorBoard events, progress line."""

from __future__ import annotations

import io
import json
import math
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genjax.train.logging import MetricsWriter, ProgressLogger, read_metrics


def _crc32c(data: bytes) -> int:
    """Bitwise CRC-32C (Castagnoli), written here so the check is independent
    of the writer's own implementation."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def _masked_crc(data: bytes) -> int:
    # TFRecord masks CRCs so a CRC of data containing CRCs stays well-behaved.
    crc = _crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _read_events(logdir: Path) -> list:
    """Every Event in every event file under ``logdir``, CRC-checked.

    TFRecord framing: uint64 length, uint32 masked crc(length), data,
    uint32 masked crc(data), all little-endian.
    """
    from tensorboardX.proto import event_pb2

    events = []
    for path in sorted(logdir.glob("events.out.tfevents.*")):
        blob = path.read_bytes()
        offset = 0
        while offset < len(blob):
            header = blob[offset : offset + 8]
            (length,) = struct.unpack("<Q", header)
            (length_crc,) = struct.unpack("<I", blob[offset + 8 : offset + 12])
            assert length_crc == _masked_crc(header)
            data = blob[offset + 12 : offset + 12 + length]
            (data_crc,) = struct.unpack("<I", blob[offset + 12 + length : offset + 16 + length])
            assert data_crc == _masked_crc(data)
            events.append(event_pb2.Event.FromString(data))
            offset += 16 + length
    return events


def _scalars(events: list) -> dict[str, list[tuple[int, float]]]:
    found: dict[str, list[tuple[int, float]]] = {}
    for event in events:
        for value in event.summary.value:
            if value.HasField("simple_value"):
                found.setdefault(value.tag, []).append((event.step, value.simple_value))
    return found


def test_crc32c_reference_vector():
    # The standard CRC-32C check value, so a wrong CRC cannot validate files.
    assert _crc32c(b"123456789") == 0xE3069283


def test_metrics_round_trip(tmp_path):
    with MetricsWriter(tmp_path) as writer:
        writer.write_scalars(1, {"loss": 2.5, "kl": np.float32(0.25)})
        writer.write_scalars(2, {"loss": np.asarray(1.5)})
        writer.write_scalars(2, {"nll": 3.0}, split="eval")
    records = read_metrics(tmp_path)
    assert records == [
        {"step": 1, "split": "train", "loss": 2.5, "kl": 0.25},
        {"step": 2, "split": "train", "loss": 1.5},
        {"step": 2, "split": "eval", "nll": 3.0},
    ]
    assert all(type(r["loss"]) is float for r in records if "loss" in r)
    assert read_metrics(tmp_path / "missing") == []


def test_metrics_visible_before_close(tmp_path):
    writer = MetricsWriter(tmp_path)
    writer.write_scalars(7, {"loss": 1.0})
    # Flushed per call: a crashed run still leaves every line it wrote.
    assert read_metrics(tmp_path) == [{"step": 7, "split": "train", "loss": 1.0}]
    writer.close()
    writer.close()  # Idempotent.


def test_non_finite_values_keep_json_valid(tmp_path):
    with MetricsWriter(tmp_path) as writer:
        writer.write_scalars(3, {"a": math.nan, "b": math.inf, "c": -math.inf})

    def reject(constant):
        raise AssertionError(f"non-standard JSON constant {constant}")

    for line in (tmp_path / "metrics.jsonl").read_text().splitlines():
        json.loads(line, parse_constant=reject)  # Strict JSON, no NaN/Infinity.
    (record,) = read_metrics(tmp_path)
    assert math.isnan(record["a"])
    assert record["b"] == math.inf and record["c"] == -math.inf


def test_bad_metric_values_are_rejected(tmp_path):
    with MetricsWriter(tmp_path) as writer:
        with pytest.raises(ValueError, match="reserved"):
            writer.write_scalars(1, {"step": 1.0})
        with pytest.raises(TypeError, match="'vec' must be a scalar"):
            writer.write_scalars(1, {"vec": np.ones(3)})


def test_tensorboard_scalars_and_image(tmp_path):
    image = np.zeros((4, 5, 3), np.uint8)
    image[1, 2] = (255, 0, 0)
    with MetricsWriter(tmp_path) as writer:
        writer.write_scalars(10, {"loss": 0.5, "kl": 1.25})
        writer.write_scalars(20, {"loss": math.nan})
        writer.write_scalars(20, {"nll": 7.0}, split="eval")
        writer.write_image(20, "samples", image)

    events = _read_events(tmp_path / "tensorboard")
    assert events[0].file_version == "brain.Event:2"
    scalars = _scalars(events)
    assert scalars["train/loss"][0] == (10, 0.5)
    assert scalars["train/loss"][1][0] == 20 and math.isnan(scalars["train/loss"][1][1])
    assert scalars["train/kl"] == [(10, 1.25)]
    assert scalars["eval/nll"] == [(20, 7.0)]

    (encoded,) = [
        value.image.encoded_image_string
        for event in events
        for value in event.summary.value
        if value.tag == "samples"
    ]
    decoded = np.asarray(Image.open(io.BytesIO(encoded)).convert("RGB"))
    np.testing.assert_array_equal(decoded, image)


def test_resume_drops_lines_after_restored_step(tmp_path):
    with MetricsWriter(tmp_path) as writer:
        for step in range(1, 6):
            writer.write_scalars(step, {"loss": float(step)})
    # The previous run crashed mid-line after step 5.
    with open(tmp_path / "metrics.jsonl", "a") as file:
        file.write('{"step": 6, "spl')
    with MetricsWriter(tmp_path, resume_step=3) as writer:
        writer.write_scalars(4, {"loss": 40.0})
    assert [(r["step"], r["loss"]) for r in read_metrics(tmp_path)] == [
        (1, 1.0),
        (2, 2.0),
        (3, 3.0),
        (4, 40.0),
    ]
    # One event file per writer: the second must not overwrite the first.
    assert len(list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))) == 2


def test_torn_last_line_is_repaired_without_resume_step(tmp_path):
    (tmp_path / "metrics.jsonl").write_text('{"step": 1, "split": "train"}\n{"st')
    assert read_metrics(tmp_path) == [{"step": 1, "split": "train"}]
    with MetricsWriter(tmp_path) as writer:
        writer.write_scalars(2, {"loss": 1.0})
    assert [r["step"] for r in read_metrics(tmp_path)] == [1, 2]


def test_corrupt_interior_line_raises(tmp_path):
    (tmp_path / "metrics.jsonl").write_text('{"st\n{"step": 1, "split": "train"}\n')
    with pytest.raises(ValueError, match="metrics.jsonl:1"):
        read_metrics(tmp_path)


def test_disabled_writer_writes_nothing(tmp_path):
    workdir = tmp_path / "run"
    with MetricsWriter(workdir, enabled=False) as writer:
        writer.write_scalars(1, {"loss": 1.0})
        writer.write_image(1, "samples", np.zeros((2, 2, 1), np.uint8))
        writer.flush()
    assert not workdir.exists()


@pytest.mark.subprocess
@pytest.mark.slow
def test_no_tensorflow_import():
    code = (
        "import sys, genjax.train.logging as m, tempfile;"
        "m.MetricsWriter(tempfile.mkdtemp()).close();"
        "print('tensorflow' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


class _FakeClock:
    def __init__(self, times):
        self._times = iter(times)

    def __call__(self) -> float:
        return next(self._times)


def test_progress_line_has_rate_and_eta():
    printed = []
    progress = ProgressLogger(
        total_steps=5000,
        start_step=1000,
        print_fn=printed.append,
        clock=_FakeClock([10.0, 12.0, 13.0]),
    )
    line = progress.update(1200, {"loss": 93.41234, "kl": 21.3})
    # 200 steps in 2 s; 3800 steps left at 100 steps/s.
    assert line == ("step 1200/5000 (24.0%) | loss 93.412 | kl 21.3 | 100.0 steps/s | ETA 0:00:38")
    assert printed == [line]
    # The rate covers only the interval since the previous update.
    line = progress.update(1700, {})
    assert line == "step 1700/5000 (34.0%) | 500.0 steps/s | ETA 0:00:07"


def test_progress_line_without_progress():
    progress = ProgressLogger(total_steps=10, start_step=5, print_fn=lambda _: None, clock=_FakeClock([0, 1]))
    assert progress.update(5, {}) == "step 5/10 (50.0%) | - steps/s | ETA ?"
