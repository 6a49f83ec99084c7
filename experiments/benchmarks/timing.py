"""Shared timing machinery of the speed benchmarks (``vae_speed``, ``flow_speed``).

Contenders are *runners*: ``steps -> seconds`` for that many optimisation steps. They run in
interleaved rounds with a rotating order (the machine may be shared), are summarised by their
median round, and compared round by round (torch time / genjax time within the same round).
genjax never imports torch; only the torch helpers here do, lazily.
"""

from __future__ import annotations

import datetime
import math
import os
import platform
import re
import shlex
import signal
import statistics
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from itertools import cycle
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp

from genjax.train.step import make_mesh, make_train_step

Runner = Callable[[int], float]  # steps -> seconds for that many optimisation steps


def proc_file(path: str) -> str:
    """A /proc file's text; "" off Linux."""
    return Path(path).read_text() if os.path.exists(path) else ""


def load_average() -> str:
    return " ".join(proc_file("/proc/loadavg").split()[:3]) or "unknown"


def best_seconds(call: Callable[[], Any], repeats: int = 3) -> float:
    """Fastest of ``repeats`` timed calls after one warm-up call: the least disturbed by other jobs."""
    call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return min(times)


def spread(values: list[float], unit: str = "") -> dict[str, float]:
    return {f"median{unit}": statistics.median(values), f"min{unit}": min(values), f"max{unit}": max(values)}


def genjax_runner(model, optimizers, state, config, batches) -> tuple[Runner, float | None]:
    """genjax's real jitted train step on ``batches`` (leaves `[K, B, ...]`, K = steps per call).

    Returns (runner, XLA's FLOP count for one call). The K steps run as the loop
    runs them (``train.step_loop``: one ``lax.scan``, or K jitted calls for conv
    nets on CPU); the runner rounds up to whole calls and scales the time back
    to ``steps``.
    """
    steps_per_call = jax.tree.leaves(batches)[0].shape[0]
    train_step = make_train_step(model, optimizers, config, mesh=make_mesh(1))
    batches = jax.device_put(batches)
    if train_step.resolve(state, batches) == "scan":
        compiled = train_step.scanned.lower(state, batches).compile()
        cost = compiled.cost_analysis()
    else:
        compiled = train_step
        cost = train_step.one_step.lower(state, batches, 0).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost  # older jax returns one dict per device
    xla_flops = float(cost["flops"]) if cost and "flops" in cost else None
    if xla_flops is not None and train_step.loop == "host":
        xla_flops *= steps_per_call
    # The step donates its input state: run on a copy and always keep the newest.
    holder = {"state": jax.tree.map(jnp.copy, state)}

    def run(steps: int) -> float:
        calls = math.ceil(steps / steps_per_call)
        jax.block_until_ready(holder["state"])
        start = time.perf_counter()
        for _ in range(calls):
            holder["state"], metrics = compiled(holder["state"], batches)
        # Async dispatch returns at once: the clock stops only when the work is done.
        jax.block_until_ready((holder["state"], metrics))
        return (time.perf_counter() - start) * steps / (calls * steps_per_call)

    run(steps_per_call)  # first execution allocates; keep it out of the rounds
    return run, xla_flops


def torch_compile_warmup(step: Callable[[Any], Any], inputs: Sequence[Any], timeout: int) -> None:
    """Calls a ``torch.compile``d ``step`` on each input (compiling it), or raises TimeoutError."""
    import torch._inductor.config

    # Compile in this process, so an interrupted compile leaves no worker processes behind to
    # steal cores from the timed rounds; SIGALRM interrupts it if it takes too long.
    torch._inductor.config.compile_threads = 1

    def on_alarm(signum, frame):
        raise TimeoutError(f"torch.compile took longer than {timeout} s")

    # The alarm repeats every second: inductor swallows some exceptions, so one may not be enough.
    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout, 1.0)
    try:
        for item in inputs:
            step(item)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def torch_runner(step: Callable[[Any], Any], pool: Iterable[Any]) -> Runner:
    """A runner calling ``step`` on the batches of ``pool`` in turn (after 5 untimed steps)."""
    batches = cycle(pool)

    def run(steps: int) -> float:
        start = time.perf_counter()
        for _ in range(steps):  # CPU kernels run synchronously: no device sync needed
            step(next(batches))
        return time.perf_counter() - start

    run(5)
    return run


