"""Sampling speed: a 1000-step DDPM chain and an annealed-Langevin chain, genjax against PyTorch.

Full run (the BENCHMARKS.md figures), from the repository root::

    python -m experiments.benchmarks.diffusion_speed \
        --json=experiments/benchmarks/results/diffusion_speed.json

``--smoke`` runs in seconds (tests/experiments/test_benchmark_smoke.py). Each case is a whole chain
for ``--num_samples`` samples with the network of a config (random parameters, identical on both
sides: genjax's are loaded into the PyTorch twin of ``diffusion_torch.py`` and the outputs
compared):

* ``ddpm_unet_digits``: ``ddpm.py:linear_digits``'s U-Net, 1000 ancestral steps (clipped x_0,
  variance beta);
* ``ncsn_unet_digits``: ``score.py:ncsn_digits``'s U-Net, annealed Langevin over its 20 sigmas x
  50 steps (1000 network calls) plus the final denoising step;
* ``ddpm_mlp_toy2d``: ``ddpm.py:linear_two_moons``'s MLP, 1000 steps, where per-step dispatch
  dominates.

genjax runs the chain as one jitted ``lax.scan`` (``model.sample``); PyTorch as a Python loop under
``no_grad`` (``torch_eager``) and with the network compiled (``torch_compile``). Contenders run in
interleaved rounds, one chain per round each, compared round by round.
"""

from __future__ import annotations

import argparse
import sys
import time

import jax
import numpy as np

from experiments.benchmarks.timing import (
    interleaved_rounds,
    paired_ratios,
    run_cases,
    summarise,
    unavailable,
)
from genjax import models
from genjax.spec import DataSpec

