"""Training speed of the binarized-MNIST VAE: genjax (JAX/XLA) against PyTorch eager and torch.compile.

Full run (the BENCHMARKS.md figures), from the repository root::

    python -m experiments.benchmarks.vae_speed --json=/tmp/vae_speed.json

``--smoke`` runs in seconds (tests/experiments/test_benchmark_smoke.py). The model is
``experiments/configs/vae.py:binarized_mnist`` (784-500-500-(2x50) tanh encoder, 50-500-500-784 decoder,
Bernoulli logits, 1-sample ELBO, analytic KL, Adam 1e-3, batch 128) on random binary data; the peer is
the same network in PyTorch (the ``benchmark`` extra: genjax never imports torch). Both run float32 on
the CPU, one intra-op thread per core. Contenders run in interleaved rounds, compared round by round,
since the machine may be shared. GFLOP/s = analytic step FLOPs (cross-checked by XLA's cost analysis)
/ median step time, against a float32 matmul measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from itertools import pairwise
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from experiments.benchmarks.timing import (
    Runner,
    best_seconds,
    genjax_runner,
    interleaved_rounds,
    load_average,
    paired_ratios,
    run_header,
    summarise,
    torch_compile_warmup,
    torch_runner,
    unavailable,
)
from experiments.configs import vae as vae_config
from genjax import models
from genjax.optim import make_optimizers
from genjax.spec import DataSpec
from genjax.train.step import PURPOSE_LOSS, init_train_state, step_key

ELEMENT_SHAPE = (28, 28, 1)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m experiments.benchmarks.vae_speed",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--rounds", type=int, default=15, help="interleaved timing rounds")
    parser.add_argument("--steps", type=int, default=200, help="optimisation steps per contender per round")
    parser.add_argument("--steps_per_call", type=int, default=50, help="K steps fused in one lax.scan")
    parser.add_argument("--matmul_size", type=int, default=2048, help="n of the n x n x n matmul probe")
    parser.add_argument("--torch_compile", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--compile_timeout", type=int, default=300, help="seconds allowed for torch.compile")
    parser.add_argument("--json", default="/tmp/vae_speed.json", help="where to write the figures")
    parser.add_argument("--smoke", action="store_true", help="2 rounds of 10 steps, K=5, no torch.compile")
    args = parser.parse_args(argv)
    args.breakdown = not args.smoke  # gradient and update timed apart, to see where a step's time goes
    if args.smoke:
        args.rounds, args.steps, args.steps_per_call, args.matmul_size = 2, 10, 5, 256
        args.torch_compile = False
    if min(args.rounds, args.steps, args.steps_per_call, args.matmul_size) <= 0:
        parser.error("--rounds, --steps, --steps_per_call and --matmul_size must be positive")
    return args


def step_flops(hidden_sizes: tuple[int, ...], latent_dim: int, num_dims: int, batch: int) -> dict[str, int]:
    """FLOPs of one train step's dense layers (multiply-add = 2 FLOPs); elementwise work is ignored.

    With S = Σ in·out over the 6 dense layers, forward is 2·B·S; backward is 2·B·S for the weight
    gradients plus 2·B·S for the input gradients, less the first layer's (nobody needs dL/dx):
    exact = B·(6·S − 2·784·500). The rule of thumb 3 x forward = 6·B·S overcounts that layer.
    """
    encoder = [num_dims, *hidden_sizes, 2 * latent_dim]
    decoder = [latent_dim, *reversed(hidden_sizes), num_dims]
    weights = sum(fan_in * fan_out for fan_in, fan_out in [*pairwise(encoder), *pairwise(decoder)])
    return {
        "dense_weights": weights,
        "forward": 2 * batch * weights,
        "three_x_forward": 6 * batch * weights,
        "exact": batch * (6 * weights - 2 * encoder[0] * encoder[1]),
    }


def genjax_parts(config, data: np.ndarray):
    """The VAE bundle, its optimizers and a fresh float32 train state (a stand-in dataset, no files)."""
    dataset = DataSpec(element_shape=ELEMENT_SHAPE, num_levels=2)
    model = models.build(config, dataset)
    optimizers = make_optimizers(config, model.players)
    state = init_train_state(model, optimizers, {"x": data[0]}, seed=config.seed, ema=False)
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(state.params)), "params must be float32"
    return model, optimizers, state


def genjax_setup(parts, config, steps_per_call: int, data: np.ndarray) -> tuple[Runner, float | None]:
    """The genjax train step at K = ``steps_per_call``: (runner, XLA's FLOPs for one call)."""
    model, optimizers, state = parts
    return genjax_runner(model, optimizers, state, config, {"x": data[:steps_per_call]})


def genjax_breakdown(parts, data: np.ndarray, steps: int) -> dict[str, float]:
    """ms per step of the gradient alone and of the Adam update alone, each in its own lax.scan."""
    model, optimizers, state = parts
    loss, optimizer = model.losses["model"], optimizers["model"]
    params, opt_state = state.params, state.opt_state["model"]
    batches = {"x": jnp.asarray(data[:steps])}

    @jax.jit
    def gradients_only(params, batches):
        def body(_, batch):
            grad = jax.grad(lambda p: loss(p, batch, step_key(0, 0, PURPOSE_LOSS))[0])(params)
            return grad, None  # carrying the gradient keeps XLA from dropping the work

        return jax.lax.scan(body, jax.tree.map(jnp.zeros_like, params), batches)[0]

    @jax.jit
    def updates_only(player_params, opt_state, grads):
        def body(carry, _):
            updates, new_opt_state = optimizer.update(grads, carry[1], carry[0])
            return (optax.apply_updates(carry[0], updates), new_opt_state), None

        return jax.lax.scan(body, (player_params, opt_state), None, length=steps)[0]

    grads = jax.tree.map(lambda p: 1e-3 * jnp.ones_like(p), params["model"])
    gradient = best_seconds(lambda: jax.block_until_ready(gradients_only(params, batches)))
    update = best_seconds(lambda: jax.block_until_ready(updates_only(params["model"], opt_state, grads)))
    return {"gradient": 1e3 * gradient / steps, "adam_update": 1e3 * update / steps}


def torch_setup(config, data: np.ndarray, *, compiled: bool, compile_timeout: int, fused_adam: bool = False):
    """The same VAE step in PyTorch: (runner, model, optimizer, data pool `[K, B, 784]`)."""
    import torch
    from torch import nn

    latent, hidden = config.model.latent_dim, tuple(config.model.hidden_sizes)

    def mlp(sizes: list[int]) -> nn.Sequential:
        layers: list[nn.Module] = []
        for fan_in, fan_out in pairwise(sizes):
            layers += [nn.Linear(fan_in, fan_out), nn.Tanh()]
        return nn.Sequential(*layers[:-1])  # the last layer is linear, as in genjax's MLP

    class TorchVAE(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = mlp([math.prod(ELEMENT_SHAPE), *hidden, 2 * latent])
            self.decoder = mlp([latent, *reversed(hidden), math.prod(ELEMENT_SHAPE)])

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            """Negative ELBO averaged over the batch; x `[B, 784]`."""
            mean, log_var = self.encoder(x).chunk(2, dim=-1)
            z = mean + torch.exp(0.5 * log_var) * torch.randn_like(mean)
            logits = self.decoder(z)
            nll = nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)
            kl = 0.5 * (log_var.exp() + mean.square() - 1.0 - log_var).sum(-1)
            return (nll + kl).mean()

    torch.manual_seed(config.seed)
    model = TorchVAE()
    # The default Adam is what a user gets (a per-tensor loop on CPU); fused=True is the fastest
    # eager option, timed as its own contender so the comparison is fair to PyTorch.
    optimizer = torch.optim.Adam(model.parameters(), lr=config.optim.model.learning_rate, fused=fused_adam)
    pool = torch.from_numpy(data.reshape(data.shape[0], data.shape[1], -1))  # [K, B, 784]

    def train_step(x: torch.Tensor) -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        loss = model(x)
        loss.backward()
        optimizer.step()
        return loss

    step = torch.compile(train_step) if compiled else train_step
    if compiled:  # forward+backward and the optimizer compile on the first calls
        torch_compile_warmup(step, [pool[index % len(pool)] for index in range(3)], compile_timeout)
    return torch_runner(step, pool), model, optimizer, pool


def torch_breakdown(model, optimizer, pool, steps: int) -> dict[str, float]:
    """ms per step of forward+backward, and of the default and the fused Adam update."""
    import torch

    def forward_backward() -> None:
        for index in range(steps):
            model.zero_grad(set_to_none=True)
            model(pool[index % len(pool)]).backward()

    fused = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    calls = {
        "gradient": forward_backward,
        "adam_update": lambda: [optimizer.step() for _ in range(steps)],
        "adam_update_fused": lambda: [fused.step() for _ in range(steps)],
    }
    return {name: 1e3 * best_seconds(call) / steps for name, call in calls.items()}


def matmul_gflops(n: int) -> dict[str, float]:
    """Best float32 n x n matmul GFLOP/s in jitted JAX and in torch, each timed for about 0.2 s."""
    import torch

    a = np.random.default_rng(1).standard_normal((n, n), dtype=np.float32)
    jax_a, torch_a = jnp.asarray(a), torch.from_numpy(a)
    matmul = jax.jit(jnp.matmul)
    calls = {"jax": lambda: matmul(jax_a, jax_a).block_until_ready(), "torch": lambda: torch_a @ torch_a}
    result = {}
    for name, call in calls.items():
        call()
        start = time.perf_counter()
        call()
        inner = max(1, int(0.2 / (time.perf_counter() - start)))  # so small n is not all call overhead
        seconds = best_seconds(lambda call=call, inner=inner: [call() for _ in range(inner)])
        result[name] = 2 * n**3 * inner / seconds / 1e9
    return result


def markdown(report: dict[str, Any]) -> str:
    flops, peak = report["flops"]["exact"], max(report["matmul_gflops"].values())
    lines = [
        "| contender | median ms/step | min | max | steps/s | GFLOP/s | % of matmul peak |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, entry in report["contenders"].items():
        if "unavailable" in entry:
            lines.append(f"| {name} | {entry['unavailable']} | | | | | |")
            continue
        gflops = flops / entry["median_ms"] / 1e6
        lines.append(
            f"| {name} | {entry['median_ms']:.2f} | {entry['min_ms']:.2f} | {entry['max_ms']:.2f} "
            f"| {entry['steps_per_s']:.0f} | {gflops:.0f} | {100 * gflops / peak:.0f}% |"
        )
    lines += ["", "| speed-up (torch time / genjax time) | median of rounds | min | max | best vs best |"]
    lines.append("|---|---|---|---|---|")
    for name, r in report["ratios"].items():
        lines.append(
            f"| {name} | {r['median']:.2f}x | {r['min']:.2f}x | {r['max']:.2f}x | {r['best_vs_best']:.2f}x |"
        )
    mm = report["matmul_gflops"]
    lines += [
        "",
        f"matmul {report['settings']['matmul_size']}^3 float32: JAX {mm['jax']:.0f} GFLOP/s, "
        f"torch {mm['torch']:.0f} GFLOP/s. Step FLOPs: analytic {flops / 1e6:.1f} M "
        f"(3x-forward rule {report['flops']['three_x_forward'] / 1e6:.1f} M), XLA cost analysis "
        f"{(report['flops']['xla'] or float('nan')) / 1e6:.1f} M.",
    ]
    for framework, parts in report.get("breakdown", {}).items():
        lines.append(
            f"breakdown {framework} (ms/step): " + ", ".join(f"{k} {v:.2f}" for k, v in parts.items())
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    # Both frameworks on the CPU, so an accelerator cannot make the comparison lopsided.
    jax.config.update("jax_platforms", "cpu")
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    torch.set_float32_matmul_precision("highest")  # plain float32, as XLA's CPU dots
    load_start = load_average()

    config = vae_config.get_config("binarized_mnist")
    config.train.steps_per_call = args.steps_per_call
    batch = config.data.batch_size
    # [K, B, 28, 28, 1] in {0, 1} with about MNIST's 13% ink; K distinct batches cycle.
    rng = np.random.default_rng(0)
    data = (rng.random((max(args.steps_per_call, 8), batch, *ELEMENT_SHAPE)) < 0.13).astype(np.float32)
    flops = step_flops(
        tuple(config.model.hidden_sizes), config.model.latent_dim, math.prod(ELEMENT_SHAPE), batch
    )

    runners: dict[str, Runner] = {}
    compile_note: dict[str, Any] = {}  # torch.compile's compile time, or why it is unavailable
    # XLA counts a while loop's body once, so the K=1 executable's count is one step's.
    parts = genjax_parts(config, data)
    runners["genjax K=1"], xla_flops = genjax_setup(parts, config, 1, data)
    fused_name = f"genjax K={args.steps_per_call}"
    runners[fused_name], _ = genjax_setup(parts, config, args.steps_per_call, data)
    runners["torch eager"], torch_model, torch_optimizer, pool = torch_setup(
        config, data, compiled=False, compile_timeout=args.compile_timeout
    )
    runners["torch eager fused-Adam"], *_ = torch_setup(
        config, data, compiled=False, compile_timeout=args.compile_timeout, fused_adam=True
    )
    if args.torch_compile:
        start = time.perf_counter()
        try:
            runners["torch.compile"], *_ = torch_setup(
                config, data, compiled=True, compile_timeout=args.compile_timeout
            )
            compile_note = {"compile_s": time.perf_counter() - start}
        except Exception as error:  # any compiler failure is a fact to report
            compile_note = unavailable(error)
    else:
        compile_note = {"unavailable": "unavailable: skipped (--no-torch_compile or --smoke)"}

    per_round = interleaved_rounds(runners, args.rounds, args.steps)
    contenders: dict[str, dict[str, Any]] = {name: {} for name in [*runners, "torch.compile"]}
    contenders["torch.compile"].update(compile_note)
    summarise(per_round, contenders)
    torch_names = ("torch eager", "torch eager fused-Adam", "torch.compile")
    ratios = paired_ratios(per_round, ("genjax K=1", fused_name), torch_names)

    header = run_header("vae_speed", "experiments.benchmarks.vae_speed", argv)
    report: dict[str, Any] = {
        "benchmark": header.pop("benchmark"),
        "config": "experiments/configs/vae.py:binarized_mnist",
        **header,
        "versions": {"jax": jax.__version__, "jaxlib": jax.lib.__version__, "torch": torch.__version__},
        "settings": {
            **{k: v for k, v in vars(args).items() if k != "json"},
            "batch_size": batch,
            "dtype": "float32",
            "torch_threads": torch.get_num_threads(),
            "xla_threads": "XLA CPU default intra-op pool (one thread per core)",
            "XLA_FLAGS": os.environ.get("XLA_FLAGS", ""),
            "jax_backend": jax.default_backend(),
        },
        "flops": {**flops, "xla": xla_flops},
        "contenders": contenders,
        "ratios": ratios,
        "matmul_gflops": matmul_gflops(args.matmul_size),
    }
    if args.breakdown:
        report["breakdown"] = {
            "genjax": genjax_breakdown(parts, data, args.steps_per_call),
            "torch": torch_breakdown(torch_model, torch_optimizer, pool, args.steps_per_call),
        }
    report["load_average"] = {"start": load_start, "end": load_average()}
    text = markdown(report)
    print(text)
    print(f"load average: start {load_start}, end {report['load_average']['end']}")
    with open(args.json, "w") as file:
        json.dump(report, file, indent=2)
    print(f"wrote {args.json}")
    return report


if __name__ == "__main__":
    main()
