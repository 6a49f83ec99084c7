"""Writing a benchmark's JSON report (shared by the quality benchmarks)."""

from __future__ import annotations

import json
from pathlib import Path


def write_json(path: str | None, report: dict) -> None:
    """Writes ``report`` as indented JSON to ``path`` (creating its folder); None writes nothing."""
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(report, indent=2) + "\n")
