"""Convolution throughput: lax's default convolutions against genjax's, in GFLOP/s and against matmul.

Full run (the BENCHMARKS.md table), from the repository root::

    python -m experiments.benchmarks.conv_speed --json=experiments/benchmarks/results/conv_speed.json

For each convolution shape the conv models use (DCGAN 28x28 generator and critic at batch 64,
the digits U-Net's 3x3 convolutions at batch 64, PixelCNN's dense 7x7 and 3x3 at 28x28 batch 32),
three programs per contender:

* ``fwd``: the convolution;
* ``fwdbwd``: value and gradients with respect to the input and the kernel;
* ``scan``: ``fwdbwd`` as the body of a ``lax.scan`` of ``--scan_length`` steps (each step moves
  input and kernel by their gradients, so nothing is hoisted), time per step: where XLA:CPU
  runs non-NHWC/HWIO convolutions without canonicalising them.

Contenders: ``lax`` (``lax.conv_general_dilated`` / ``lax.conv_transpose`` / repeat-then-conv with
JAX's own derivatives) and ``genjax`` (`genjax.models.networks.convolution`); with
``--weight_gradients`` also one genjax contender per weight-gradient form. A 1024^3 float32
``jnp.dot`` runs in the same interleaved rounds: its GFLOP/s is the machine's large-matmul rate.
GFLOP/s counts 2 x the multiply-adds the layer needs (transposed convolutions: input pixels x
taps; nearest-x2 + 3x3: the phase form's 2x2 taps per output pixel), x3 with both gradients.

``--train_steps=dcgan_mnist28,vae_conv_digits,...`` times whole conv-family train steps instead:
K = ``--steps_per_call`` steps per call with ``train.step_loop`` = ``host`` (K jitted calls) and
``scan`` (one ``lax.scan``), each with the previous convolutions (``convolution.FORM = "lax"``)
and genjax's, interleaved: does a fused K-step scan still lose to K calls?
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from experiments.benchmarks.timing import genjax_runner, interleaved_rounds, load_average, run_header
from genjax import data as genjax_data
from genjax import models
from genjax.models.networks import convolution
from genjax.optim import make_optimizers
from genjax.spec import DataSpec
from genjax.train.step import init_train_state

DN = ("NHWC", "HWIO", "NHWC")

# name -> (kind, batch, H (= W) of the input, C_in, C_out, kernel, stride, padding)
CASES = {
    "dcgan_gen_convT_7to14": ("transpose", 64, 7, 128, 64, 4, 2, "SAME"),
    "dcgan_gen_convT_14to28": ("transpose", 64, 14, 64, 1, 4, 2, "SAME"),
    "dcgan_disc_conv_28to14": ("conv", 64, 28, 1, 64, 4, 2, "SAME"),
    "dcgan_disc_conv_14to7": ("conv", 64, 14, 64, 128, 4, 2, "SAME"),
    "unet_conv3x3_8x8_32": ("conv", 64, 8, 32, 32, 3, 1, ((1, 1), (1, 1))),
    "unet_conv3x3_8x8_96to32": ("conv", 64, 8, 96, 32, 3, 1, ((1, 1), (1, 1))),
    "unet_conv3x3_4x4_64": ("conv", 64, 4, 64, 64, 3, 1, ((1, 1), (1, 1))),
    "unet_down_8to4_32": ("conv", 64, 8, 32, 32, 3, 2, ((1, 1), (1, 1))),
    "unet_upsample_4to8_64": ("upsample", 64, 4, 64, 64, 3, 1, None),
    "pixelcnn_7x7_1to32": ("conv", 32, 28, 1, 32, 7, 1, "SAME"),
    "pixelcnn_3x3_16": ("conv", 32, 28, 16, 16, 3, 1, "SAME"),
}


def _lax_function(kind: str, stride: int, padding):
    if kind == "conv":
        return lambda x, k: lax.conv_general_dilated(
            x,
            k,
            (stride, stride),
            convolution.conv_pads(padding, x.shape[1:3], k.shape[:2], (stride,) * 2),
            dimension_numbers=DN,
        )
    if kind == "transpose":
        return lambda x, k: lax.conv_transpose(x, k, (stride, stride), padding, dimension_numbers=DN)

    def repeat_then_conv(x, k):
        up = jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)
        return lax.conv_general_dilated(up, k, (1, 1), ((1, 1), (1, 1)), dimension_numbers=DN)

    return repeat_then_conv


def _genjax_function(kind: str, stride: int, padding):
    if kind == "conv":
        return partial(convolution.conv2d, strides=stride, padding=padding)
    if kind == "transpose":
        return partial(convolution.conv_transpose, strides=stride, padding=padding)
    return convolution.upsample_conv


def _flops(kind: str, batch: int, size: int, c_in: int, c_out: int, k: int, stride: int, y_shape) -> float:
    if kind == "transpose":
        return 2.0 * batch * size * size * k * k * c_in * c_out
    if kind == "upsample":
        return 2.0 * batch * y_shape[1] * y_shape[2] * 4 * c_in * c_out
    return 2.0 * batch * y_shape[1] * y_shape[2] * k * k * c_in * c_out


def _programs(f, x, kernel, cotangent, scan_length: int):
    """Jitted fwd / fwdbwd / scan programs of ``f`` as thunks (arguments bound)."""

    def grads(x, k):
        y, vjp = jax.vjp(f, x, k)
        return y, *vjp(cotangent)  # y too: a linear op's gradients alone would not need the forward

    def chain(x, k):
        def body(carry, _):
            x, k = carry
            _, dx, dk = grads(x, k)
            return (x - 1e-6 * dx, k - 1e-6 * dk), None

        return lax.scan(body, (x, k), None, length=scan_length)[0]

    fwd, fwdbwd, scan = jax.jit(f), jax.jit(grads), jax.jit(chain)
    return {
        "fwd": lambda: fwd(x, kernel),
        "fwdbwd": lambda: fwdbwd(x, kernel),
        "scan": lambda: scan(x, kernel),
    }


def _runner(thunk):
    jax.block_until_ready(thunk())  # compile

    def run(steps: int) -> float:
        start = time.perf_counter()
        for _ in range(steps):
            out = thunk()
        jax.block_until_ready(out)
        return time.perf_counter() - start

    return run


def run_case(case: str, args: argparse.Namespace, matmul) -> dict:
    kind, batch, size, c_in, c_out, k, stride, padding = CASES[case]
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(batch, size, size, c_in)), jnp.float32)
    kernel = jnp.asarray(0.1 * rng.normal(size=(k, k, c_in, c_out)), jnp.float32)
    reference = _lax_function(kind, stride, padding)
    y_shape = jax.eval_shape(reference, x, kernel).shape
    cotangent = jnp.asarray(rng.normal(size=y_shape), jnp.float32)
    contenders = {"lax": reference, "genjax": _genjax_function(kind, stride, padding)}
    forms = list(convolution.WEIGHT_GRADIENTS) if args.weight_gradients else []
    runners = {"matmul_1024": matmul}
    for name, f in contenders.items():
        for program, thunk in _programs(f, x, kernel, cotangent, args.scan_length).items():
            runners[f"{name}/{program}"] = _runner(thunk)
    default_form = convolution.WEIGHT_GRADIENT
    for form in forms:  # the weight-gradient form is read when a program is traced
        convolution.WEIGHT_GRADIENT = form
        programs = _programs(contenders["genjax"], x, kernel, cotangent, args.scan_length)
        for program in ("fwdbwd", "scan"):
            runners[f"genjax_{form}/{program}"] = _runner(programs[program])
    convolution.WEIGHT_GRADIENT = default_form
    per_round = interleaved_rounds(runners, args.rounds, args.steps)
    flops = _flops(kind, batch, size, c_in, c_out, k, stride, y_shape)
    matmul_gflops = 2.0 * 1024**3 / statistics.median(per_round.pop("matmul_1024")) / 1e9
    result = {
        "shape": dict(kind=kind, batch=batch, size=size, c_in=c_in, c_out=c_out, kernel=k, stride=stride)
    }
    result["matmul_gflops"] = matmul_gflops
    for name, seconds in per_round.items():
        program = name.split("/")[1]
        per_step = statistics.median(seconds) / (args.scan_length if program == "scan" else 1)
        work = flops if program == "fwd" else 3 * flops
        result[name] = {
            "median_ms": 1e3 * per_step,
            "gflops": work / per_step / 1e9,
            "of_matmul": work / per_step / 1e9 / matmul_gflops,
        }
    for program in ("fwd", "fwdbwd", "scan"):
        paired = [
            a / b for a, b in zip(per_round[f"lax/{program}"], per_round[f"genjax/{program}"], strict=True)
        ]
        result[f"speedup_genjax_over_lax/{program}"] = statistics.median(paired)
    return result


# train-step case -> (config module, variant, random-data shape or None for the config's own data)
TRAIN_CASES = {
    "dcgan_mnist28": ("gan", "non_saturating_binarized_mnist", (28, 28, 1)),
    "vae_conv_digits": ("vae", "digits_conv", None),
    "glow_digits": ("flow", "glow_digits", None),
    "realnvp_digits": ("flow", "realnvp_digits", None),
    "pixelcnn_digits": ("autoregressive", "pixelcnn_digits", None),
    "ddpm_unet_digits": ("ddpm", "linear_digits", None),
}


def _train_parts(case: str, steps_per_call: int):
    import importlib

    module, variant, shape = TRAIN_CASES[case]
    config = importlib.import_module(f"experiments.configs.{module}").get_config(variant)
    if shape is None:
        dataset = genjax_data.load_dataset(config.data)
        batches = genjax_data.train_batches(dataset, config.data, seed=config.seed)
        pool = np.stack([np.asarray(batches[i]["x"], np.float32) for i in range(steps_per_call)])
    else:  # binary images, as gan_speed times them
        dataset = DataSpec(name="random", element_shape=shape, num_levels=2)
        pool = (
            np.random.default_rng(0)
            .random((steps_per_call, config.data.batch_size, *shape))
            .astype(np.float32)
        )
    model = models.build(config, dataset)
    optimizers = make_optimizers(config, model.players)
    state = init_train_state(model, optimizers, {"x": pool[0]}, seed=0, ema=False)
    return config, model, optimizers, state, {"x": pool}


def run_train_case(case: str, args: argparse.Namespace) -> dict:
    config, model, optimizers, state, batches = _train_parts(case, args.steps_per_call)
    runners = {}
    for form in ("lax", "genjax"):
        convolution.FORM = form  # read while the step is traced, inside genjax_runner
        for loop in ("host", "scan"):
            config.train.step_loop = loop
            runners[f"{form}/{loop}"], _ = genjax_runner(model, optimizers, state, config, batches)
    convolution.FORM = "genjax"
    per_round = interleaved_rounds(runners, args.rounds, args.steps_per_call)
    result = {"batch_size": config.data.batch_size, "steps_per_call": args.steps_per_call}
    for name, seconds in per_round.items():
        result[name] = {
            "median_ms": 1e3 * statistics.median(seconds),
            "rounds_ms": [1e3 * t for t in seconds],
        }
    for form in ("lax", "genjax"):
        paired = [h / s for h, s in zip(per_round[f"{form}/host"], per_round[f"{form}/scan"], strict=True)]
        result[f"{form}: host time / scan time"] = statistics.median(paired)
    paired = [a / b for a, b in zip(per_round["lax/host"], per_round["genjax/scan"], strict=True)]
    result["lax host time / genjax scan time"] = statistics.median(paired)
    return result


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m experiments.benchmarks.conv_speed",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, from {list(CASES)}")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved timing rounds")
    parser.add_argument("--steps", type=int, default=3, help="calls per contender per round")
    parser.add_argument("--scan_length", type=int, default=5, help="steps of the scan program")
    parser.add_argument("--weight_gradients", action="store_true", help="time every weight-gradient form")
    parser.add_argument("--train_steps", default="", help=f"comma-separated, from {list(TRAIN_CASES)}")
    parser.add_argument("--steps_per_call", type=int, default=10, help="K of the train-step comparison")
    parser.add_argument("--json", default="/tmp/conv_speed.json", help="where to write the figures")
    args = parser.parse_args(argv)
    args.train_steps = [case for case in args.train_steps.split(",") if case]
    args.cases = [] if args.train_steps else args.cases.split(",")
    unknown = [case for case in args.cases if case not in CASES]
    unknown += [case for case in args.train_steps if case not in TRAIN_CASES]
    if unknown:
        parser.error(f"unknown cases {unknown}; allowed: {', '.join(CASES)} or {', '.join(TRAIN_CASES)}")
    return args


def main(argv: list[str]) -> None:
    import json

    args = parse_args(argv)
    a = jnp.asarray(np.random.default_rng(1).normal(size=(1024, 1024)), jnp.float32)
    dot = jax.jit(jnp.dot)
    matmul = _runner(lambda: dot(a, a))
    report = run_header("conv_speed", "experiments.benchmarks.conv_speed", argv)
    report["load_average_before"] = load_average()
    report["cases"] = {}
    for case in args.cases:
        result = report["cases"][case] = run_case(case, args, matmul)
        summary = {
            k: round(v["median_ms"], 2) for k, v in result.items() if isinstance(v, dict) and "median_ms" in v
        }
        print(case, f"matmul {result['matmul_gflops']:.0f} GFLOP/s", json.dumps(summary), flush=True)
    for case in args.train_steps:
        result = report["cases"][case] = run_train_case(case, args)
        summary = {k: round(v["median_ms"], 1) for k, v in result.items() if isinstance(v, dict)}
        print(case, json.dumps(summary), flush=True)
    report["load_average_after"] = load_average()
    with open(args.json, "w") as handle:
        json.dump(report, handle, indent=2)


if __name__ == "__main__":
    main(sys.argv[1:])
