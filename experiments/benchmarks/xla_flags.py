"""XLA:CPU flags study: each flag setting in a fresh subprocess, on the convolutional workloads of issue 18.

From the repository root::

    python -m experiments.benchmarks.xla_flags --rounds=3 --json=experiments/benchmarks/results/xla_flags.json

XLA reads ``XLA_FLAGS`` once, when jax initialises its CPU backend, so every setting runs in its own
Python process (``--worker``) with ``XLA_FLAGS`` set to that setting alone (the caller's
``XLA_FLAGS`` is dropped). Processes run in interleaved rounds (the order rotates per round); the
figure per workload and setting is the median over rounds of each process's median call, and the
speedup of a setting is default / setting, paired within each round. Workloads:

* ``unet_forward``: the digits U-Net (``ddpm.py:linear_digits``, 701,345 parameters) forward at batch 64;
* ``ddpm_chain``: that DDPM's ancestral chain shortened to 50 steps (``model.sample``'s lax.scan),
  per step;
* ``gan_step``: the DCGAN 28x28 train step of ``gan.py:non_saturating_binarized_mnist`` (latent 100,
  64 features, batch 64, as gan_speed's ``mnist28``);
* ``pixelcnn_step``: the PixelCNN train step of ``autoregressive.py:pixelcnn_binarized_mnist`` at
  ar_speed's size (16 features, 2 layers, 32 output features, batch 32).

Numerics: every worker also writes each workload's output (the forward, the chain's samples from a
fixed key, the parameters after one train step); the driver reports the largest absolute gap to the
default setting's outputs, relative to their scale. A setting that XLA rejects is recorded with its
error line. Nothing here decides anything: `genjax.xla_defaults` holds the flags kept, with these
figures as the reason.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from experiments.benchmarks.timing import load_average, run_header

YNN = "--xla_cpu_experimental_ynn_fusion_type"
# name -> XLA_FLAGS. The names are those in jaxlib 0.10.2's libjax_common.so (`strings | grep xla_cpu_`).
SETTINGS = {
    "default": "",
    "ynn_off": f"{YNN}=",
    "ynn_dot_reduce": f"{YNN}=individual_dot,reduce",
    "ynn_dot_only": f"{YNN}=individual_dot",
    "ynn_conv_only": f"{YNN}=individual_convolution",
    "onednn": "--xla_cpu_use_onednn=true",
    "onednn_custom_call": "--xla_cpu_experimental_onednn_custom_call=true",
    "onednn_fusion_dot_conv": (
        "--xla_cpu_experimental_onednn_fusion_type=individual_dot,individual_convolution"
    ),
    "xnn_graph_greedy": "--xla_cpu_experimental_xnn_graph_fusion_mode=XNN_GRAPH_FUSION_MODE_GREEDY",
    "eigen_single_thread": "--xla_cpu_multi_thread_eigen=false",
    "fast_math": "--xla_cpu_enable_fast_math=true",
    "concurrency_scheduler": "--xla_cpu_enable_concurrency_optimized_scheduler=true",
    "thunk_runtime_off": "--xla_cpu_use_thunk_runtime=false",
}
WORKLOADS = ("unet_forward", "ddpm_chain", "gan_step", "pixelcnn_step")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m experiments.benchmarks.xla_flags",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--settings", default=",".join(SETTINGS), help=f"comma list from {list(SETTINGS)}")
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help=f"comma list from {list(WORKLOADS)}")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--calls", type=int, default=15, help="timed calls per workload per process")
    parser.add_argument("--timeout", type=int, default=900, help="seconds allowed per worker process")
    parser.add_argument("--smoke", action="store_true", help="two settings, the forward only, tiny sizes")
    parser.add_argument("--json", default="/tmp/xla_flags.json")
    parser.add_argument("--worker", default="", help=argparse.SUPPRESS)  # internal: out path
    args = parser.parse_args(argv)
    args.settings, args.workloads = args.settings.split(","), args.workloads.split(",")
    if args.smoke:
        args.settings, args.workloads, args.rounds, args.calls = (
            ["default", "ynn_off"],
            ["unet_forward"],
            1,
            2,
        )
    if unknown := [s for s in args.settings if s not in SETTINGS] + [
        w for w in args.workloads if w not in WORKLOADS
    ]:
        parser.error(f"unknown settings/workloads: {unknown}")
    return args


# --- the worker: one XLA_FLAGS setting, every workload ---------------------------------------------


def perturbed(params, scale: float = 0.02):
    """Random but non-trivial parameters: the zero-initialised output layers become non-zero."""
    import jax

    leaves, tree = jax.tree.flatten(params)
    noise = np.random.default_rng(1)
    return jax.tree.unflatten(
        tree, [x + scale * noise.standard_normal(x.shape).astype(x.dtype) for x in leaves]
    )


def ddpm_parts(smoke: bool, num_timesteps: int):
    import jax

    from experiments.configs import ddpm
    from genjax import models
    from genjax.spec import DataSpec

    config = ddpm.get_config("linear_digits")
    config.model.num_timesteps = num_timesteps
    config.eval.bound_timesteps = 0
    if smoke:
        config.model.channels = 8
    model = models.build(config, DataSpec(name="digits", element_shape=(8, 8, 1), num_levels=17))
    params = perturbed(model.init(jax.random.key(0), {"x": np.zeros((2, 8, 8, 1), np.float32)}))
    return config, model, params


def timed(call, calls: int) -> list[float]:
    """Seconds of each of ``calls`` calls (after two untimed ones)."""
    call()
    call()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return times


def unet_forward(args):
    import jax

    from genjax.models.networks.denoiser import make_network

    config, _, params = ddpm_parts(args.smoke, 1000)
    batch = 4 if args.smoke else 64
    net = make_network(config.model, (8, 8, 1))
    player = next(iter(params))
    x = np.random.default_rng(2).standard_normal((batch, 8, 8, 1)).astype(np.float32)
    cond = np.linspace(0.0, 999.0, batch).astype(np.float32)
    forward = jax.jit(net.apply)
    out = np.asarray(forward(params[player], x, cond))
    return timed(lambda: jax.block_until_ready(forward(params[player], x, cond)), args.calls), out, 1


def ddpm_chain(args):
    import jax

    steps = 50
    _, model, params = ddpm_parts(args.smoke, steps)
    sample = jax.jit(model.sample, static_argnums=2)
    batch = 4 if args.smoke else 64
    out = np.asarray(sample(params, jax.random.key(3), batch))
    calls = max(2, args.calls // 5)
    return timed(lambda: jax.block_until_ready(sample(params, jax.random.key(3), batch)), calls), out, steps


def train_step_workload(config, model, data):
    """(one-step runner, parameters after one step from the initial state) of a bundle's real train step."""
    import jax

    from experiments.benchmarks.timing import genjax_runner
    from genjax.optim import make_optimizers
    from genjax.train.step import init_train_state, make_mesh, make_train_step

    optimizers = make_optimizers(config, model.players)
    state = init_train_state(model, optimizers, {"x": data[0]}, seed=0, ema=False)
    step = make_train_step(model, optimizers, config, mesh=make_mesh(1))
    after, _ = step(jax.tree.map(lambda a: a.copy(), state), {"x": data[:1]})
    flat = np.concatenate([np.ravel(a) for a in jax.tree.leaves(after.params)])
    run, _ = genjax_runner(model, optimizers, state, config, {"x": data[:1]})
    return run, flat


