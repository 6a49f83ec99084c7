"""Train-step throughput of genjax's RealNVP and Glow against the same flows in PyTorch (normflows).

Full run (the BENCHMARKS.md figures), from the repository root, on an idle machine::

    python -m experiments.benchmarks.flow_speed --rounds=15 --steps=200 --steps_per_call=50 \\
        --json=experiments/benchmarks/results/flow_speed.json

``--smoke`` runs in seconds (tests/experiments/test_benchmark_smoke.py); ``--cases`` picks a subset.
Cases (genjax side: the config's bundle, optimizer and the real jitted train step of
``genjax.train.step.make_train_step``, K steps per call run as the loop runs them: one
``lax.scan``, or K jitted calls for conv nets on CPU, see ``train.step_loop``):

* ``realnvp_2d``: ``experiments/configs/flow.py:realnvp_8gaussians``: 16 affine half-couplings on 2-D
  points, MLP conditioners 1-64-64-2 (relu, zero-init last layer), ``s = c * tanh(raw)`` with a
  learned per-dimension c, standard normal base, batch 256. Torch: normflows' ``NormalizingFlow``,
  ``MLP`` conditioners and ``DiagGaussian`` base, with a hand-written tanh-scaled coupling (normflows'
  couplings have no tanh bound).
* ``glow_digits``: ``flow.py:glow_digits``: Glow on dequantized 8x8x1 digits, logit preprocessing,
  2 levels x 4 steps (ActNorm, LU 1x1 conv, affine coupling with a 3x3-1x1-3x3 conv net of 64
  channels, sigmoid scale), batch 128. Torch: normflows' ``MultiscaleFlow`` of ``GlowBlock``s,
  ``Squeeze``, ``Merge``, fixed ``DiagGaussian`` bases and the ``Logit`` transform.
* ``glow_mnist28`` (not in the default set): the same Glow on 28x28x1 random dequantized batches.

Both sides: float32 on the CPU, one intra-op thread per core, Adam 1e-3 with global-norm gradient
clipping at the config's 100 (genjax also evaluates its cosine learning-rate schedule in the step;
the torch loop keeps lr constant). Contenders run in interleaved rounds and are compared round by
round; ratio = torch time / genjax time = genjax speed / torch speed. The issue's target is >= 1.5x.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from typing import Any

import jax
import numpy as np

from experiments.benchmarks.timing import (
    genjax_runner,
    interleaved_rounds,
    load_average,
    paired_ratios,
    run_header,
    summarise,
    torch_adam_runner,
    unavailable,
)
from experiments.configs import flow as flow_config
from genjax import data as genjax_data
from genjax import models
from genjax.optim import make_optimizers
from genjax.spec import DataSpec
from genjax.train.step import PURPOSE_LOSS, init_train_state, step_key

CASES = {  # case -> (config variant, element shape for random data or None for the config's data)
    "realnvp_2d": ("realnvp_8gaussians", None),
    "glow_digits": ("glow_digits", None),
    "glow_mnist28": ("glow_digits", (28, 28, 1)),
}
DEFAULT_CASES = ("realnvp_2d", "glow_digits")
TARGET = 1.5
# Known differences between the two sides of each case (same parameter counts; see the report).
DIFFERENCES = {
    "realnvp_2d": [
        "layout and initialisation only: flax Dense vs torch Linear default init (last layer zero in both)",
    ],
    "glow": [
        "coupling shift: genjax z2 = x2*sigmoid(r+2) + t, normflows z2 = (x2 - t)*sigmoid(r+2) "
        "(same parameters and function class); normflows interleaves shift/scale channels, genjax halves",
        "1x1 conv: normflows W = P L U with fixed permutation/sign buffers, genjax W = L U (P = I, "
        "positive pivots); same trainable L, U, log_s",
        "ActNorm init: normflows unbiased std, genjax biased variance (init only); normflows checks its "
        "init flag on every call",
        "layout: genjax NHWC, torch NCHW (each framework's native layout)",
    ],
}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m experiments.benchmarks.flow_speed",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--cases", default=",".join(DEFAULT_CASES), help=f"comma list of {', '.join(CASES)}")
    parser.add_argument("--rounds", type=int, default=15, help="interleaved timing rounds")
    parser.add_argument("--steps", type=int, default=200, help="optimisation steps per contender per round")
    parser.add_argument("--steps_per_call", type=int, default=50, help="K steps fused in one lax.scan")
    parser.add_argument("--torch_compile", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--compile_timeout", type=int, default=300, help="seconds allowed for torch.compile")
    parser.add_argument(
        "--torch_threads", type=int, default=0, help="torch intra-op threads; 0 = one per core"
    )
    parser.add_argument("--json", default="/tmp/flow_speed.json", help="where to write the figures")
    parser.add_argument("--smoke", action="store_true", help="2 rounds of 10 steps, K=5, no torch.compile")
    args = parser.parse_args(argv)
    if args.smoke:
        args.rounds, args.steps, args.steps_per_call, args.torch_compile = 2, 10, 5, False
    args.cases = [case for case in args.cases.split(",") if case]
    if unknown := [case for case in args.cases if case not in CASES]:
        parser.error(f"--cases: unknown {', '.join(unknown)}; known: {', '.join(CASES)}")
    if min(args.rounds, args.steps, args.steps_per_call) <= 0:
        parser.error("--rounds, --steps and --steps_per_call must be positive")
    return args


def genjax_case(case: str, pool_size: int):
    """(config, model, optimizers, state, dataset, data pool `[N, B, *element_shape]`)."""
    variant, random_shape = CASES[case]
    config = flow_config.get_config(variant)
    batch = config.data.batch_size
    if random_shape is None:
        dataset = genjax_data.load_dataset(config.data)
        batches = genjax_data.train_batches(dataset, config.data, seed=config.seed)
        pool = np.stack([np.asarray(batches[i]["x"], np.float32) for i in range(pool_size)])
    else:  # dequantized 8-bit levels, as the data pipeline would give
        dataset = DataSpec(name="random", element_shape=random_shape, num_levels=256)
        rng = np.random.default_rng(0)
        levels = rng.integers(0, 256, (pool_size, batch, *random_shape))
        pool = ((levels + rng.random(levels.shape)) / 256).astype(np.float32)
    model = models.build(config, dataset)
    optimizers = make_optimizers(config, model.players)
    state = init_train_state(model, optimizers, {"x": pool[0]}, seed=config.seed, ema=False)
    return config, model, optimizers, state, dataset, pool


def torch_flow(config, element_shape: tuple[int, ...]):
    """The same flow in PyTorch: normflows' layers, plus a tanh-scaled coupling written here."""
    import normflows as nf
    import torch

    m = config.model
    if len(element_shape) == 1:

        class TanhAffineCoupling(nf.flows.Flow):
            """genjax's ``Coupling(mask="half", scale_fn="tanh")``; ``inverse`` is x -> z."""

            def __init__(self, dims: int, hidden: tuple[int, ...], parity: int) -> None:
                super().__init__()
                self.cut, self.parity = dims // 2, parity
                kept = self.cut if parity == 0 else dims - self.cut
                self.net = nf.nets.MLP([kept, *hidden, 2 * (dims - kept)], init_zeros=True)
                self.tanh_scale = torch.nn.Parameter(torch.ones(dims - kept))

            def _affine(self, x: torch.Tensor, sign: float) -> tuple[torch.Tensor, torch.Tensor]:
                first, second = x[:, : self.cut], x[:, self.cut :]
                kept, changed = (first, second) if self.parity == 0 else (second, first)
                shift, raw = self.net(kept).chunk(2, dim=-1)
                log_scale = self.tanh_scale * torch.tanh(raw)
                if sign > 0:
                    changed = changed * torch.exp(log_scale) + shift
                else:
                    changed = (changed - shift) * torch.exp(-log_scale)
                parts = (kept, changed) if self.parity == 0 else (changed, kept)
                return torch.cat(parts, dim=-1), sign * log_scale.sum(-1)

            def inverse(self, x):  # normflows' log_prob runs inverse: data -> latent
                return self._affine(x, 1.0)

            def forward(self, z):
                return self._affine(z, -1.0)

        dims = element_shape[0]
        layers = [TanhAffineCoupling(dims, tuple(m.hidden_sizes), i % 2) for i in range(m.num_layers)]
        # normflows lists flows latent -> data; genjax's layer 0 meets the data first.
        return nf.NormalizingFlow(nf.distributions.DiagGaussian(dims, trainable=False), layers[::-1])

    height, width, channels = element_shape
    levels, hidden = m.num_scales, m.hidden_sizes[0]
    assert set(m.hidden_sizes) == {hidden} and len(m.hidden_sizes) == 2, "GlowBlock: two equal widths"
    q0, flows, merges = [], [], []
    for i in range(levels):  # normflows' level 0 is the coarsest; log_prob runs L-1 .. 0
        blocks = [
            nf.flows.GlowBlock(channels * 2 ** (levels + 1 - i), hidden, scale=True, scale_map="sigmoid")
            for _ in range(m.steps_per_scale)
        ]
        flows.append([*blocks, nf.flows.Squeeze()])
        factor = 2 ** (levels - i)
        if i > 0:
            merges.append(nf.flows.Merge())
            shape = (channels * factor, height // factor, width // factor)
        else:
            shape = (channels * 2 * factor, height // factor, width // factor)
        q0.append(nf.distributions.DiagGaussian(shape, trainable=False))
    transform = nf.transforms.Logit(alpha=m.logit_alpha)
    return nf.MultiscaleFlow(q0, flows, merges, transform=transform, class_cond=False)


def torch_case(config, dataset, pool: np.ndarray):
    """(flow, flow -> its mean NLL of a batch, the pool as torch tensors in the torch layout)."""
    import torch

    torch.manual_seed(config.seed)
    element_shape = tuple(dataset.element_shape)
    flow = torch_flow(config, element_shape)
    num_dims, num_levels = math.prod(element_shape), dataset.num_levels
    # -D log L: the log-likelihood of the discrete data, as genjax's loss reports it.
    offset = -num_dims * math.log(num_levels) if num_levels else 0.0
    images = len(element_shape) == 3
    tensors = torch.from_numpy(np.ascontiguousarray(pool.transpose(0, 1, 4, 2, 3) if images else pool))

    def make_nll(flow):
        def nll(x: torch.Tensor) -> torch.Tensor:
            log_prob = flow.log_prob(x, None) if images else flow.log_prob(x)
            return -(log_prob + offset).mean()

        return nll

    with torch.no_grad():
        make_nll(flow)(tensors[0])  # ActNorm's data-dependent init
    return flow, make_nll, list(tensors)


def torch_contender(flow, make_nll, pool, config, *, fused: bool, compiled: bool, timeout: int):
    """A runner of the standard torch loop on a copy of ``flow`` (so contenders share no state)."""
    import copy

    flow = copy.deepcopy(flow)
    return torch_adam_runner(
        make_nll(flow),
        list(flow.parameters()),
        pool,
        learning_rate=config.optim.model.learning_rate,
        fused=fused,
        compiled=compiled,
        timeout=timeout,
        clip=float(config.optim.model.get("grad_clip_norm", 0.0)),
    )


def run_case(case: str, args) -> dict[str, Any]:
    import torch

    pool_size = max(args.steps_per_call, 8)
    config, model, optimizers, state, dataset, pool = genjax_case(case, pool_size)
    flow, make_nll, tensors = torch_case(config, dataset, pool)
    genjax_params = sum(leaf.size for leaf in jax.tree.leaves(state.params["model"]))
    torch_params = sum(p.numel() for p in flow.parameters())
    loss = model.losses["model"]
    nll_genjax = float(loss(state.params, {"x": pool[0]}, step_key(0, 0, PURPOSE_LOSS))[0])
    with torch.no_grad():
        nll_torch = float(make_nll(flow)(tensors[0]))
    print(
        f"[{case}] parameters: genjax {genjax_params}, torch {torch_params}; "
        f"initial NLL genjax {nll_genjax:.4f}, torch {nll_torch:.4f}",
        flush=True,
    )

    runners, contenders = {}, {}
    fused_name = f"genjax K={args.steps_per_call}"
    for name, k in (("genjax K=1", 1), (fused_name, args.steps_per_call)):
        runners[name], _ = genjax_runner(model, optimizers, state, config, {"x": pool[:k]})
    timeout = args.compile_timeout
    runners["torch eager"] = torch_contender(
        flow, make_nll, tensors, config, fused=False, compiled=False, timeout=timeout
    )
    runners["torch eager fused-Adam"] = torch_contender(
        flow, make_nll, tensors, config, fused=True, compiled=False, timeout=timeout
    )
    if args.torch_compile:
        start = time.perf_counter()
        try:
            runners["torch.compile"] = torch_contender(
                flow, make_nll, tensors, config, fused=False, compiled=True, timeout=timeout
            )
            contenders["torch.compile"] = {"compile_s": time.perf_counter() - start}
        except Exception as error:  # any compiler failure is a fact to report
            contenders["torch.compile"] = unavailable(error)
    else:
        contenders["torch.compile"] = {"unavailable": "unavailable: skipped (--no-torch_compile or --smoke)"}

    per_round = interleaved_rounds(runners, args.rounds, args.steps)
    summarise(per_round, contenders)
    torch_names = [name for name in runners if name.startswith("torch")]
    ratios = paired_ratios(per_round, ("genjax K=1", fused_name), torch_names)
    fastest_torch = min(torch_names, key=lambda name: contenders[name]["median_ms"])
    target = {}
    for genjax_name in ("genjax K=1", fused_name):
        ratio = ratios[f"{genjax_name} vs {fastest_torch}"]["median"]
        target[genjax_name] = {"vs": fastest_torch, "ratio": ratio, "met": ratio >= TARGET}
    return {
        "config": f"experiments/configs/flow.py:{CASES[case][0]}",
        "element_shape": list(dataset.element_shape),
        "batch_size": int(pool.shape[1]),
        "parameters": {"genjax": int(genjax_params), "torch": int(torch_params)},
        "initial_nll": {"genjax": nll_genjax, "torch": nll_torch},
        "differences": DIFFERENCES["glow" if case.startswith("glow") else case],
        "contenders": {name: contenders[name] for name in [*runners, "torch.compile"] if name in contenders},
        "ratios": ratios,
        f"target_{TARGET}x": target,
    }


def markdown(case: str, result: dict[str, Any]) -> str:
    lines = [
        f"### {case} ({result['config']}, batch {result['batch_size']})",
        "",
        "| contender | median ms/step | min | max | steps/s |",
        "|---|---|---|---|---|",
    ]
    for name, entry in result["contenders"].items():
        if "unavailable" in entry:
            lines.append(f"| {name} | {entry['unavailable']} | | | |")
            continue
        lines.append(
            f"| {name} | {entry['median_ms']:.3f} | {entry['min_ms']:.3f} | {entry['max_ms']:.3f} "
            f"| {entry['steps_per_s']:.0f} |"
        )
    lines += ["", "| genjax speed / torch speed | median of rounds | min | max | best vs best |"]
    lines.append("|---|---|---|---|---|")
    for name, r in result["ratios"].items():
        lines.append(
            f"| {name} | {r['median']:.2f}x | {r['min']:.2f}x | {r['max']:.2f}x | {r['best_vs_best']:.2f}x |"
        )
    params, nll = result["parameters"], result["initial_nll"]
    lines += [
        "",
        f"parameters: genjax {params['genjax']}, torch {params['torch']}"
        + ("" if params["genjax"] == params["torch"] else " (MISMATCH)")
        + f"; initial NLL genjax {nll['genjax']:.4f}, torch {nll['torch']:.4f}",
    ]
    for name, t in result[f"target_{TARGET}x"].items():
        verdict = "met" if t["met"] else "MISSED"
        lines.append(
            f"target >= {TARGET}x: {name} vs {t['vs']} (fastest torch): {t['ratio']:.2f}x, {verdict}"
        )
    lines += [f"difference: {d}" for d in result["differences"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    # Both frameworks on the CPU, so an accelerator cannot make the comparison lopsided.
    jax.config.update("jax_platforms", "cpu")
    import normflows
    import torch

    torch.set_num_threads(args.torch_threads or os.cpu_count() or 1)
    torch.set_float32_matmul_precision("highest")  # plain float32, as XLA's CPU dots
    load_start = load_average()
    report: dict[str, Any] = {
        **run_header("flow_speed", "experiments.benchmarks.flow_speed", argv),
        "versions": {
            "jax": jax.__version__,
            "jaxlib": jax.lib.__version__,
            "torch": torch.__version__,
            "normflows": normflows.__version__,
        },
        "settings": {
            **{k: v for k, v in vars(args).items() if k != "json"},
            "dtype": "float32",
            "torch_threads": torch.get_num_threads(),
            "xla_threads": "XLA CPU default intra-op pool (one thread per core)",
            "XLA_FLAGS": os.environ.get("XLA_FLAGS", ""),
            "jax_backend": jax.default_backend(),
        },
        "cases": {},
    }
    for case in args.cases:
        report["cases"][case] = run_case(case, args)
        print(markdown(case, report["cases"][case]) + "\n", flush=True)
    report["load_average"] = {"start": load_start, "end": load_average()}
    print(f"load average: start {load_start}, end {report['load_average']['end']}")
    with open(args.json, "w") as file:
        json.dump(report, file, indent=2)
    print(f"wrote {args.json}")
    return report


if __name__ == "__main__":
    main()
