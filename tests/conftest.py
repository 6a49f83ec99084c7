"""Shared test fixtures: the repo root and a subprocess runner for the binaries."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def run_module(module: str, *args: str, timeout: float = 300, env: dict | None = None):
    """Runs ``python -m module args`` from the repo root on one CPU device."""
    full_env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(REPO)}
    full_env.pop("XLA_FLAGS", None)  # one device unless the caller asks for more
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=REPO,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def run():
    return run_module
