"""Shared test fixtures: the repo root and a subprocess runner for the binaries."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# JAX's persistent compilation cache, shared by the xdist workers and the binaries' subprocesses
# of a run and kept between runs: many tests compile the same smoke models. Set before anything
# imports jax (it reads these at import); GENJAX_TEST_CACHE=off turns it off, another value moves it.
# Every program is cached, however quick its compile: the suite compiles thousands of small ones
# (eager ops, metric helpers), and on tests/models/flow's coupling and planar tests a warm cache
# with no threshold took 18.5 s of CPU against 23.2 s with a 0.2 s threshold. No size bound: jax's
# LRU eviction keeps access-time files that concurrent workers race on (FileNotFoundError warnings),
# and the whole cache stays in the hundreds of MB.
_CACHE = os.environ.get("GENJAX_TEST_CACHE", str(Path.home() / ".cache" / "genjax" / "jax_tests"))
if _CACHE != "off":
    os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", _CACHE)
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")


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
