"""Mode coverage of GANs on the ring-of-8 and grid-of-25 Gaussians (VEEGAN's protocol).

For each recipe, density and seed, trains ``gan.py:<recipe>_<density>`` with the
ordinary loop, then draws 2500 samples from the (EMA) generator and reports
VEEGAN's two numbers (Srivastava et al. 2017): modes captured (a mode counts
when a high-quality sample lands on it) and the share of high-quality samples
(within 3 standard deviations of the nearest mode), plus the unbiased MMD to
the test split::

    python -m experiments.benchmarks.gan_modes --workdir=/tmp/gan_modes \\
        --json=experiments/benchmarks/results/gan_modes.json --figure=docs/images/gan_modes.png

``--recipes``, ``--densities``, ``--seeds`` and ``--num_steps`` choose a subset
or another budget (``--num_steps=0`` keeps each config's own). Metz et al.'s
unrolled GAN as published, unrolling from the critic's live Adam state::

    python -m experiments.benchmarks.gan_modes --workdir=/tmp/gan_modes_unrolled \
        --recipes=unrolled5,unrolled10 --densities=ring --seeds=0,1,2 \
        --json=experiments/benchmarks/results/gan_modes_unrolled.json
"""

from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path

from absl import app, flags

from experiments.benchmarks.reports import final_samples, report_header, save_figure, write_json
from experiments.cli import parse_flags, run_or_exit

_WORKDIR = flags.DEFINE_string("workdir", None, "Parent of one run directory per (recipe, density, seed).")
_RECIPES = flags.DEFINE_list("recipes", ["minimax", "non_saturating", "wgan_gp", "unrolled", "r1"], "GANs.")
_DENSITIES = flags.DEFINE_list("densities", ["ring", "25gaussians"], "toy2d Gaussian mixtures.")
_SEEDS = flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds per (recipe, density).")
_NUM_STEPS = flags.DEFINE_integer("num_steps", 0, "Training steps per run (0: the config's).")
_JSON = flags.DEFINE_string("json", None, "Also write the results here.")
_FIGURE = flags.DEFINE_string("figure", None, "PNG: samples of each recipe (seed 0) over the true density.")
flags.mark_flag_as_required("workdir")


def _summary(runs: list[dict]) -> dict:
    modes = [r["modes_captured"] for r in runs]
    quality = [r["high_quality_fraction"] for r in runs]
    return {
        "modes_mean": round(statistics.mean(modes), 2),
        "modes_min": min(modes),
        "high_quality_mean": round(statistics.mean(quality), 4),
        "high_quality_min": round(min(quality), 4),
        "mmd_mean": round(statistics.mean(r["mmd"] for r in runs), 5),
        "train_seconds_max": max(r["train_seconds"] for r in runs),
        "train_cpu_seconds_max": max(r["train_cpu_seconds"] for r in runs),
    }


def benchmark(workdir: str, recipes, densities, seeds, num_steps: int) -> tuple[dict, list]:
    from experiments.configs import gan as gan_configs
    from genjax.train import train_and_evaluate

    results, summaries, rows = [], [], []
    for density in densities:
        panels, log_density = [], None
        for recipe in recipes:
            runs = []
            for seed in seeds:
                config = gan_configs.get_config(f"{recipe}_{density}")
                config.seed = int(seed)
                if num_steps:
                    config.train.num_steps = num_steps
                config.train.update(sample_every=0, eval_every=0, checkpoint_every=config.train.num_steps)
                run_dir = str(Path(workdir) / f"{recipe}_{density}_seed{seed}")
                started, cpu_started = time.perf_counter(), time.process_time()
                final = train_and_evaluate(config, run_dir, print_fn=lambda *_: None)
                seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
                entry = {
                    "recipe": recipe,
                    "density": density,
                    "seed": int(seed),
                    "num_steps": config.train.num_steps,
                    "batch_size": config.data.batch_size,
                    "train_seconds": round(seconds, 1),
                    # CPU time of all threads (compilation and evaluation included).
                    "train_cpu_seconds": round(cpu_seconds, 1),
                    # Wall time is inflated when other jobs share the cores; this says how much.
                    "load_average_1min": round(os.getloadavg()[0], 2),
                    "modes_captured": final["test/modes_captured"],
                    "num_modes": 8 if density == "ring" else 25,
                    "high_quality_fraction": round(final["test/high_quality_fraction"], 4),
                    "mode_kl": round(final.get("test/mode_kl", float("nan")), 4),
                    "mmd": round(final["test/mmd"], 6),
                }
                print(json.dumps(entry), flush=True)
                runs.append(entry)
                if seed == seeds[0]:
                    samples, dataset = final_samples(config, run_dir, 2_500)
                    panels.append((recipe, samples))
                    log_density = dataset.log_density
            summary = {"recipe": recipe, "density": density, "num_seeds": len(runs), **_summary(runs)}
            print(json.dumps(summary), flush=True)
            results.extend(runs)
            summaries.append(summary)
        rows.append((density, log_density, panels))
    report = {
        **report_header("gan_modes"),
        "protocol": "VEEGAN: 2500 samples; high quality = within 3 std of the nearest mode; "
        "a mode is captured when at least one high-quality sample lands on it",
        "summaries": summaries,
        "results": results,
    }
    return report, rows


def main(argv):
    del argv

    def run():
        report, rows = benchmark(
            _WORKDIR.value, _RECIPES.value, _DENSITIES.value, _SEEDS.value, _NUM_STEPS.value
        )
        write_json(_JSON.value, report)
        if _FIGURE.value:
            save_figure(_FIGURE.value, rows)
        return report

    report = run_or_exit(run)
    print(json.dumps(report["summaries"], indent=2))


if __name__ == "__main__":
    app.run(main, flags_parser=parse_flags)
