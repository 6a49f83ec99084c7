"""Where the digits U-Net's forward spends its time, in XLA:CPU and in PyTorch eager, layer by layer.

From the repository root::

    python -m experiments.benchmarks.unet_profile --json=experiments/benchmarks/results/unet_profile.json

The network is the U-Net of ``ddpm.py:linear_digits`` (and ``score.py:ncsn_digits``): 8x8x1 images,
32 channels, channel_mults (1, 2), one residual block per level, attention at 4x4; 701,345
parameters; batch 64 as in ``diffusion_speed``. Every leaf layer the forward calls (GroupNorm, 3x3
/ strided / 1x1 convolutions, Dense, attention, the nearest-x2 upsampling + convolution) is found by
intercepting one forward trace, then timed *in isolation* at the shape it sees in the network, once
jitted alone in genjax and once in PyTorch eager (``torch.set_num_threads(--torch_threads)``), with
the same shapes. Rows are per distinct (layer, shape) with the number of calls per forward; the
totals compare the sum of isolated times with the whole forward (*in context*). Ablations time the
whole genjax forward without GroupNorm's statistics or without attention, a second in-context view.
Contenders run in interleaved rounds; every call is timed alone and the figure per row is the 10th
percentile of those times (the least disturbed on a shared machine), in milliseconds.
"""

from __future__ import annotations

import argparse
import collections
import glob
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from experiments.benchmarks.timing import load_average, run_header
from genjax.models.networks import unet as unet_lib
from genjax.models.networks.convolution import Conv, UpsampleConv

NORMS = (nn.GroupNorm, unet_lib.GroupNorm)
CONVS = (nn.Conv, Conv, UpsampleConv)

DIGITS = dict(channels=32, channel_mults=(1, 2), num_res_blocks=1, attention_resolutions=(4,))
IMAGE = (8, 8, 1)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m experiments.benchmarks.unet_profile",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=20, help="calls per timed round")
    parser.add_argument("--torch_threads", type=int, default=2)
    parser.add_argument("--smoke", action="store_true", help="batch 4, 1 round, 2 calls")
    parser.add_argument(
        "--previous",
        action="store_true",
        help="profile the previous layers (flax GroupNorm, nn.Conv, repeat)",
    )
    parser.add_argument("--json", default="/tmp/unet_profile.json")
    args = parser.parse_args(argv)
    if args.smoke:
        args.batch, args.rounds, args.calls = 4, 1, 2
    return args


def leaf_calls(model: nn.Module, params, x, cond) -> list[tuple[str, nn.Module, tuple[int, ...]]]:
    """(path, unbound module, input shape) of every GroupNorm / Conv / Dense / AttnBlock call of a forward."""
    calls = []

    def interceptor(next_fun, args, kwargs, context):
        module = context.module
        if context.method_name == "__call__" and isinstance(
            module, (*NORMS, *CONVS, nn.Dense, unet_lib.AttnBlock)
        ):
            # Layers inside an attention block are timed as part of the block.
            if not any(isinstance(p, unet_lib.AttnBlock) for p in parents(module)):
                calls.append(("/".join(module.scope.path), module.clone(parent=None), tuple(args[0].shape)))
        return next_fun(*args, **kwargs)

    with nn.intercept_methods(interceptor):
        jax.eval_shape(lambda p: model.apply(p, x, cond), params)
    return calls


def parents(module: nn.Module):
    parent = module.parent
    while isinstance(parent, nn.Module):
        yield parent
        parent = parent.parent


