"""Autoregressive speed: PixelCNN sampling, and MADE / PixelCNN train steps, genjax against PyTorch.

From the repository root, on an idle machine::

    python -m experiments.benchmarks.ar_speed --json=experiments/benchmarks/results/ar_speed.json

``--smoke`` runs in seconds on tiny images (tests/experiments/test_benchmark_smoke.py); ``--cases``
picks a subset. Cases:

* ``sample_pixelcnn``: binary 28x28x1 images per second from a PixelCNN (`--features`,
  `--num_blocks`, `--first_kernel`, `--output_features`; two hidden 1x1 output layers) at batch
  `--batch`. genjax: all 784 pixels in ONE jitted ``lax.fori_loop``, each iteration a full network
  pass and a Bernoulli(sigmoid(logit)) draw of pixel d; also "genjax host loop", the same jitted
  step called 784 times from Python (XLA:CPU runs convolutions inside a loop body more slowly,
  see genjax/train/step.py); and "genjax row window", the family's sampler: the same single loop,
  each pass on only the ``context_rows + 1`` rows the pixel can read (bit-identical samples,
  tests/models/autoregressive/test_image_sampling.py). torch: the same net (masked ``Conv2d``,
  same masks and copied parameters), a Python loop over the pixels under ``torch.no_grad`` as
  pytorch-generative samples.
* ``train_made``: genjax's flows ``MADE(hidden (500,), num_params=1)`` on D = 784, batch 100, against
  a torch MADE of masked ``Linear`` layers with the same degree masks.
* ``train_pixelcnn``: the PixelCNN above at batch `--pixelcnn_batch`.
* ``train_gated_pixelcnn``: the unconditional Gated PixelCNN of the repo's ``gated_pixelcnn_digits``
  config by default (binary 8x8 images, F = 32, 4 gated layers: 7 then 3, two 64-wide 1x1 output
  layers, batch 128; `--gated_*` flags), against a torch twin of the same layers and parameters.
* ``masked_layers``: the masked layers alone, forward + both gradients, genjax's tap form against
  the dense masked kernel (`lax.conv_general_dilated`), in GFLOP/s of useful multiply-adds (2 x
  the visible taps' multiply-adds, x3 for forward and the two gradients) beside the machine's
  large-matmul rate (a 1024^3 float32 ``jnp.dot``) timed in the same interleaved rounds.

Train steps: Adam 1e-3 (constant) on the mean over the batch of the summed BCE-with-logits (=
-log p(x)), random binary batches (13% ones, like MNIST). genjax runs its real jitted train step
(``genjax.train.step.make_train_step`` via ``timing.genjax_runner``) at K = 1 and K =
`--steps_per_call` steps per call; torch runs eager, eager with fused Adam and ``torch.compile``.
Both sides float32 on the CPU, one intra-op thread per core; both start from the same parameters.
Contenders run in interleaved rounds and are compared round by round: ratio = torch time /
genjax time = genjax speed / torch speed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from experiments.benchmarks.reports import write_json
from experiments.benchmarks.timing import (
    Runner,
    genjax_runner,
    interleaved_rounds,
    load_average,
    paired_ratios,
    run_header,
    summarise,
    unavailable,
)
from experiments.configs.common import adam, base_config
from genjax.distributions import bernoulli_log_prob
from genjax.models.autoregressive.gated_pixelcnn import GatedPixelCNN
from genjax.models.autoregressive.pixelcnn import PixelCNN
from genjax.models.bundle import GenerativeModel
from genjax.models.networks import masked
from genjax.models.networks.made import MADE
from genjax.models.networks.masked import dense_conv, masked_conv, pixel_mask
from genjax.optim import make_optimizers
from genjax.samplers import bernoulli_logit_sampler, sample_image_autoregressive
from genjax.train.step import init_train_state

CASES = ("sample_pixelcnn", "train_made", "train_pixelcnn", "train_gated_pixelcnn", "masked_layers")
INK = 0.13  # fraction of ones in the random binary images


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m experiments.benchmarks.ar_speed",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--cases", default=",".join(CASES), help=f"comma list of {', '.join(CASES)}")
    add("--image_size", type=int, default=28, help="H = W of the binary images (D = H W)")
    add("--batch", type=int, default=16, help="images sampled per call")
    add("--features", type=int, default=16, help="PixelCNN h (the residual stream has 2h channels)")
    add("--num_blocks", type=int, default=2, help="PixelCNN residual blocks")
    add("--first_kernel", type=int, default=7, help="PixelCNN's mask-A kernel size")
    add("--output_features", type=int, default=32, help="PixelCNN's two hidden 1x1 output layers")
    add("--made_hidden", type=int, default=500, help="MADE's hidden width (one layer)")
    add("--made_batch", type=int, default=100)
    add("--pixelcnn_batch", type=int, default=32, help="PixelCNN train-step batch")
    add("--gated_image_size", type=int, default=8, help="Gated PixelCNN images (gated_pixelcnn_digits: 8)")
    add("--gated_features", type=int, default=32, help="Gated PixelCNN F (gated_pixelcnn_digits: 32)")
    add("--gated_layers", type=int, default=4, help="Gated PixelCNN layers (gated_pixelcnn_digits: 4)")
    add("--gated_output_features", type=int, default=64, help="its 1x1 output layers (digits config: 64)")
    add("--gated_batch", type=int, default=128, help="Gated PixelCNN train-step batch (digits config: 128)")
    add("--rounds", type=int, default=5, help="interleaved timing rounds")
    add("--steps", type=int, default=20, help="train steps per contender per round")
    add("--steps_per_call", type=int, default=10, help="K train steps per genjax call")
    add("--torch_compile", action=argparse.BooleanOptionalAction, default=True)
    add("--compile_timeout", type=int, default=300, help="seconds allowed for torch.compile")
    add("--torch_threads", type=int, default=0, help="torch intra-op threads; 0 = one per core")
    add("--json", default="/tmp/ar_speed.json", help="where to write the figures")
    add("--smoke", action="store_true", help="6x6 images, tiny nets, 2 rounds of 3 steps, no torch.compile")
    args = parser.parse_args(argv)
    if args.smoke:
        args.image_size, args.batch, args.features, args.num_blocks, args.first_kernel = 6, 2, 4, 1, 3
        args.output_features, args.made_hidden, args.made_batch, args.pixelcnn_batch = 8, 16, 8, 4
        args.rounds, args.steps, args.steps_per_call, args.torch_compile = 2, 3, 2, False
        args.gated_image_size, args.gated_features, args.gated_layers = 6, 4, 2
        args.gated_output_features, args.gated_batch = 8, 4
    args.cases = [case for case in args.cases.split(",") if case]
    if unknown := [case for case in args.cases if case not in CASES]:
        parser.error(f"--cases: unknown {', '.join(unknown)}; known: {', '.join(CASES)}")
    sizes = ("image_size", "batch", "features", "made_hidden", "made_batch", "pixelcnn_batch", "rounds")
    sizes += ("gated_image_size", "gated_features", "gated_layers", "gated_batch")
    if min(getattr(args, name) for name in (*sizes, "steps", "steps_per_call")) <= 0:
        parser.error("sizes, --rounds, --steps and --steps_per_call must be positive")
    return args


def pixelcnn_module(args) -> PixelCNN:
    return PixelCNN(
        num_params=1,
        features=args.features,
        num_blocks=args.num_blocks,
        first_kernel=args.first_kernel,
        output_features=args.output_features,
    )


def gated_module(args) -> GatedPixelCNN:
    return GatedPixelCNN(
        num_params=1,
        features=args.gated_features,
        num_layers=args.gated_layers,
        output_features=args.gated_output_features,
    )


def random_images(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return (rng.random(shape) < INK).astype(np.float32)


# --- sampling -------------------------------------------------------------------------------------


def pixelcnn_samplers(module: PixelCNN, batch: int, size: int) -> dict[str, Callable[[Any, jax.Array], Any]]:
    """``(params, rng) -> [batch, size, size, 1]`` binary samples: one fori_loop over whole images,
    a host loop, or one fori_loop over row windows (`genjax.samplers.sample_image_autoregressive`)."""
    num_dims = size * size

    def draw(params, x: jax.Array, d: jax.Array, key: jax.Array) -> jax.Array:
        """A full pass on the partial images ``x``, then pixel d ~ Bernoulli(sigmoid(its logit))."""
        logits = module.apply(params, x).reshape(batch, num_dims)
        logit = jax.lax.dynamic_index_in_dim(logits, d, axis=1, keepdims=False)
        bit = jax.random.bernoulli(key, jax.nn.sigmoid(logit)).astype(x.dtype)
        return x.reshape(batch, num_dims).at[:, d].set(bit).reshape(x.shape)

    @jax.jit
    def fori_loop(params, rng):
        keys = jax.random.split(rng, num_dims)
        x = jnp.zeros((batch, size, size, 1), jnp.float32)
        return jax.lax.fori_loop(0, num_dims, lambda d, x: draw(params, x, d, keys[d]), x)

    step = jax.jit(draw, donate_argnums=1)

    def host_loop(params, rng):
        keys = jax.random.split(rng, num_dims)
        x = jnp.zeros((batch, size, size, 1), jnp.float32)
        for d in range(num_dims):
            x = step(params, x, jnp.int32(d), keys[d])
        return x

    @jax.jit
    def row_window(params, rng):
        # The family's sampler: the same loop, each pass on the context_rows + 1 rows it needs.
        return sample_image_autoregressive(
            rng,
            lambda images: module.apply(params, images),
            bernoulli_logit_sampler,
            jnp.zeros((batch, size, size, 1), jnp.float32),
            context_rows=module.context_rows,
        )

    return {"genjax fori_loop": fori_loop, "genjax host loop": host_loop, "genjax row window": row_window}


def sampling_runner(sample: Callable[[], Any]) -> Runner:
    """``calls -> seconds`` for that many complete batches of samples (after one untimed call)."""

    def run(calls: int) -> float:
        start = time.perf_counter()
        for _ in range(calls):
            jax.block_until_ready(sample())  # torch tensors are leaves too: a no-op for them
        return time.perf_counter() - start

    run(1)
    return run


def run_sampling(args) -> dict[str, Any]:
    import torch

    from experiments.benchmarks import ar_torch

    size, batch = args.image_size, args.batch
    module = pixelcnn_module(args)
    params = jax.jit(module.init)(jax.random.key(0), jnp.zeros((1, size, size, 1)))
    net = ar_torch.torch_pixelcnn(args)
    ar_torch.load_pixelcnn(net, params)
    agreement = ar_torch.logit_agreement(
        module, params, net, random_images(np.random.default_rng(1), (4, size, size, 1))
    )

    runners: dict[str, Runner] = {}
    keys = iter(jax.random.split(jax.random.key(1), 10_000))
    samplers = pixelcnn_samplers(module, batch, size)
    for name, sampler in samplers.items():
        runners[name] = sampling_runner(lambda sampler=sampler: sampler(params, next(keys)))
    # The family's sampler with the whole masked kernels (before issue 18); traced in its first call.
    previous, masked.TAP_FORM = masked.TAP_FORM, "dense"
    try:
        row_window = pixelcnn_samplers(module, batch, size)["genjax row window"]
        runners["genjax row window, dense masks (before)"] = sampling_runner(
            lambda: row_window(params, next(keys))
        )
    finally:
        masked.TAP_FORM = previous
    torch.manual_seed(0)
    runners["torch eager loop"] = sampling_runner(lambda: ar_torch.sample_pixelcnn(net, batch, size))
    samples = np.asarray(samplers["genjax fori_loop"](params, jax.random.key(2)))

    per_round = interleaved_rounds(runners, args.rounds, 1)
    timings: dict[str, dict[str, Any]] = {}
    summarise(per_round, timings)
    # One timed "step" is a whole batch here: report seconds per batch and images per second.
    contenders = {
        name: {
            **{f"{stat}_s_per_batch": entry[f"{stat}_ms"] / 1e3 for stat in ("median", "min", "max")},
            "rounds_s_per_batch": [ms / 1e3 for ms in entry["rounds_ms"]],
            "images_per_s": batch * entry["steps_per_s"],
        }
        for name, entry in timings.items()
    }
    genjax_names = [name for name in runners if name.startswith("genjax")]
    return {
        "element_shape": [size, size, 1],
        "batch_size": batch,
        "network_passes_per_batch": size * size,
        "parameters": parameter_counts(params, net),
        "max_abs_logit_difference": agreement,
        "sample_mean": float(samples.mean()),
        "samples_binary": bool(np.isin(samples, (0.0, 1.0)).all()),
        "contenders": contenders,
        "ratios": paired_ratios(per_round, genjax_names, ["torch eager loop"]),
        "taps_vs_dense": paired_ratios(
            per_round, ["genjax row window"], ["genjax row window, dense masks (before)"]
        ),
    }


def parameter_counts(params, net) -> dict[str, int]:
    return {
        "genjax": int(sum(leaf.size for leaf in jax.tree.leaves(params))),
        "torch": int(sum(p.numel() for p in net.parameters())),
    }


# --- train steps ----------------------------------------------------------------------------------


def bernoulli_bundle(
    apply_logits: Callable, init: Callable, element_shape: tuple[int, ...]
) -> GenerativeModel:
    """A one-player bundle whose loss is the mean over the batch of -log p(x) (summed BCE with logits)."""

    def nll(params, batch, rng=None):
        x = batch["x"].reshape(batch["x"].shape[0], -1)
        logits = apply_logits(params["model"], batch["x"]).reshape(x.shape)
        return -bernoulli_log_prob(x, logits)

    def loss(params, batch, rng):
        value = jnp.mean(nll(params, batch))
        return value, {"nll": value}

    def no_sampling(params, rng, num_samples):
        raise NotImplementedError("timing bundle: sampling is the sample_pixelcnn case")

    return GenerativeModel(
        init=lambda rng, batch: {"model": init(rng, batch["x"])},
        losses={"model": loss},
        sample=no_sampling,
        log_prob=lambda params, batch, rng=None: -nll(params, batch),
        element_shape=element_shape,
    )


def train_parts(case: str, args):
    """(genjax bundle, torch net, loader, torch layout of a batch, element shape, batch size, module)."""
    from experiments.benchmarks import ar_torch

    size = args.image_size
    if case == "train_made":
        num_dims = size * size
        made = MADE((args.made_hidden,), num_params=1)
        model = bernoulli_bundle(
            lambda p, x: made.apply(p, x)[..., 0], lambda rng, x: made.init(rng, x), (num_dims,)
        )
        net = ar_torch.TorchMADE(num_dims, (args.made_hidden,))
        return model, net, ar_torch.load_made, (lambda pool: pool), (num_dims,), args.made_batch, None
    if case == "train_gated_pixelcnn":
        size, batch = args.gated_image_size, args.gated_batch
        module, net, load = (
            gated_module(args),
            ar_torch.torch_gated_pixelcnn(args),
            ar_torch.load_gated_pixelcnn,
        )
    else:
        module, net, load, batch = (
            pixelcnn_module(args),
            ar_torch.torch_pixelcnn(args),
            ar_torch.load_pixelcnn,
            args.pixelcnn_batch,
        )
    model = bernoulli_bundle(lambda p, x: module.apply(p, x), module.init, (size, size, 1))
    to_nchw = lambda pool: pool.transpose(0, 1, 4, 2, 3)  # noqa: E731
    return model, net, load, to_nchw, (size, size, 1), batch, module


def run_training(case: str, args) -> dict[str, Any]:
    import torch

    from experiments.benchmarks import ar_torch

    model, net, load, to_torch, element_shape, batch, module = train_parts(case, args)
    config = base_config("autoregressive")
    config.optim.model = adam(1e-3)  # constant, as the torch loop
    k = args.steps_per_call
    pool = random_images(np.random.default_rng(0), (max(k, 8), batch, *element_shape))
    optimizers = make_optimizers(config, model.players)
    state = init_train_state(model, optimizers, {"x": pool[0]}, seed=config.seed, ema=False)
    load(net, state.params["model"])
    tensors = list(torch.from_numpy(np.ascontiguousarray(to_torch(pool))))
    loss_genjax = float(model.losses["model"](state.params, {"x": pool[0]}, jax.random.key(0))[0])
    agreement = (
        None if module is None else ar_torch.logit_agreement(module, state.params["model"], net, pool[0])
    )
    with torch.no_grad():
        x = tensors[0]
        loss_torch = float(
            torch.nn.functional.binary_cross_entropy_with_logits(net(x), x, reduction="sum") / batch
        )

    runners: dict[str, Runner] = {}
    contenders: dict[str, dict[str, Any]] = {}
    genjax_names = ["genjax K=1", f"genjax K={k}"]
    for name, steps in zip(genjax_names, (1, k), strict=True):
        runners[name], _ = genjax_runner(model, optimizers, state, config, {"x": pool[:steps]})
    before = "genjax K=1 dense masks (before)"
    if module is not None:  # the same step with the whole masked kernels (the layers before issue 18)
        # As the loop ran it before issue 18: one jitted call per step (step_loop=host), since
        # lax's own gradient convolutions are ~10x slower inside a scan body on XLA:CPU.
        before_config = config.copy_and_resolve_references()
        before_config.train.step_loop = "host"
        previous, masked.TAP_FORM = masked.TAP_FORM, "dense"
        try:
            runners[before], _ = genjax_runner(model, optimizers, state, before_config, {"x": pool[:1]})
        finally:
            masked.TAP_FORM = previous
    for name, fused in (("torch eager", False), ("torch eager fused-Adam", True)):
        runners[name] = ar_torch.torch_train_contender(net, tensors, fused=fused, compiled=False, timeout=0)
    if args.torch_compile:
        start = time.perf_counter()
        try:
            runners["torch.compile"] = ar_torch.torch_train_contender(
                net, tensors, fused=False, compiled=True, timeout=args.compile_timeout
            )
            contenders["torch.compile"] = {"compile_s": time.perf_counter() - start}
        except Exception as error:  # any compiler failure is a fact to report
            contenders["torch.compile"] = unavailable(error)
    else:
        contenders["torch.compile"] = {"unavailable": "unavailable: skipped (--no-torch_compile or --smoke)"}

    per_round = interleaved_rounds(runners, args.rounds, args.steps)
    summarise(per_round, contenders)
    for name in runners:
        contenders[name]["examples_per_s"] = batch * contenders[name]["steps_per_s"]
    torch_names = [name for name in runners if name.startswith("torch")]
    return {
        "element_shape": list(element_shape),
        "batch_size": batch,
        "parameters": parameter_counts(state.params["model"], net),
        "initial_loss": {"genjax": loss_genjax, "torch": loss_torch},
        "max_abs_logit_difference": agreement,
        "contenders": {name: contenders[name] for name in [*runners, "torch.compile"] if name in contenders},
        "ratios": paired_ratios(
            per_round, [name for name in runners if name.startswith("genjax")], torch_names
        ),
        "taps_vs_dense": paired_ratios(per_round, genjax_names[:1], [before]) if module is not None else None,
    }


# --- masked layers alone ---------------------------------------------------------------------------


def masked_layer_shapes(args) -> dict[str, tuple[int, int, tuple[int, int], str, int, int]]:
    """name -> (batch, image size, kernel, mask, in, out) of the benchmarked nets' masked layers."""
    f, g = args.features, args.gated_features
    pixel, gated = (args.pixelcnn_batch, args.image_size), (args.gated_batch, args.gated_image_size)
    return {
        f"pixelcnn {args.first_kernel}x{args.first_kernel} A 1->{2 * f}": (
            *pixel,
            (args.first_kernel,) * 2,
            "A",
            1,
            2 * f,
        ),
        f"pixelcnn 3x3 B {f}->{f}": (*pixel, (3, 3), "B", f, f),
        f"gated 1x7 A 1->{2 * g}": (*gated, (1, 7), "A", 1, 2 * g),
        f"gated 1x3 B {g}->{2 * g}": (*gated, (1, 3), "B", g, 2 * g),
    }


