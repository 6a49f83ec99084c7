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
    "jax_distributed",
    False,
    "Join a multi-process run through jax.distributed.initialize() before anything else. "
    "On TPU pods and SLURM / Open MPI clusters the three settings below are auto-detected "
    "when omitted; elsewhere give all three. See docs/multi_host.md.",
)
_COORDINATOR_ADDRESS = flags.DEFINE_string(
    "coordinator_address",
    None,
    "host:port of process 0, which runs the coordinator (default $GENJAX_COORDINATOR_ADDRESS, "
    "else auto-detected). Needs --jax_distributed.",
)
_NUM_PROCESSES = flags.DEFINE_integer(
    "num_processes",
    None,
    "How many processes take part (default $GENJAX_NUM_PROCESSES, else auto-detected). "
    "Needs --jax_distributed.",
)
_PROCESS_ID = flags.DEFINE_integer(
    "process_id",
    None,
    "This process's index, 0 to num_processes - 1 (default $GENJAX_PROCESS_ID, else "
    "auto-detected). Needs --jax_distributed.",
)
_COORDINATOR_TIMEOUT_S = flags.DEFINE_integer(
    "coordinator_timeout_s",
    None,
    "Seconds to wait for the coordinator and every process before exiting 1 with one line "
    "(default $GENJAX_COORDINATOR_TIMEOUT_S, else 120).",
)
_DISTRIBUTED_FLAGS = (_COORDINATOR_ADDRESS, _NUM_PROCESSES, _PROCESS_ID, _COORDINATOR_TIMEOUT_S)


def _start_distributed() -> None:
    """Calls `genjax.train.distributed.initialize` when --jax_distributed asks for it."""
    if not _DISTRIBUTED.value:
        given = [f"--{flag.name}" for flag in _DISTRIBUTED_FLAGS if flag.present]
        if given:
            raise ConfigError(f"{given[0]}: only used with --jax_distributed; add it or drop {given[0]}")
        return
    from genjax.train import distributed

    distributed.initialize(
        coordinator_address=_COORDINATOR_ADDRESS.value,
        num_processes=_NUM_PROCESSES.value,
        process_id=_PROCESS_ID.value,
        timeout_s=_COORDINATOR_TIMEOUT_S.value,
    )


def run_or_exit(main: Callable[[], T]) -> T:
    """Runs ``main``; a bad config or a diverged run exits 1 with one line on stderr.

    With --jax_distributed it first joins the multi-process run (`genjax.train.distributed`),
    before anything touches a JAX backend.
    """
    if logging.get_verbosity() == logging.INFO:
        # Orbax logs every checkpoint step at INFO; keep the console to genjax's own lines
        # unless the user asks for more with --verbosity.
        logging.set_verbosity(logging.WARNING)
    try:
        _start_distributed()
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