def gan_step(args):
    from experiments.configs import gan
    from genjax import models
    from genjax.spec import DataSpec

    size, batch, latent, features = (8, 4, 8, 8) if args.smoke else (28, 64, 100, 64)
    config = gan.get_config("non_saturating_binarized_mnist")
    config.model.update(latent_dim=latent, features=features)
    config.data.batch_size = batch
    model = models.build(
        config, DataSpec(name="binarized_mnist", element_shape=(size, size, 1), num_levels=2)
    )
    data = (np.random.default_rng(0).random((1, batch, size, size, 1)) < 0.15).astype(np.float32)
    run, flat = train_step_workload(config, model, data)
    return [run(1) for _ in range(args.calls)], flat, 1


def pixelcnn_step(args):
    from experiments.configs import autoregressive
    from genjax import models
    from genjax.spec import DataSpec

    size, batch = (6, 4) if args.smoke else (28, 32)
    config = autoregressive.get_config("pixelcnn_binarized_mnist")
    config.model.update(features=16, num_layers=2, output_features=32)
    config.data.batch_size = batch
    model = models.build(
        config, DataSpec(name="binarized_mnist", element_shape=(size, size, 1), num_levels=2)
    )
    data = (np.random.default_rng(0).random((1, batch, size, size, 1)) < 0.15).astype(np.float32)
    run, flat = train_step_workload(config, model, data)
    return [run(1) for _ in range(args.calls)], flat, 1


