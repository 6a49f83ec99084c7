"""DDPM and NCSN on scikit-learn's 8x8 digits: the DDPM variational bound, sample grids, MMD.

Trains each run's config with the ordinary loop, then reports

* for DDPM, the full variational bound of Ho et al. (all T terms, discretised
  decoder over the 17 pixel levels) on the whole test split, in bits/dim, an
  upper bound on the test NLL, and the same for the uniform model (log2 17);
* for every run, the unbiased MMD^2 of 1000 samples to the test split beside the
  train-test floor (`gan_digits`' protocol and kernel), for DDPM also with
  50-step DDIM;

and writes sample grids::

    python -m experiments.benchmarks.diffusion_digits --workdir=/tmp/diffusion_digits \\
        --json=experiments/benchmarks/results/diffusion_digits.json --images=docs/images

``--runs`` picks among ``ddpm_linear``, ``ddpm_cosine`` and ``ncsn``; ``--num_steps=0``
keeps each config's own budget.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

from absl import app, flags

from experiments.benchmarks.reports import mmd_to_test, report_header, split_images, write_json
from experiments.cli import parse_flags, run_or_exit

RUNS = {
    "ddpm_linear": ("ddpm", "linear_digits"),
    "ddpm_cosine": ("ddpm", "cosine_digits"),
    "ncsn": ("score", "ncsn_digits"),
}

_WORKDIR = flags.DEFINE_string("workdir", None, "Parent of one run directory per run.")
_RUNS = flags.DEFINE_list("runs", ["ddpm_linear", "ncsn"], f"Runs: {', '.join(RUNS)}.")
_NUM_STEPS = flags.DEFINE_integer("num_steps", 0, "Training steps per run (0: the config's).")
_NUM_SAMPLES = flags.DEFINE_integer("num_samples", 1000, "Samples for the MMD.")
_JSON = flags.DEFINE_string("json", None, "Also write the results here.")
_IMAGES = flags.DEFINE_string("images", None, "Folder for diffusion_digits_<run>.png sample grids.")
flags.mark_flag_as_required("workdir")


def draw(model, params, num_samples: int, seed: int = 7):
    import jax
    import numpy as np

    started = time.perf_counter()
    samples = np.asarray(jax.jit(model.sample, static_argnums=2)(params, jax.random.key(seed), num_samples))
    return samples, round(time.perf_counter() - started, 1)


def benchmark(workdir: str, runs, num_steps: int, num_samples: int, images: str | None) -> dict:
    import importlib

    from genjax import models, visualize
    from genjax.train import train_and_evaluate
    from genjax.train.restore import evaluate_workdir, restore_from_workdir

    results = []
    for run in runs:
        module, variant = RUNS[run]
        config = importlib.import_module(f"experiments.configs.{module}").get_config(variant)
        if num_steps:
            config.train.num_steps = num_steps
        config.train.update(sample_every=0, eval_every=0, checkpoint_every=config.train.num_steps)
        run_dir = str(Path(workdir) / run)
        started, cpu_started = time.perf_counter(), time.process_time()
        train_and_evaluate(config, run_dir, print_fn=lambda *_: None)
        entry = {
            "run": run,
            "config": f"{module}.py:{variant}",
            "num_steps": config.train.num_steps,
            "batch_size": config.data.batch_size,
            "train_seconds": round(time.perf_counter() - started, 1),
            "train_cpu_seconds": round(time.process_time() - cpu_started, 1),
        }
        model, dataset, state, _ = restore_from_workdir(config, run_dir)
        samples, entry["sample_seconds"] = draw(model, state.eval_params(), num_samples)
        train, test = (split_images(dataset, config.data, s) for s in ("train", "test"))
        entry.update(mmd_to_test(samples, test, train))
        entry["ratio_to_train_test"] = round(entry["mmd_samples_test"] / entry["mmd_train_test"], 3)
        if module == "ddpm":
            config.eval.bound_timesteps = 0  # every one of the T terms: the exact bound
            started = time.perf_counter()
            report = evaluate_workdir(config, run_dir)
            entry.update(
                test_bound_bits_per_dim=round(report["bits_per_dim"], 4),
                test_bound_nats=round(report["nll"], 3),
                bound_seconds=round(time.perf_counter() - started, 1),
                uniform_bits_per_dim=round(math.log2(dataset.num_levels), 4),
            )
            ddim = config.copy_and_resolve_references()
            ddim.model.update(sampler="ddim", ddim_steps=50)
            ddim_samples, entry["ddim50_sample_seconds"] = draw(
                models.build(ddim, dataset), state.eval_params(), num_samples
            )
            entry["ddim50_mmd_samples_test"] = mmd_to_test(ddim_samples, test, train)["mmd_samples_test"]
            if images:
                visualize.save_image_grid(
                    Path(images) / f"diffusion_digits_{run}_ddim50.png", ddim_samples[:64], upscale=4
                )
        print(json.dumps(entry), flush=True)
        results.append(entry)
        if images:
            visualize.save_image_grid(Path(images) / f"diffusion_digits_{run}.png", samples[:64], upscale=4)
    return {
        **report_header("diffusion_digits"),
        "results": results,
    }


def main(argv):
    del argv

    def run():
        report = benchmark(_WORKDIR.value, _RUNS.value, _NUM_STEPS.value, _NUM_SAMPLES.value, _IMAGES.value)
        write_json(_JSON.value, report)
        return report

    report = run_or_exit(run)
    print(json.dumps(report["results"], indent=2))


if __name__ == "__main__":
    app.run(main, flags_parser=parse_flags)
