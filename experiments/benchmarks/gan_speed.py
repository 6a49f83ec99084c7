"""Train-step speed of the DCGAN: genjax (JAX/XLA) against the same GAN in PyTorch.

Full run (the BENCHMARKS.md figures), from the repository root::

    python -m experiments.benchmarks.gan_speed --json=experiments/benchmarks/results/gan_speed.json

``--smoke`` runs in seconds (tests/experiments/test_benchmark_smoke.py). A step is one
non-saturating discriminator update and one generator update, Adam(2e-4, b1 0.5) each, as
``experiments/configs/gan.py:non_saturating_<data>`` builds it: DCGAN generator (batch-statistics
norm, sigmoid output) and critic (no norm), on random [0, 1) images. The peers
(``gan_torch.py``) have the same layers and parameter counts, checked here by loading the genjax
parameters into them and comparing outputs:

* ``torch_eager``: the usual PyTorch loop (the generator step reuses the discriminator step's
  fakes and back-propagates through D's weights too);
* ``torch_same_work``: what genjax's two per-player losses compute (fresh noise for the generator
  step, generator gradients only);
* ``torch_fused``: the usual loop with the fused Adam kernel; ``torch_compile``: it compiled.

Contenders run in interleaved rounds, compared round by round (the machine may be shared).
"""

from __future__ import annotations

import argparse
import sys

import jax
import numpy as np

from experiments.benchmarks.timing import (
    genjax_runner,
    interleaved_rounds,
    paired_ratios,
    run_cases,
    summarise,
    unavailable,
)
from experiments.configs import gan as gan_config
from genjax import models
from genjax.optim import make_optimizers
from genjax.spec import DataSpec
from genjax.train.step import init_train_state

# name -> (config data variant, image shape, latent_dim, features)
CASES = {
    "mnist28": ("binarized_mnist", (28, 28, 1), 100, 64),
    "digits8": ("digits", (8, 8, 1), 64, 32),
}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m experiments.benchmarks.gan_speed",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--cases", default="mnist28,digits8", help=f"comma-separated, from {list(CASES)}")
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=11, help="interleaved timing rounds")
    parser.add_argument("--steps", type=int, default=20, help="train steps per contender per round")
    parser.add_argument("--torch_compile", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--compile_timeout", type=int, default=300, help="seconds allowed for torch.compile")
    parser.add_argument("--json", default="/tmp/gan_speed.json", help="where to write the figures")
    parser.add_argument("--smoke", action="store_true", help="8x8 only, 2 rounds of 3 steps, no compile")
    args = parser.parse_args(argv)
    if args.smoke:
        args.cases, args.rounds, args.steps, args.torch_compile = "digits8", 2, 3, False
    args.cases = args.cases.split(",")
    unknown = [case for case in args.cases if case not in CASES]
    if unknown:
        parser.error(f"--cases: unknown {unknown}; allowed: {', '.join(CASES)}")
    if min(args.rounds, args.steps, args.batch_size) <= 0:
        parser.error("--rounds, --steps and --batch_size must be positive")
    return args


def genjax_parts(case: str, batch_size: int, data: np.ndarray):
    """The GAN bundle of ``non_saturating_<data>`` at the case's size, its optimizers and state."""
    variant, shape, latent_dim, features = CASES[case]
    config = gan_config.get_config(f"non_saturating_{variant}")
    config.model.update(latent_dim=latent_dim, features=features)
    config.data.batch_size = batch_size
    dataset = DataSpec(name=variant, element_shape=shape, num_levels=2)
    model = models.build(config, dataset)
    optimizers = make_optimizers(config, model.players)
    state = init_train_state(model, optimizers, {"x": data[0]}, seed=0, ema=False)
    return config, model, optimizers, state


def same_function_check(params, shape: tuple[int, ...], latent_dim: int, features: int) -> float:
    """Largest |genjax - torch| over generator images and critic outputs with shared parameters."""
    import torch

    from experiments.benchmarks import gan_torch

    generator, discriminator = gan_torch.torch_dcgan(shape, latent_dim=latent_dim, features=features)
    gan_torch.load_generator(generator, params["generator"])
    gan_torch.load_discriminator(discriminator, params["discriminator"])
    z = np.random.default_rng(0).standard_normal((16, latent_dim)).astype(np.float32)
    # The bundle's generator applies exactly these modules; call them directly with the same z.
    from genjax.models.gan.dcgan import DCGANDiscriminator, DCGANGenerator

    images = DCGANGenerator(image_shape=shape, features=features).apply(params["generator"], z)
    logits = DCGANDiscriminator(features=features).apply(params["discriminator"], images)
    with torch.no_grad():
        torch_images = generator(torch.from_numpy(z))
        torch_logits = discriminator(torch_images)
    image_gap = np.max(np.abs(np.asarray(images).transpose(0, 3, 1, 2) - torch_images.numpy()))
    logit_gap = np.max(np.abs(np.asarray(logits) - torch_logits.numpy().reshape(-1)))
    return float(max(image_gap, logit_gap))


def run_case(case: str, args) -> dict:
    _, shape, latent_dim, features = CASES[case]
    rng = np.random.default_rng(0)
    pool_size = 4
    data = rng.random((pool_size, args.batch_size, *shape), dtype=np.float32)
    config, model, optimizers, state = genjax_parts(case, args.batch_size, data)
    runners, contenders = {}, {}
    runners["genjax"], _ = genjax_runner(model, optimizers, state, config, {"x": data[:1]})
    contenders["genjax"] = {"params": int(sum(x.size for x in jax.tree.leaves(state.params)))}
    try:
        from experiments.benchmarks import gan_torch

        generator, discriminator = gan_torch.torch_dcgan(shape, latent_dim=latent_dim, features=features)
        contenders["torch_eager"] = {
            "params": sum(p.numel() for net in (generator, discriminator) for p in net.parameters()),
            "max_abs_gap_same_params": same_function_check(
                jax.device_get(state.params), shape, latent_dim, features
            ),
        }
        common = dict(features=features, latent_dim=latent_dim, batch_size=args.batch_size, pool=data)
        runners["torch_eager"] = gan_torch.torch_gan_step_runner(shape, **common)
        runners["torch_same_work"] = gan_torch.torch_gan_step_runner(
            shape, reuse_fake=False, skip_critic_grads=True, **common
        )
        runners["torch_fused"] = gan_torch.torch_gan_step_runner(shape, fused=True, **common)
        if args.torch_compile:
            try:
                runners["torch_compile"] = gan_torch.torch_gan_step_runner(
                    shape, compiled=True, timeout=args.compile_timeout, **common
                )
            except Exception as error:  # noqa: BLE001 - reported, the other contenders still run
                contenders["torch_compile"] = unavailable(error)
    except ImportError as error:
        contenders["torch"] = unavailable(error)
    per_round = interleaved_rounds(runners, args.rounds, args.steps)
    summarise(per_round, contenders)
    torch_names = [name for name in runners if name.startswith("torch")]
    return {
        "image_shape": list(shape),
        "latent_dim": latent_dim,
        "features": features,
        "batch_size": args.batch_size,
        "contenders": contenders,
        "speedup_genjax_over_torch": paired_ratios(per_round, ["genjax"], torch_names),
    }


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    run_cases("gan_speed", argv, args.cases, lambda case: run_case(case, args), args.json, digits=2)


if __name__ == "__main__":
    main(sys.argv[1:])
