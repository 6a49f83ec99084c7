"""What every experiment binary shares: one-line errors and optional multi-host start-up."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn, TypeVar

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


def _fail(message: str) -> NoReturn:
    print(f"error: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def parse_flags(argv: list[str]) -> list[str]:
    """absl's flag parsing, with every bad flag reported as one line instead of a traceback.

    Pass as ``app.run(main, flags_parser=parse_flags)``. Catches a missing config
    file, an unknown variant (the config's ``get_config`` raises), an override of
    a field the config does not have, and a value of the wrong type.
    """
    for arg in argv[1:]:
        if arg.startswith("--config="):
            path = arg.split("=", 1)[1].split(":", 1)[0]
            if not Path(path).is_file():
                _fail(f"--config: no config file {path!r}; e.g. --config=experiments/configs/vae.py:digits")
    try:
        return flags.FLAGS(argv)
    except (AttributeError, KeyError) as error:  # an override names a field the config lacks
        field = str(error).strip("\"' ")
        overrides = [a.split("=", 1)[0] for a in argv if a.startswith("--config.") and field in a]
        _fail(f"{overrides[0] if overrides else field}: no such field in the config")
    except flags.Error as error:
        # config_flags puts get_config's traceback first; its last line is the message.
        lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
        _fail(lines[-1] if lines else type(error).__name__)