def worker(args) -> None:
    """Runs every workload under this process's XLA_FLAGS; writes times and outputs next to ``--worker``."""
    result, outputs = {}, {}
    for name in args.workloads:
        times, out, steps = globals()[name](args)
        result[name] = {"median_ms": 1e3 * statistics.median(times) / steps, "steps": steps}
        outputs[name] = out
    np.savez(args.worker + ".npz", **outputs)
    with open(args.worker, "w") as handle:
        json.dump(result, handle)


# --- the driver ----------------------------------------------------------------------------------------


def run_worker(setting: str, args, out: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    if SETTINGS[setting]:
        env["XLA_FLAGS"] = SETTINGS[setting]
    command = [
        sys.executable,
        "-m",
        "experiments.benchmarks.xla_flags",
        "--worker",
        out,
        "--calls",
        str(args.calls),
    ]
    command += ["--workloads", ",".join(args.workloads)] + (["--smoke"] if args.smoke else [])
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=args.timeout)
    if done.returncode:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()] or ["(no stderr)"]
        return {"error": lines[-1][:300]}
    with open(out) as handle:
        return {**json.load(handle), "process_s": time.perf_counter() - start}


def relative_gap(ours: np.ndarray, reference: np.ndarray) -> float:
    return float(np.max(np.abs(ours - reference)) / max(float(np.max(np.abs(reference))), 1e-30))


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    if args.worker:
        worker(args)
        return
    report = {**run_header("xla_flags", "experiments.benchmarks.xla_flags", argv)}
    report["load_average_before"] = load_average()
    report["settings"] = {name: SETTINGS[name] for name in args.settings}
    rows: dict[str, list[dict]] = {name: [] for name in args.settings}
    with tempfile.TemporaryDirectory() as scratch:
        for round_index in range(args.rounds):
            shift = round_index % len(args.settings)
            for setting in args.settings[shift:] + args.settings[:shift]:
                out = os.path.join(scratch, f"{setting}_{round_index}.json")
                rows[setting].append(run_worker(setting, args, out))
                print(round_index, setting, json.dumps(rows[setting][-1]), flush=True)
        reference = os.path.join(scratch, "default_0.json.npz")
        results = {}
        for setting, runs in rows.items():
            ok = [(i, run) for i, run in enumerate(runs) if "error" not in run]
            if not ok:
                results[setting] = {"flags": SETTINGS[setting], "error": runs[0]["error"]}
                continue
            entry = {"flags": SETTINGS[setting], "workloads": {}}
            ours = np.load(os.path.join(scratch, f"{setting}_{ok[0][0]}.json.npz"))
            theirs = np.load(reference) if os.path.exists(reference) else None
            for name in args.workloads:
                ms = [run[name]["median_ms"] for _, run in ok]
                paired = [
                    rows["default"][i][name]["median_ms"] / run[name]["median_ms"]
                    for i, run in ok
                    if "default" in rows and "error" not in rows["default"][i]
                ]
                entry["workloads"][name] = {
                    "median_ms": statistics.median(ms),
                    "rounds_ms": ms,
                    "speedup_vs_default": statistics.median(paired) if paired else None,
                    "max_rel_gap_vs_default": relative_gap(ours[name], theirs[name])
                    if theirs is not None
                    else None,
                }
            results[setting] = entry
    report["results"] = results
    report["load_average_after"] = load_average()
    with open(args.json, "w") as handle:
        json.dump(report, handle, indent=2)
    for setting, entry in results.items():
        cells = entry.get("error") or {
            k: (round(v["median_ms"], 2), v["speedup_vs_default"] and round(v["speedup_vs_default"], 2))
            for k, v in entry["workloads"].items()
        }
        print(f"{setting:24s} {cells}")


if __name__ == "__main__":
    main(sys.argv[1:])