def torch_adam_runner(
    loss_fn: Callable[[Any], Any],
    parameters: Sequence[Any],
    pool: Sequence[Any],
    *,
    learning_rate: float,
    fused: bool,
    compiled: bool,
    timeout: int,
    clip: float = 0.0,
) -> Runner:
    """The standard torch training loop as a runner: zero grads, ``loss_fn(x).backward()``, optional
    norm clipping, an Adam step; ``torch.compile``d (and warmed up) when ``compiled``."""
    import torch

    optimizer = torch.optim.Adam(parameters, lr=learning_rate, fused=fused)

    def train_step(x):
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(x)
        loss.backward()
        if clip:
            torch.nn.utils.clip_grad_norm_(parameters, clip)
        optimizer.step()
        return loss

    step = torch.compile(train_step) if compiled else train_step
    if compiled:
        torch_compile_warmup(step, pool[:3], timeout)
    return torch_runner(step, pool)


def unavailable(error: Exception) -> dict[str, str]:
    """The contender entry of a failed setup (e.g. torch.compile): its first error line."""
    reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
    return {"unavailable": f"unavailable: {type(error).__name__}: {reason}"}


def interleaved_rounds(runners: dict[str, Runner], rounds: int, steps: int) -> dict[str, list[float]]:
    """Seconds per step of each runner in each round; the order rotates from round to round."""
    names = list(runners)
    per_round: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(rounds):
        # Rotate the order so no contender always runs first (or right after another's cache traffic).
        for name in names[round_index % len(names) :] + names[: round_index % len(names)]:
            per_round[name].append(runners[name](steps) / steps)
    return per_round


def summarise(per_round: dict[str, list[float]], contenders: dict[str, dict[str, Any]]) -> None:
    """Adds each runner's ms/step spread, rounds and steps/s to its entry in ``contenders``."""
    for name, seconds in per_round.items():
        ms = [1e3 * s for s in seconds]
        contenders.setdefault(name, {}).update(
            spread(ms, "_ms"), rounds_ms=ms, steps_per_s=1e3 / statistics.median(ms)
        )


def paired_ratios(
    per_round: dict[str, list[float]], genjax_names: Sequence[str], torch_names: Sequence[str]
) -> dict[str, dict[str, float]]:
    """torch time / genjax time (= genjax speed / torch speed), paired within each round."""
    ratios = {}
    for genjax_name in genjax_names:
        for torch_name in torch_names:
            if torch_name in per_round:
                paired = [t / g for g, t in zip(per_round[genjax_name], per_round[torch_name], strict=True)]
                ratios[f"{genjax_name} vs {torch_name}"] = {
                    **spread(paired),
                    # Fastest round against fastest round: the quiet-machine estimate.
                    "best_vs_best": min(per_round[torch_name]) / min(per_round[genjax_name]),
                }
    return ratios


def run_header(benchmark: str, module: str, argv: list[str]) -> dict[str, Any]:
    """Date, the command, git commit and machine: what every results JSON starts with."""
    return {
        "benchmark": benchmark,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": shlex.join(["python", "-m", module, *argv]),
        # The commit ("-dirty" when files differ), so figures can be traced to code.
        "git": subprocess.run(
            ["git", "describe", "--always", "--dirty"], capture_output=True, text=True
        ).stdout.strip(),
        "machine": {
            "platform": platform.platform(),
            "cores": os.cpu_count(),
            "cpu_model": (re.findall(r"model name\s*: (.*)", proc_file("/proc/cpuinfo")) or ["unknown"])[0],
        },
    }


def run_cases(
    benchmark: str,
    argv: list[str],
    cases: Sequence[str],
    run_case: Callable[[str], dict],
    json_path: str,
    *,
    digits: int,
) -> dict[str, Any]:
    """Runs each case, writes the report (header, load averages, cases) to ``json_path``, prints medians."""
    import json

    report = {**run_header(benchmark, f"experiments.benchmarks.{benchmark}", argv)}
    report["load_average_before"] = load_average()
    report["cases"] = {case: run_case(case) for case in cases}
    report["load_average_after"] = load_average()
    with open(json_path, "w") as handle:
        json.dump(report, handle, indent=2)
    for case, result in report["cases"].items():
        medians = {
            k: round(v.get("median_ms", float("nan")), digits) for k, v in result["contenders"].items()
        }
        print(case, json.dumps(medians), json.dumps(result["speedup_genjax_over_torch"]))
    return report