def kind_of(path: str, module: nn.Module, shape: tuple[int, ...]) -> str:
    """A row label: layer kind, widths and resolution."""
    if isinstance(module, NORMS):
        return f"GroupNorm({module.num_groups}) + SiLU @ {shape[1]}x{shape[2]}x{shape[3]}"
    if isinstance(module, unet_lib.AttnBlock):
        return f"attention block @ {shape[1]}x{shape[2]}x{shape[3]}"
    if isinstance(module, nn.Dense):
        return f"Dense {shape[-1]}->{module.features}" + (" (temb)" if len(shape) == 2 else "")
    size, ksize, stride = f"{shape[1]}x{shape[2]}", module.kernel_size[0], module.strides
    stride = stride[0] if isinstance(stride, tuple) else (stride or 1)
    if isinstance(module, UpsampleConv):  # reads the small map
        return f"nearest x2 + conv3x3 {shape[3]}->{module.features} @ {size}->{2 * shape[1]}x{2 * shape[2]}"
    if path.endswith("_upsample"):  # nn.Conv after jnp.repeat: reads the large map
        return f"nearest x2 + conv3x3 {shape[3]}->{module.features} @ {shape[1] // 2}x{shape[2] // 2}->{size}"
    if stride == 2:
        return f"conv3x3 stride 2 {shape[3]}->{module.features} @ {size}"
    return f"conv{ksize}x{ksize} {shape[3]}->{module.features} @ {size}"