def run_masked_layers(args) -> dict[str, Any]:
    """Forward + input and kernel gradients of each masked layer: taps against the dense masked kernel."""
    rng = np.random.default_rng(0)
    runners: dict[str, Runner] = {}
    work: dict[str, float] = {}

    def runner(program, *inputs) -> Runner:
        jax.block_until_ready(program(*inputs))

        def run(steps: int) -> float:
            start = time.perf_counter()
            for _ in range(steps):
                out = program(*inputs)
            jax.block_until_ready(out)
            return time.perf_counter() - start

        return run

    square = jnp.asarray(rng.normal(size=(1024, 1024)), jnp.float32)
    runners["matmul_1024"] = runner(jax.jit(jnp.dot), square, square)
    for name, (batch, size, kernel_size, mask_type, c_in, c_out) in masked_layer_shapes(args).items():
        mask = pixel_mask(kernel_size, c_in, c_out, 1, mask_type=mask_type)
        x = jnp.asarray(rng.normal(size=(batch, size, size, c_in)), jnp.float32)
        kernel = jnp.asarray(rng.normal(size=(*kernel_size, c_in, c_out)), jnp.float32)
        cotangent = jnp.asarray(rng.normal(size=(batch, size, size, c_out)), jnp.float32)
        taps = partial(masked_conv, mask_type=mask_type, num_groups=1)
        dense = partial(dense_masked_conv, mask=jnp.asarray(mask))
        for form, conv in (("genjax taps", taps), ("dense masked kernel", dense)):
            program = jax.jit(lambda x, k, g, conv=conv: jax.vjp(conv, x, k)[1](g))
            runners[f"{name}: {form}"] = runner(program, x, kernel, cotangent)
        work[name] = 3 * 2.0 * batch * size * size * float(mask.sum())  # forward + two gradients
    per_round = interleaved_rounds(runners, args.rounds, args.steps)
    median = {name: float(np.median(seconds)) for name, seconds in per_round.items()}
    matmul_gflops = 2.0 * 1024**3 / median.pop("matmul_1024") / 1e9
    layers = {}
    for name, flops in work.items():
        layers[name] = {
            form: {
                "median_ms": 1e3 * median[f"{name}: {form}"],
                "gflops": flops / median[f"{name}: {form}"] / 1e9,
                "of_matmul": flops / median[f"{name}: {form}"] / 1e9 / matmul_gflops,
            }
            for form in ("genjax taps", "dense masked kernel")
        }
        times = per_round[f"{name}: dense masked kernel"], per_round[f"{name}: genjax taps"]
        layers[name]["taps_speedup_median"] = float(np.median([d / t for d, t in zip(*times, strict=True)]))
        layers[name]["useful_gflop"] = flops / 1e9
    return {"matmul_gflops": matmul_gflops, "layers": layers}


