"""EBM (contrastive divergence), NCSN and DDPM on toy2d densities: MMD and histogram KL.

For each family and density, trains the family's toy config with the ordinary
loop, draws 10k samples from the (EMA) parameters and compares them with 10k
fresh true samples:

* the unbiased squared MMD (RBF kernel, median-heuristic bandwidth on the true
  samples), beside the MMD between two independent sets of 10k true samples,
  which is the floor a perfect sampler reaches up to noise;
* KL(p || q) between the true density p, integrated over the cells of a 60x60
  grid on [-6, 6]^2, and the samples' histogram q on the same cells (Jeffreys'
  add-1/2 smoothing so empty cells stay finite), beside the same KL for a
  histogram of 10k true samples.

::

    python -m experiments.benchmarks.energy_toy2d --workdir=/tmp/energy_toy2d \\
        --json=experiments/benchmarks/results/energy_toy2d.json --figure=docs/images/energy_toy2d.png

``--families``, ``--densities`` and ``--num_steps`` choose a subset or another budget.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from absl import app, flags

from experiments.benchmarks.reports import final_samples, report_header, save_figure, write_json
from experiments.cli import parse_flags, run_or_exit

# family -> (config module, recipe prefix of its toy variant)
FAMILIES = {"ebm": ("ebm", "cd_replay"), "score": ("score", "ncsn"), "ddpm": ("ddpm", "linear")}
GRID_BOX, GRID_BINS, SUBDIVISIONS = (-6.0, 6.0), 60, 8

_WORKDIR = flags.DEFINE_string("workdir", None, "Parent of one run directory per (family, density).")
_FAMILIES = flags.DEFINE_list("families", list(FAMILIES), "Families: ebm, score, ddpm.")
_DENSITIES = flags.DEFINE_list("densities", ["8gaussians", "checkerboard", "two_moons"], "toy2d densities.")
_NUM_STEPS = flags.DEFINE_integer("num_steps", 0, "Training steps per run (0: the config's).")
_NUM_SAMPLES = flags.DEFINE_integer("num_samples", 10_000, "Samples per set.")
_JSON = flags.DEFINE_string("json", None, "Also write the results here.")
_FIGURE = flags.DEFINE_string("figure", None, "PNG: samples of each family over the true density.")
flags.mark_flag_as_required("workdir")


def cell_probabilities(log_density):
    """`[GRID_BINS, GRID_BINS]` true mass of each grid cell (midpoint rule on a finer grid)."""
    import numpy as np

    lo, hi = GRID_BOX
    fine = GRID_BINS * SUBDIVISIONS
    width = (hi - lo) / fine
    axis = lo + width * (np.arange(fine) + 0.5)
    points = np.stack(np.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2)
    mass = np.exp(log_density(points)).reshape(GRID_BINS, SUBDIVISIONS, GRID_BINS, SUBDIVISIONS)
    mass = mass.sum(axis=(1, 3)) * width**2
    return mass / mass.sum()


def histogram_kl(p_cells, samples) -> float:
    """KL(p || q) in nats, q the samples' add-1/2 smoothed histogram on the grid (outside points dropped)."""
    import numpy as np

    counts, _, _ = np.histogram2d(samples[:, 0], samples[:, 1], bins=GRID_BINS, range=[GRID_BOX, GRID_BOX])
    q = (counts + 0.5) / (counts.sum() + 0.5 * counts.size)
    support = p_cells > 0
    return float(np.sum(p_cells[support] * np.log(p_cells[support] / q[support])))


def sample_metrics(samples, true_a, true_b, p_cells) -> dict:
    import jax.numpy as jnp

    from genjax import metrics

    bandwidth = metrics.median_bandwidth(jnp.asarray(true_a[:2_000]), jnp.asarray(true_a[:2_000]))
    kernel = lambda x, y: metrics.rbf_kernel(x, y, bandwidth=bandwidth)
    return {
        "mmd": float(metrics.mmd(jnp.asarray(samples), jnp.asarray(true_a), kernel=kernel)),
        "mmd_true_vs_true": float(metrics.mmd(jnp.asarray(true_b), jnp.asarray(true_a), kernel=kernel)),
        "histogram_kl": histogram_kl(p_cells, samples),
        "histogram_kl_true": histogram_kl(p_cells, true_b),
    }


def benchmark(workdir: str, families, densities, num_steps: int, num_samples: int) -> tuple[dict, list]:
    import importlib

    import numpy as np

    from genjax.data import toy2d
    from genjax.train import train_and_evaluate

    results, rows = [], []
    for density in densities:
        truth = toy2d.get(density)
        true_a = truth.sample(np.random.default_rng(10), num_samples).astype(np.float32)
        true_b = truth.sample(np.random.default_rng(11), num_samples).astype(np.float32)
        p_cells = cell_probabilities(truth.log_density)
        panels = []
        for family in families:
            module, recipe = FAMILIES[family]
            config = importlib.import_module(f"experiments.configs.{module}").get_config(
                f"{recipe}_{density}"
            )
            if num_steps:
                config.train.num_steps = num_steps
            config.train.update(sample_every=0, eval_every=0, checkpoint_every=config.train.num_steps)
            config.eval.num_quality_samples = 1_000  # the loop's own check; the figures below use 10k
            run_dir = str(Path(workdir) / f"{family}_{density}")
            started, cpu_started = time.perf_counter(), time.process_time()
            final = train_and_evaluate(config, run_dir, print_fn=lambda *_: None)
            train_seconds, train_cpu = time.perf_counter() - started, time.process_time() - cpu_started
            started = time.perf_counter()
            samples, _ = final_samples(config, run_dir, num_samples)
            entry = {
                "family": family,
                "variant": f"{recipe}_{density}",
                "density": density,
                "num_steps": config.train.num_steps,
                "train_seconds": round(train_seconds, 1),
                "train_cpu_seconds": round(train_cpu, 1),
                "sample_seconds": round(time.perf_counter() - started, 1),
                **{k: round(v, 6) for k, v in sample_metrics(samples, true_a, true_b, p_cells).items()},
            }
            if "test/nll" in final:  # EBMs on the plane: quadrature-normalised test NLL
                entry["test_nll"] = round(final["test/nll"], 4)
                entry["true_entropy"] = round(truth.entropy, 4)
            print(json.dumps(entry), flush=True)
            results.append(entry)
            panels.append((family, samples[:2_500]))
        rows.append((density, truth.log_density, panels))
    report = {
        **report_header("energy_toy2d"),
        "protocol": f"{num_samples} samples vs {num_samples} true; unbiased MMD^2 (RBF, median bandwidth); "
        f"KL(p || smoothed histogram) on a {GRID_BINS}x{GRID_BINS} grid over {GRID_BOX}^2",
        "results": results,
    }
    return report, rows


def main(argv):
    del argv

    def run():
        report, rows = benchmark(
            _WORKDIR.value, _FAMILIES.value, _DENSITIES.value, _NUM_STEPS.value, _NUM_SAMPLES.value
        )
        write_json(_JSON.value, report)
        if _FIGURE.value:
            save_figure(_FIGURE.value, rows)
        return report

    report = run_or_exit(run)
    print(json.dumps(report["results"], indent=2))


if __name__ == "__main__":
    app.run(main, flags_parser=parse_flags)