def genjax_layer(path: str, module: nn.Module, shape, key) -> Callable[[], object]:
    """A zero-argument call of the layer alone, jitted, on a random input of the network's shape."""
    repeat_first = path.endswith("_upsample") and not isinstance(module, UpsampleConv)
    x = jax.random.normal(key, (shape[0], shape[1] // 2, shape[2] // 2, shape[3]) if repeat_first else shape)
    params = module.init(key, jnp.zeros(shape))

    def forward(p, x):
        if repeat_first:  # the previous upsampling: jnp.repeat, then the layer
            x = jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)
        y = module.apply(p, x)
        return nn.silu(y) if isinstance(module, NORMS) else y

    jitted = jax.jit(forward)
    return lambda: jax.block_until_ready(jitted(params, x))


def use_previous_implementation() -> None:
    """Puts the U-Net's previous layers back (flax GroupNorm and nn.Conv, upsampling as repeat + conv)."""

    def flax_conv3x3(features, name, *, strides=1, zero=False):
        init = unet_lib.zero_init if zero else unet_lib.default_init
        return nn.Conv(features, (3, 3), (strides, strides), ((1, 1), (1, 1)), kernel_init=init, name=name)

    unet_lib.group_norm = lambda c, g, name: nn.GroupNorm(
        num_groups=unet_lib.group_count(c, g), epsilon=unet_lib.EPSILON, name=name
    )
    unet_lib.conv3x3 = flax_conv3x3
    unet_lib.upsample_conv3x3 = lambda h, name: flax_conv3x3(h.shape[-1], name)(
        jnp.repeat(jnp.repeat(h, 2, axis=1), 2, axis=2)
    )
    unet_lib.Conv = nn.Conv


def torch_layer(path: str, module: nn.Module, shape) -> Callable[[], object]:
    """The same layer in PyTorch eager (channels-first), under no_grad."""
    import torch
    import torch.nn.functional as F

    from experiments.benchmarks.diffusion_torch import TorchAttnBlock

    def nchw(s):
        return torch.randn(s[0], s[3], s[1], s[2])

    if isinstance(module, NORMS):
        layer, x = torch.nn.GroupNorm(module.num_groups, shape[-1], eps=module.epsilon), nchw(shape)

        def call():
            return F.silu(layer(x))
    elif isinstance(module, unet_lib.AttnBlock):
        layer, x = TorchAttnBlock(shape[-1], module.num_groups), nchw(shape)

        def call():
            return layer(x)
    elif isinstance(module, nn.Dense):
        layer, x = torch.nn.Linear(shape[-1], module.features), torch.randn(*shape)

        def call():
            return layer(x)
    else:
        stride = module.strides[0] if isinstance(module.strides, tuple) else (module.strides or 1)
        k = module.kernel_size[0]
        layer = torch.nn.Conv2d(shape[3], module.features, k, stride=stride, padding=k // 2)
        if path.endswith("_upsample"):
            small = (
                shape
                if isinstance(module, UpsampleConv)
                else (shape[0], shape[1] // 2, shape[2] // 2, shape[3])
            )
            x = nchw(small)

            def call():
                return layer(F.interpolate(x, scale_factor=2, mode="nearest"))
        else:
            x = nchw(shape)

            def call():
                return layer(x)

    def run():
        with torch.no_grad():
            call()

    return run


def fastest_per_call(calls: dict[str, Callable[[], object]], rounds: int, repeats: int) -> dict[str, float]:
    """ms per call of each contender: the 10th percentile of its ``rounds x repeats`` calls, each timed
    alone, in interleaved rounds. On a shared 2-core machine a call that loses a core is several times
    slower (PyTorch's OpenMP threads wait on each other), so a low percentile is the undisturbed cost."""
    for call in calls.values():
        call()
        call()
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            for _ in range(repeats):
                start = time.perf_counter()
                call()
                times[name].append((time.perf_counter() - start) * 1e3)
    return {name: float(np.percentile(values, 10)) for name, values in times.items()}


class NoStatsGroupNorm(nn.Module):
    """Ablation only: GroupNorm's affine part without its statistics (same parameters)."""

    num_groups: int
    epsilon: float

    @nn.compact
    def __call__(self, x):
        c = x.shape[-1]
        return x * self.param("scale", nn.initializers.ones, (c,)) + self.param(
            "bias", nn.initializers.zeros, (c,)
        )


def ablated_forward(batch: int, ablation: str) -> Callable[[], object]:
    """The whole jitted forward, optionally without GroupNorm statistics or without attention blocks."""
    original_norm, original_attn = unet_lib.group_norm, unet_lib.AttnBlock.__call__
    try:
        if ablation == "no_groupnorm_stats":
            unet_lib.group_norm = lambda c, g, name: NoStatsGroupNorm(
                unet_lib.group_count(c, g), 1e-6, name=name
            )
        elif ablation == "no_attention":
            unet_lib.AttnBlock.__call__ = nn.compact(lambda self, x: x)
        model = unet_lib.UNet(**DIGITS)
        x = jax.random.normal(jax.random.key(1), (batch, *IMAGE))
        cond = jnp.linspace(0.0, 999.0, batch)
        params = model.init(jax.random.key(0), x, cond)
        jitted = jax.jit(model.apply)
        jax.block_until_ready(jitted(params, x, cond))  # traces now, while the patch holds
    finally:
        unet_lib.group_norm, unet_lib.AttnBlock.__call__ = original_norm, original_attn
    return lambda: jax.block_until_ready(jitted(params, x, cond))


def layer_kind(op_name: str) -> str:
    """The U-Net part an HLO op belongs to, from its metadata op_name (the flax module path)."""
    for kind, pattern in (
        ("GroupNorm statistics + normalisation", r"norm"),
        ("attention", r"attn"),
        ("time embedding", r"temb"),
        ("nearest x2 + conv (upsample)", r"upsample"),
        ("strided conv (downsample)", r"downsample"),
        ("1x1 skip conv", r"/skip/"),
        ("3x3 convs", r"conv"),
        ("concatenations", r"concatenate"),
    ):
        if re.search(pattern, op_name):
            return kind
    return "SiLU, adds, other elementwise"


def in_context_profile(apply, params, x, cond, calls: int) -> dict[str, float]:
    """ms per forward that XLA:CPU's thunks spend in each U-Net part, from a jax.profiler trace (needs
    ``--xla_cpu_enable_xprof_traceme=true``). Thunks on both threads are summed, so the total exceeds
    the wall time when two run at once."""
    from jax.profiler import ProfileData

    compiled = jax.jit(apply).lower(params, x, cond).compile()
    op_names = {}
    for line in compiled.as_text().splitlines():
        if found := re.match(r'\s*(?:ROOT )?%([\w.\-]+) = .*?op_name="([^"]*)"', line):
            op_names.setdefault(found.group(1), found.group(2))
    for _ in range(3):
        jax.block_until_ready(compiled(params, x, cond))
    with tempfile.TemporaryDirectory() as trace_dir:
        with jax.profiler.trace(trace_dir):
            for _ in range(calls):
                jax.block_until_ready(compiled(params, x, cond))
        (path,) = glob.glob(f"{trace_dir}/**/*.xplane.pb", recursive=True)
        profile = ProfileData.from_file(path)
    totals = collections.Counter()
    for plane in profile.planes:
        for line in plane.lines:
            for event in line.events:
                if event.name in op_names:
                    totals[layer_kind(op_names[event.name])] += event.duration_ns / 1e6 / calls
    return dict(totals.most_common())


def run_profile(args) -> dict:
    import torch

    from experiments.benchmarks import diffusion_torch

    torch.set_num_threads(args.torch_threads)
    model = unet_lib.UNet(**DIGITS)
    x = jax.random.normal(jax.random.key(1), (args.batch, *IMAGE))
    cond = jnp.linspace(0.0, 999.0, args.batch)
    params = model.init(jax.random.key(0), x, cond)
    rows: dict[str, dict] = {}
    counts = collections.Counter()
    for path, module, shape in leaf_calls(model, params, x, cond):
        label = kind_of(path, module, shape)
        counts[label] += 1
        if label not in rows:
            rows[label] = {
                "genjax": genjax_layer(path, module, shape, jax.random.key(2)),
                "torch": torch_layer(path, module, shape),
            }
    results = []
    for label, calls in rows.items():
        best = fastest_per_call(calls, args.rounds, args.calls)
        results.append(
            {"layer": label, "calls_per_forward": counts[label], **{f"{k}_ms": v for k, v in best.items()}}
        )
        print(f"{label:55s} x{counts[label]}  genjax {best['genjax']:7.3f} ms  torch {best['torch']:7.3f} ms")

    net = diffusion_torch.TorchUNet(IMAGE, **DIGITS).eval()
    diffusion_torch.load_flax_params(net, jax.device_get(params))
    x_torch, c_torch = (
        torch.from_numpy(np.moveaxis(np.asarray(x), -1, 1).copy()),
        torch.from_numpy(np.array(cond)),
    )

    def torch_forward():
        with torch.no_grad():
            net(x_torch, c_torch)

    whole = fastest_per_call(
        {
            "genjax": ablated_forward(args.batch, "none"),
            "genjax_no_groupnorm_stats": ablated_forward(args.batch, "no_groupnorm_stats"),
            "genjax_no_attention": ablated_forward(args.batch, "no_attention"),
            "torch": torch_forward,
        },
        args.rounds,
        args.calls,
    )
    print({k: round(v, 3) for k, v in whole.items()})
    in_context = in_context_profile(model.apply, params, x, cond, args.calls)
    print("in context (thunk ms per forward):", {k: round(v, 2) for k, v in in_context.items()})
    return {
        "network": "ddpm.py:linear_digits U-Net",
        "implementation": "previous (flax GroupNorm, nn.Conv, repeat + conv)" if args.previous else "current",
        "params": int(sum(a.size for a in jax.tree.leaves(params))),
        "batch": args.batch,
        "unit": "ms per call, 10th percentile of individually timed calls in interleaved rounds",
        "torch_threads": args.torch_threads,
        "layers": results,
        "sum_of_isolated_ms": {
            side: sum(r[f"{side}_ms"] * r["calls_per_forward"] for r in results)
            for side in ("genjax", "torch")
        },
        "whole_forward_ms": whole,
        "in_context_thunk_ms": in_context,
    }


def main(argv: list[str]) -> None:
    import json

    args = parse_args(argv)
    if args.previous:
        use_previous_implementation()
    # Per-thunk trace events for the in-context profile; XLA reads XLA_FLAGS when the backend starts.
    os.environ["XLA_FLAGS"] = " ".join(
        [os.environ.get("XLA_FLAGS", ""), "--xla_cpu_enable_xprof_traceme=true"]
    )
    report = {**run_header("unet_profile", "experiments.benchmarks.unet_profile", argv)}
    report["load_average_before"] = load_average()
    report["profile"] = run_profile(args)
    report["load_average_after"] = load_average()
    with open(args.json, "w") as handle:
        json.dump(report, handle, indent=2)


if __name__ == "__main__":
    main(sys.argv[1:])