# name -> (config module, variant, element shape, sampler)
CASES = {
    "ddpm_unet_digits": ("ddpm", "linear_digits", (8, 8, 1), "ddpm"),
    "ncsn_unet_digits": ("score", "ncsn_digits", (8, 8, 1), "annealed_langevin"),
    "ddpm_mlp_toy2d": ("ddpm", "linear_two_moons", (2,), "ddpm"),
}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m experiments.benchmarks.diffusion_speed",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, from {list(CASES)}")
    parser.add_argument("--num_samples", type=int, default=64, help="chains run together (the batch)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--torch_threads", type=int, default=0, help="torch.set_num_threads; 0 keeps torch's")
    parser.add_argument("--torch_compile", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--compile_timeout", type=int, default=900)
    parser.add_argument("--smoke", action="store_true", help="tiny chains and networks, 1 round")
    parser.add_argument("--json", default="/tmp/diffusion_speed.json")
    args = parser.parse_args(argv)
    args.cases = args.cases.split(",")
    if args.smoke:
        args.num_samples, args.rounds, args.torch_compile = 4, 1, False
    return args


def genjax_parts(case: str, smoke: bool):
    """(config, model, params) of a case; smoke shrinks the chain and the network."""
    import importlib

    module, variant, shape, _ = CASES[case]
    config = importlib.import_module(f"experiments.configs.{module}").get_config(variant)
    if smoke:
        config.model.update(channels=8, hidden=(16,), embedding_dim=8)
        if module == "ddpm":
            config.model.num_timesteps = 50
            config.eval.bound_timesteps = 0
        else:
            config.model.update(num_sigmas=3, steps_per_sigma=4)
    num_levels = 17 if len(shape) == 3 else None
    dataset = DataSpec(name=variant, element_shape=shape, num_levels=num_levels)
    model = models.build(config, dataset)
    # Random but non-trivial parameters: the zero-initialised output layers are perturbed.
    params = model.init(jax.random.key(0), {"x": np.zeros((2, *shape), np.float32)})
    leaves, tree = jax.tree.flatten(params)
    noise = np.random.default_rng(1)
    params = jax.tree.unflatten(
        tree, [x + 0.02 * noise.standard_normal(x.shape).astype(np.float32) for x in leaves]
    )
    return config, model, params


def genjax_chain_runner(model, params, num_samples: int):
    sample = jax.jit(model.sample, static_argnums=2)
    jax.block_until_ready(sample(params, jax.random.key(0), num_samples))  # compile

    def run(chains: int) -> float:
        start = time.perf_counter()
        for index in range(chains):
            jax.block_until_ready(sample(params, jax.random.key(index + 1), num_samples))
        return time.perf_counter() - start

    return run


def torch_twin(config, params, shape):
    """The PyTorch network with genjax's parameters, and the largest output gap on a random input."""
    import torch

    from experiments.benchmarks import diffusion_torch

    m = config.model
    player = next(iter(params))
    if m.architecture == "unet":
        net = diffusion_torch.TorchUNet(
            shape,
            channels=m.channels,
            channel_mults=tuple(m.channel_mults),
            num_res_blocks=m.num_res_blocks,
            attention_resolutions=tuple(m.attention_resolutions),
            dropout=m.dropout,
        )
        torch_shape = (shape[2], shape[0], shape[1])
    else:
        net = diffusion_torch.TorchNoiseConditionalMLP(shape, tuple(m.hidden), m.embedding_dim)
        torch_shape = shape
    diffusion_torch.load_flax_params(net, jax.device_get(params[player]))
    net.eval()
    x = np.random.default_rng(2).standard_normal((3, *shape)).astype(np.float32)
    cond = np.array([0.5, 10.0, 300.0], np.float32)
    from genjax.models.networks.denoiser import make_network

    ours = np.asarray(make_network(m, shape).apply(params[player], x, cond))
    x_torch = torch.from_numpy(np.moveaxis(x, -1, 1).copy() if len(shape) == 3 else x)
    with torch.no_grad():
        theirs = net(x_torch, torch.from_numpy(cond)).numpy()
    theirs = np.moveaxis(theirs, 1, -1) if len(shape) == 3 else theirs
    return net, torch_shape, float(np.max(np.abs(ours - theirs))), diffusion_torch.num_params(net)


def torch_chain(config, net, torch_shape, num_samples: int, compiled: bool, timeout: int):
    from experiments.benchmarks import diffusion_torch
    from genjax.samplers.langevin import geometric_sigmas

    m = config.model
    if config.model.name == "ddpm":
        chain = diffusion_torch.ddpm_chain_runner(
            net,
            torch_shape,
            num_samples,
            num_steps=m.num_timesteps,
            compiled=compiled,
            compile_timeout=timeout,
        )
    else:
        chain = diffusion_torch.annealed_langevin_runner(
            net,
            torch_shape,
            num_samples,
            [float(s) for s in geometric_sigmas(m.sigma_max, m.sigma_min, m.num_sigmas)],
            step_size=m.step_size,
            steps_per_sigma=m.steps_per_sigma,
            scale_by_sigma=m.scale_by_sigma,
            final_denoise=m.final_denoise,
            compiled=compiled,
            compile_timeout=timeout,
        )
    chain()  # warm-up

    def run(chains: int) -> float:
        start = time.perf_counter()
        for _ in range(chains):
            chain()
        return time.perf_counter() - start

    return run


def run_case(case: str, args) -> dict:
    config, model, params = genjax_parts(case, args.smoke)
    shape = CASES[case][2]
    network_calls = (
        config.model.num_timesteps
        if config.model.name == "ddpm"
        else config.model.num_sigmas * config.model.steps_per_sigma + int(config.model.final_denoise)
    )
    runners = {"genjax": genjax_chain_runner(model, params, args.num_samples)}
    contenders = {"genjax": {"params": int(sum(x.size for x in jax.tree.leaves(params)))}}
    try:
        import torch

        if args.torch_threads:
            torch.set_num_threads(args.torch_threads)
        net, torch_shape, gap, count = torch_twin(config, params, shape)
        contenders["torch_eager"] = {
            "params": count,
            "max_abs_gap_same_params": gap,
            "threads": torch.get_num_threads(),
        }
        runners["torch_eager"] = torch_chain(
            config, net, torch_shape, args.num_samples, False, args.compile_timeout
        )
        if args.torch_compile:
            try:
                runners["torch_compile"] = torch_chain(
                    config, net, torch_shape, args.num_samples, True, args.compile_timeout
                )
            except Exception as error:  # noqa: BLE001 - reported, the other contenders still run
                contenders["torch_compile"] = unavailable(error)
    except ImportError as error:
        contenders["torch"] = unavailable(error)
    per_round = interleaved_rounds(runners, args.rounds, 1)
    summarise(per_round, contenders)
    torch_names = [name for name in runners if name.startswith("torch")]
    return {
        "config": f"{CASES[case][0]}.py:{CASES[case][1]}",
        "sampler": CASES[case][3],
        "network_calls_per_chain": network_calls,
        "num_samples": args.num_samples,
        "unit": "ms per whole chain",
        "contenders": contenders,
        "speedup_genjax_over_torch": paired_ratios(per_round, ["genjax"], torch_names),
    }


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    run_cases("diffusion_speed", argv, args.cases, lambda case: run_case(case, args), args.json, digits=1)


if __name__ == "__main__":
    main(sys.argv[1:])
