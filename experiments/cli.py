"""What every experiment binary shares: one-line errors and optional multi-host start-up."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TypeVar

from absl import flags, logging

from genjax.errors import ConfigError, TrainingDivergedError

T = TypeVar("T")

_DISTRIBUTED = flags.DEFINE_bool(
    "jax_distributed", False, "Call jax.distributed.initialize() first (multi-host pods)."
)


def run_or_exit(main: Callable[[], T]) -> T:
    """Runs ``main``; a bad config or a diverged run exits 1 with one line on stderr."""
    if logging.get_verbosity() == logging.INFO:
        # Orbax logs every checkpoint step at INFO; keep the console to genjax's own lines
        # unless the user asks for more with --verbosity.
        logging.set_verbosity(logging.WARNING)
    try:
        if _DISTRIBUTED.value:
            import jax

            jax.distributed.initialize()
        return main()
    except (ConfigError, TrainingDivergedError) as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        sys.exit(1)