def dense_masked_conv(x: jax.Array, kernel: jax.Array, mask: jax.Array) -> jax.Array:
    """The previous implementation: a 'SAME' convolution with the whole kernel times its mask."""
    kh, kw = kernel.shape[:2]
    return dense_conv(x, kernel * mask, ((kh // 2, kh // 2), (kw // 2, kw // 2)))


def masked_layers_markdown(result: dict[str, Any]) -> str:
    lines = [
        f"### masked_layers (forward + both gradients; matmul 1024^3: {result['matmul_gflops']:.1f} GFLOP/s)",
        "",
        "| layer | taps ms | taps GFLOP/s | of matmul | dense masked ms | dense GFLOP/s | taps speed-up |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, entry in result["layers"].items():
        taps, dense = entry["genjax taps"], entry["dense masked kernel"]
        lines.append(
            f"| {name} | {taps['median_ms']:.3g} | {taps['gflops']:.1f} | {taps['of_matmul']:.0%} "
            f"| {dense['median_ms']:.3g} | {dense['gflops']:.1f} | {entry['taps_speedup_median']:.2f}x |"
        )
    return "\n".join(lines)


# --- report ---------------------------------------------------------------------------------------


def markdown(case: str, result: dict[str, Any]) -> str:
    sampling = case == "sample_pixelcnn"
    unit, rate = ("s/batch", "images/s") if sampling else ("ms/step", "examples/s")
    key = "_s_per_batch" if sampling else "_ms"
    lines = [
        f"### {case} (shape {result['element_shape']}, batch {result['batch_size']})",
        "",
        f"| contender | median {unit} | min | max | {rate} |",
        "|---|---|---|---|---|",
    ]
    for name, entry in result["contenders"].items():
        if "unavailable" in entry:
            lines.append(f"| {name} | {entry['unavailable']} | | | |")
            continue
        speed = entry["images_per_s" if sampling else "examples_per_s"]
        lines.append(
            f"| {name} | {entry['median' + key]:.4g} | {entry['min' + key]:.4g} | {entry['max' + key]:.4g} "
            f"| {speed:.4g} |"
        )
    lines += [
        "",
        "| genjax speed / torch speed | median of rounds | min | max | best vs best |",
        "|---|---|---|---|---|",
    ]
    for name, r in result["ratios"].items():
        lines.append(
            f"| {name} | {r['median']:.2f}x | {r['min']:.2f}x | {r['max']:.2f}x | {r['best_vs_best']:.2f}x |"
        )
    for name, r in (result.get("taps_vs_dense") or {}).items():
        lines.append(f"\ntaps speed-up over the dense masked kernels ({name}): median {r['median']:.2f}x")
    params = result["parameters"]
    lines.append(f"\nparameters: genjax {params['genjax']}, torch {params['torch']}")
    if sampling:
        lines.append(f"max |logit difference| genjax vs torch: {result['max_abs_logit_difference']:.2e}")
    else:
        loss = result["initial_loss"]
        lines.append(f"initial loss: genjax {loss['genjax']:.4f}, torch {loss['torch']:.4f}")
        if result.get("max_abs_logit_difference") is not None:
            lines.append(f"max |logit difference| genjax vs torch: {result['max_abs_logit_difference']:.2e}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    # Both frameworks on the CPU, so an accelerator cannot make the comparison lopsided.
    jax.config.update("jax_platforms", "cpu")
    import torch

    torch.set_num_threads(args.torch_threads or os.cpu_count() or 1)
    torch.set_float32_matmul_precision("highest")  # plain float32, as XLA's CPU dots
    load_start = load_average()
    report: dict[str, Any] = {
        **run_header("ar_speed", "experiments.benchmarks.ar_speed", argv),
        "versions": {"jax": jax.__version__, "jaxlib": jax.lib.__version__, "torch": torch.__version__},
        "settings": {
            **{k: v for k, v in vars(args).items() if k != "json"},
            "dtype": "float32",
            "torch_threads": torch.get_num_threads(),
            "XLA_FLAGS": os.environ.get("XLA_FLAGS", ""),
            "jax_backend": jax.default_backend(),
        },
        "cases": {},
    }
    for case in args.cases:
        if case == "masked_layers":
            result = run_masked_layers(args)
            text = masked_layers_markdown(result)
        else:
            result = run_sampling(args) if case == "sample_pixelcnn" else run_training(case, args)
            text = markdown(case, result)
        report["cases"][case] = result
        print(text + "\n", flush=True)
    report["load_average"] = {"start": load_start, "end": load_average()}
    print(f"load average: start {load_start}, end {report['load_average']['end']}")
    write_json(args.json, report)
    print(f"wrote {args.json}")
    return report


if __name__ == "__main__":
    main()
