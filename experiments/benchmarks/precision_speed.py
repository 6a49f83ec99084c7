"""Training speed under ``train.compute_dtype``: bfloat16 against float32, same model, same machine.

Full run (the BENCHMARKS.md figures), from the repository root::

    python -m experiments.benchmarks.precision_speed \
        --json=experiments/benchmarks/results/precision_speed.json

About 10 minutes on the shared 2-core CPU (mostly the U-Net's rounds); the batch-16 figures
(``results/precision_speed_batch16.json``) took 1.5 minutes with ``--batch_size=16 --rounds=5
--steps=50 --steps_per_call=10``. ``--smoke`` (2 rounds of 4 steps) still compiles six train steps:
about 3 minutes, and its ratios are noise. Each case builds one config twice, ``compute_dtype=float32`` and
``bfloat16``, from the same float32 initial state, and times genjax's real jitted train step
(`timing.genjax_runner`: a ``lax.scan`` of K steps, or K jitted calls for convolutional nets
on CPU, as the loop runs them) on random data of the digits' shape:

* ``vae_mlp_digits``: ``vae.py:digits`` (64-256-256-(2x16) MLP VAE, Bernoulli, batch 128);
* ``vae_conv_digits``: ``vae.py:digits_conv`` (stride-2 conv encoder, transposed-conv decoder);
* ``ddpm_unet_digits``: ``ddpm.py:linear_digits``'s U-Net (ch 32, mults (1, 2), batch 128);
* ``vae_mlp_mnist`` (not run by default): ``vae.py:binarized_mnist``'s 784-500-500 MLP VAE.

The two contenders run in interleaved rounds with a rotating order (the machine may be shared),
are summarised by their median round and compared round by round: ``speedup_bf16_over_f32`` is
float32 time / bfloat16 time within each round (above 1: bfloat16 is faster).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys

import jax
import jax.numpy as jnp
import numpy as np

from experiments.benchmarks.timing import (
    genjax_runner,
    interleaved_rounds,
    load_average,
    run_header,
    summarise,
)
from genjax import models
from genjax.optim import make_optimizers
from genjax.spec import DataSpec
from genjax.train.state import TrainState
from genjax.train.step import init_train_state

# name -> (config module, variant, element shape, number of levels (2: binary data))
CASES = {
    "vae_mlp_digits": ("vae", "digits", (8, 8, 1), 2),
    "vae_conv_digits": ("vae", "digits_conv", (8, 8, 1), 2),
    "ddpm_unet_digits": ("ddpm", "linear_digits", (8, 8, 1), 17),
    "vae_mlp_mnist": ("vae", "binarized_mnist", (28, 28, 1), 2),
}
DEFAULT_CASES = ("vae_mlp_digits", "vae_conv_digits", "ddpm_unet_digits")
DTYPES = ("float32", "bfloat16")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m experiments.benchmarks.precision_speed",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--cases", default=",".join(DEFAULT_CASES), help=f"comma-separated, from {list(CASES)}"
    )
    parser.add_argument("--rounds", type=int, default=7, help="interleaved timing rounds")
    parser.add_argument("--steps", type=int, default=100, help="train steps per contender per round")
    parser.add_argument("--steps_per_call", type=int, default=20, help="K steps per call of the train step")
    parser.add_argument("--batch_size", type=int, default=None, help="default: the config's")
    parser.add_argument("--json", default="/tmp/precision_speed.json", help="where to write the figures")
    parser.add_argument("--smoke", action="store_true", help="2 rounds of 4 steps, K=2, batch 16")
    args = parser.parse_args(argv)
    if args.smoke:
        args.rounds, args.steps, args.steps_per_call, args.batch_size = 2, 4, 2, 16
    args.cases = [case for case in args.cases.split(",") if case]
    unknown = [case for case in args.cases if case not in CASES]
    if unknown:
        parser.error(f"--cases: unknown {unknown}; known: {', '.join(CASES)}")
    if min(args.rounds, args.steps, args.steps_per_call, args.batch_size or 1) <= 0:
        parser.error("--rounds, --steps, --steps_per_call and --batch_size must be positive")
    return args


def random_batches(shape: tuple[int, ...], levels: int, steps: int, batch: int) -> dict[str, jax.Array]:
    """`[K, B, *shape]` values on the data's levels (binary {0, 1} or k / (L - 1))."""
    u = np.random.default_rng(0).random((steps, batch, *shape), dtype=np.float32)
    x = (u < 0.3).astype(np.float32) if levels == 2 else np.round(u * (levels - 1)) / (levels - 1)
    return {"x": jnp.asarray(x)}


def run_case(case: str, args: argparse.Namespace) -> dict:
    module_name, variant, shape, levels = CASES[case]
    module = __import__(f"experiments.configs.{module_name}", fromlist=["get_config"])
    spec = DataSpec(name=variant, element_shape=shape, num_levels=levels)
    batch_size = args.batch_size or module.get_config(variant).data.batch_size
    batches = random_batches(shape, levels, args.steps_per_call, batch_size)
    first = jax.tree.map(lambda b: b[0], batches)
    runners, contenders, state = {}, {}, None
    for dtype in DTYPES:
        config = module.get_config(variant)
        with config.unlocked():
            config.train.compute_dtype = dtype
            config.train.steps_per_call = args.steps_per_call
            config.train.ema_decay = 0.0
        model = models.build(config, spec)
        optimizers = make_optimizers(config, model.players)
        if state is None:  # one float32 initial state for both contenders
            state = init_train_state(model, optimizers, first, seed=config.seed, ema=False)
        copy = TrainState(**{k: jax.tree.map(jnp.copy, v) for k, v in vars(state).items()})
        runners[dtype], xla_flops = genjax_runner(model, optimizers, copy, config, batches)
        contenders[dtype] = {"xla_flops_per_call": xla_flops, "convolutional": model.convolutional}
    per_round = interleaved_rounds(runners, args.rounds, args.steps)
    summarise(per_round, contenders)
    paired = [f / b for f, b in zip(per_round["float32"], per_round["bfloat16"], strict=True)]
    return {
        "config": f"experiments/configs/{module_name}.py:{variant}",
        "element_shape": list(shape),
        "batch_size": batch_size,
        "steps_per_call": args.steps_per_call,
        "contenders": contenders,
        "speedup_bf16_over_f32": {
            "median": statistics.median(paired),
            "min": min(paired),
            "max": max(paired),
            "best_vs_best": min(per_round["float32"]) / min(per_round["bfloat16"]),
        },
    }


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    report = run_header("precision_speed", "experiments.benchmarks.precision_speed", argv)
    report.update(
        backend=jax.default_backend(),
        devices=[str(d) for d in jax.devices()],
        rounds=args.rounds,
        steps_per_round=args.steps,
        load_average_before=load_average(),
    )
    report["cases"] = {case: run_case(case, args) for case in args.cases}
    report["load_average_after"] = load_average()
    with open(args.json, "w") as handle:
        json.dump(report, handle, indent=2)
    for case, result in report["cases"].items():
        rates = {k: round(v["steps_per_s"], 1) for k, v in result["contenders"].items()}
        print(
            case,
            "steps/s",
            json.dumps(rates),
            "bf16/f32 speedup",
            json.dumps(result["speedup_bf16_over_f32"]),
        )


if __name__ == "__main__":
    main(sys.argv[1:])
