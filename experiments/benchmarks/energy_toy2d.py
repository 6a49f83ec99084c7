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

For the EBM it also separates a sampler failure from a model failure: the model's own mass
(exp(-E) by quadrature) in the off-data cells, the cells of least true mass that together hold
0.1% of it, beside the fraction of samples that land there. Samples far above the model's mass
are chains stuck in basins the density itself barely weights. ``--sampler`` swaps the EBM's
sampler (``langevin``, ``mala``, ``smc``) without retraining, and ``--sample_only`` reuses the
trained runs in ``--workdir``::

    python -m experiments.benchmarks.energy_toy2d --workdir=/tmp/energy_toy2d_ebm --families=ebm \\
        --densities=two_moons --sample_only --sampler=langevin
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from absl import app, flags

from experiments.benchmarks.reports import report_header, save_figure, write_json
from experiments.cli import parse_flags, run_or_exit

# family -> (config module, recipe prefix of its toy variant)
FAMILIES = {"ebm": ("ebm", "cd_replay"), "score": ("score", "ncsn"), "ddpm": ("ddpm", "linear")}
GRID_BOX, GRID_BINS, SUBDIVISIONS = (-6.0, 6.0), 60, 8
OFF_DATA_MASS = 1e-3  # the off-data cells hold this much of the true mass

_WORKDIR = flags.DEFINE_string("workdir", None, "Parent of one run directory per (family, density).")
_FAMILIES = flags.DEFINE_list("families", list(FAMILIES), "Families: ebm, score, ddpm.")
_DENSITIES = flags.DEFINE_list("densities", ["8gaussians", "checkerboard", "two_moons"], "toy2d densities.")
_NUM_STEPS = flags.DEFINE_integer("num_steps", 0, "Training steps per run (0: the config's).")
_NUM_SAMPLES = flags.DEFINE_integer("num_samples", 10_000, "Samples per set.")
_JSON = flags.DEFINE_string("json", None, "Also write the results here.")
_FIGURE = flags.DEFINE_string("figure", None, "PNG: samples of each family over the true density.")
_SAMPLER = flags.DEFINE_enum(
    "sampler", None, ["langevin", "mala", "smc"], "EBM sampler (default: the config's)."
)
_SAMPLE_ONLY = flags.DEFINE_bool("sample_only", False, "Reuse the trained runs in --workdir; only sample.")
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


def off_data_cells(p_cells, mass: float = OFF_DATA_MASS):
    """`[GRID_BINS, GRID_BINS]` bool: the cells of least true mass that together hold at most ``mass``."""
    import numpy as np

    order = np.argsort(p_cells, axis=None)
    keep = np.cumsum(p_cells.ravel()[order]) <= mass
    off = np.zeros(p_cells.size, bool)
    off[order[keep]] = True
    return off.reshape(p_cells.shape)


def off_data_occupancy(samples, off) -> float:
    """Fraction of samples in the off-data cells or outside the grid."""
    import numpy as np

    lo, hi = GRID_BOX
    cells = np.floor((samples - lo) / (hi - lo) * GRID_BINS).astype(int)
    inside = np.all((cells >= 0) & (cells < GRID_BINS), axis=1)
    cells = np.clip(cells, 0, GRID_BINS - 1)
    return float(np.mean(~inside | off[cells[:, 0], cells[:, 1]]))


def ebm_diagnosis(model, params, samples, p_cells) -> dict:
    """The EBM's own mass in the off-data cells (quadrature of exp(-E)) and its samples' occupancy there."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    log_prob = jax.jit(lambda x: model.log_prob(params, {"x": x}, None))
    model_cells = cell_probabilities(lambda x: np.asarray(log_prob(jnp.asarray(x, jnp.float32)), np.float64))
    off = off_data_cells(p_cells)
    support = p_cells > 0  # 0 log 0 = 0: the checkerboard's empty squares add nothing
    return {
        "model_mass_off_data": float(model_cells[off].sum()),
        "samples_off_data": off_data_occupancy(samples, off),
        # KL(p || model) on the grid's cells: the model density's own error, no sampler involved.
        "cell_kl_model": float(
            np.sum(p_cells[support] * np.log(p_cells[support] / np.maximum(model_cells[support], 1e-300)))
        ),
    }


def timed_samples(config, run_dir: str, num_samples: int):
    """The run's final samples `[N, 2]`, its model and evaluation parameters, wall and CPU seconds.

    The sampler is jitted and run once before the timed call, so the times are the sampling's
    own, without compilation.
    """
    import jax
    import numpy as np

    from genjax.train.restore import restore_from_workdir

    model, _, state, _ = restore_from_workdir(config, run_dir)
    params = state.eval_params()
    sample = jax.jit(model.sample, static_argnums=2)
    jax.block_until_ready(sample(params, jax.random.key(0), num_samples))
    started, cpu_started = time.perf_counter(), time.process_time()
    samples = np.asarray(sample(params, jax.random.key(1), num_samples))
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    return samples, model, params, round(seconds, 1), round(cpu, 1)


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


def benchmark(
    workdir: str, families, densities, num_steps: int, num_samples: int, sampler=None, sample_only=False
) -> tuple[dict, list]:
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
            if sampler and family == "ebm":
                config.model.sampler = sampler
            config.train.update(sample_every=0, eval_every=0, checkpoint_every=config.train.num_steps)
            config.eval.num_quality_samples = 1_000  # the loop's own check; the figures below use 10k
            run_dir = str(Path(workdir) / f"{family}_{density}")
            entry = {"family": family, "variant": f"{recipe}_{density}", "density": density}
            if family == "ebm":
                entry["sampler"] = config.model.sampler
            if not sample_only:
                started, cpu_started = time.perf_counter(), time.process_time()
                final = train_and_evaluate(config, run_dir, print_fn=lambda *_: None)
                entry.update(
                    num_steps=config.train.num_steps,
                    train_seconds=round(time.perf_counter() - started, 1),
                    train_cpu_seconds=round(time.process_time() - cpu_started, 1),
                )
                if "test/nll" in final:  # EBMs on the plane: quadrature-normalised test NLL
                    entry["test_nll"] = round(final["test/nll"], 4)
                    entry["true_entropy"] = round(truth.entropy, 4)
            samples, model, params, sample_seconds, sample_cpu = timed_samples(config, run_dir, num_samples)
            entry.update(sample_seconds=sample_seconds, sample_cpu_seconds=sample_cpu)
            entry.update(
                {k: round(v, 6) for k, v in sample_metrics(samples, true_a, true_b, p_cells).items()}
            )
            if family == "ebm":
                entry.update(
                    {k: round(v, 6) for k, v in ebm_diagnosis(model, params, samples, p_cells).items()}
                )
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
            _WORKDIR.value,
            _FAMILIES.value,
            _DENSITIES.value,
            _NUM_STEPS.value,
            _NUM_SAMPLES.value,
            sampler=_SAMPLER.value,
            sample_only=_SAMPLE_ONLY.value,
        )
        write_json(_JSON.value, report)
        if _FIGURE.value:
            save_figure(_FIGURE.value, rows)
        return report

    report = run_or_exit(run)
    print(json.dumps(report["results"], indent=2))


if __name__ == "__main__":
    app.run(main, flags_parser=parse_flags)
