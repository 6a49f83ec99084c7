"""Multi-process start-up on JAX's own distributed runtime (`jax.distributed`).

Every process of a multi-host run calls `initialize` once, before any other JAX
call. The three settings come from the arguments, else from the environment
variables below, else (when all are left unset) from JAX's cluster
auto-detection, which knows TPU pods, SLURM and Open MPI::

    GENJAX_COORDINATOR_ADDRESS   host:port of process 0's coordinator service
    GENJAX_NUM_PROCESSES         how many processes take part (>= 1)
    GENJAX_PROCESS_ID            this process's index in [0, num_processes)
    GENJAX_COORDINATOR_TIMEOUT_S seconds to wait for every process to connect

A coordinator nobody can reach raises `ConfigError` after ``timeout_s`` seconds
instead of hanging; the experiment binaries print it as one line and exit 1.
"""

from __future__ import annotations

import errno
import os
import socket
import sys
import threading
from collections.abc import Mapping

from genjax.errors import ConfigError

ENV_COORDINATOR_ADDRESS = "GENJAX_COORDINATOR_ADDRESS"
ENV_NUM_PROCESSES = "GENJAX_NUM_PROCESSES"
ENV_PROCESS_ID = "GENJAX_PROCESS_ID"
ENV_TIMEOUT_S = "GENJAX_COORDINATOR_TIMEOUT_S"

# Long enough for the workers of a pod, started by one ssh or srun, to come up;
# short enough that a wrong address is reported within two minutes.
DEFAULT_TIMEOUT_S = 120
_JAX_GRACE_S = 10


def _env_int(environ: Mapping[str, str], name: str, flag: str) -> int | None:
    raw = environ.get(name, "").strip()
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{flag} (from ${name}): expected an integer, got {raw!r}") from None


def resolve_settings(
    *,
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    timeout_s: int | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict:
    """The keyword arguments for `jax.distributed.initialize`, validated; pure.

    Arguments win over the ``GENJAX_*`` environment variables. Settings left
    ``None`` are passed as ``None``, so JAX auto-detects them (TPU pods, SLURM,
    Open MPI). Raises `ConfigError` with one line naming the flag.
    """
    environ = os.environ if environ is None else environ
    if coordinator_address is None:
        coordinator_address = environ.get(ENV_COORDINATOR_ADDRESS, "").strip() or None
    if num_processes is None:
        num_processes = _env_int(environ, ENV_NUM_PROCESSES, "--num_processes")
    if process_id is None:
        process_id = _env_int(environ, ENV_PROCESS_ID, "--process_id")
    if timeout_s is None:
        timeout_s = _env_int(environ, ENV_TIMEOUT_S, "--coordinator_timeout_s") or DEFAULT_TIMEOUT_S

    if coordinator_address is not None:
        host, sep, port = coordinator_address.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(
                f"--coordinator_address: expected host:port (e.g. 10.0.0.1:1234), got {coordinator_address!r}"
            )
    if num_processes is not None and num_processes < 1:
        raise ConfigError(f"--num_processes: must be at least 1, got {num_processes}")
    if process_id is not None:
        if process_id < 0:
            raise ConfigError(f"--process_id: must be non-negative, got {process_id}")
        if num_processes is not None and process_id >= num_processes:
            raise ConfigError(
                f"--process_id: must be below --num_processes={num_processes}, got {process_id}"
            )
    if timeout_s < 1:
        raise ConfigError(f"--coordinator_timeout_s: must be at least 1 second, got {timeout_s}")
    return {
        "coordinator_address": coordinator_address,
        "num_processes": num_processes,
        "process_id": process_id,
        "initialization_timeout": int(timeout_s),
    }


def _answers(address: str, *, timeout_s: float = 1.0) -> bool:
    """Whether something accepts a TCP connection at ``host:port`` now."""
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
            return True
    except OSError:
        return False


def _check_port_free(address: str) -> None:
    """Process 0 runs the coordinator on the address's port; fail early if another program has it."""
    port = int(address.rpartition(":")[2])
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a TIME_WAIT socket is no owner
        try:
            probe.bind(("", port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise ConfigError(
                    f"--coordinator_address: port {port} is already in use on this host (process 0 "
                    "runs the coordinator there); pick a free port"
                ) from None


def _timeout_message(settings: dict) -> str:
    address, timeout_s = settings["coordinator_address"], settings["initialization_timeout"]
    count = settings["num_processes"] or "all"
    if address is None:
        return (
            f"--coordinator_address: the auto-detected run did not start within {timeout_s} s; "
            f"not all {count} processes joined"
        )
    if not _answers(address):
        return (
            f"--coordinator_address: nothing answers at {address} after {timeout_s} s; start process 0 "
            "(it runs the coordinator) on that host, or fix the address"
        )
    return (
        f"--coordinator_address: the coordinator at {address} answers, but not all {count} processes "
        f"joined within {timeout_s} s; start every process with the same address and --num_processes"
    )


def initialize(
    *,
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    timeout_s: int | None = None,
) -> None:
    """Joins this process to the multi-process run; call before any other JAX call.

    Settings resolve as in `resolve_settings`. Bad settings, and errors JAX
    raises, become a `ConfigError` naming the flag. If the coordinator and
    every other process have not all connected within ``timeout_s`` seconds
    (default ``$GENJAX_COORDINATOR_TIMEOUT_S`` or 120), this prints one
    ``error: --coordinator_address: ...`` line to stderr and ends the process
    with exit status 1: JAX's own timeout would abort it with a native stack
    trace, and the blocked call cannot be interrupted to raise instead. Nothing
    has been written at that point.
    """
    import jax

    settings = resolve_settings(
        coordinator_address=coordinator_address,
        num_processes=num_processes,
        process_id=process_id,
        timeout_s=timeout_s,
    )
    if settings["process_id"] == 0 and settings["coordinator_address"] is not None:
        _check_port_free(settings["coordinator_address"])

    def give_up() -> None:
        print(f"error: {_timeout_message(settings)}", file=sys.stderr, flush=True)
        os._exit(1)

    watchdog = threading.Timer(settings["initialization_timeout"], give_up)
    watchdog.daemon = True
    watchdog.start()
    try:
        # JAX's deadline comes after the watchdog's, so the one-line exit wins the race.
        jax.distributed.initialize(
            **{**settings, "initialization_timeout": settings["initialization_timeout"] + _JAX_GRACE_S}
        )
    except Exception as error:  # JAX raises ValueError, RuntimeError or JaxRuntimeError
        text = " ".join(str(error).split())
        if "should only be called once" in text or "must be called before" in text:
            raise
        for name, needle, env in (
            ("coordinator_address", "coordinator_address", ENV_COORDINATOR_ADDRESS),
            ("num_processes", "Number of processes", ENV_NUM_PROCESSES),
            ("process_id", "process id", ENV_PROCESS_ID),
        ):
            if settings[name] is None and needle in text:
                raise ConfigError(
                    f"--{name}: not set and not auto-detected (no TPU pod, SLURM or Open MPI found); "
                    f"pass it or set ${env}"
                ) from None
        address = settings["coordinator_address"] or "the auto-detected address"
        raise ConfigError(
            f"--coordinator_address: could not start the run at {address}: {text[:200]}"
        ) from None
    finally:
        watchdog.cancel()
