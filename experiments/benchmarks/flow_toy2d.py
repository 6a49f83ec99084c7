"""2-D flow benchmark: KL(p_data || model) on toy densities whose entropy is known.

For each architecture and density, trains ``flow.py:<architecture>_<density>``
with the ordinary loop, then estimates on 100k fresh test points

* ``nll_minus_entropy``: test NLL minus the data's true differential entropy,
  which equals KL(p_data || model) (the floor is 0);
* ``kl_paired``: the same KL as the mean of ``log p_data(x) - log q(x)`` over
  the same points, a lower-variance estimator of the same number (its standard
  error is reported).

It also draws one figure: true density and each model's density per row::

    python -m experiments.benchmarks.flow_toy2d --workdir=/tmp/flow_toy2d \\
        --json=experiments/benchmarks/results/flow_toy2d.json --figure=docs/images/flows_toy2d.png

``--architectures``, ``--densities`` and ``--num_steps`` choose a subset or
another budget (``--num_steps=0`` keeps each config's own); ``--set`` overrides
config fields. Tune with ``--split=validation``: the same estimates on the
toy's fixed validation sample (drawn from another seed than the test points),
so hyperparameters are never chosen on the reported test set. Each entry also
records the process CPU seconds of its training (user + sys: the wall time is
inflated on a shared machine) and the load average. ``--reuse`` skips the
training of a run whose directory already holds a finished one (with its
timing), so the configuration selected on validation is scored on the test
points once, without retraining::

    python -m experiments.benchmarks.flow_toy2d --workdir=/tmp/nsf --architectures=nsf_coupling \
        --split=validation
    python -m experiments.benchmarks.flow_toy2d --workdir=/tmp/nsf --architectures=nsf_coupling --reuse
"""

from __future__ import annotations

import ast
import datetime
import json
import os
import platform
import resource
import time
from pathlib import Path

from absl import app, flags

from experiments.benchmarks.reports import write_json
from experiments.cli import parse_flags, run_or_exit

_WORKDIR = flags.DEFINE_string("workdir", None, "Parent of one run directory per (architecture, density).")
_ARCHITECTURES = flags.DEFINE_list("architectures", ["realnvp", "glow", "maf", "planar"], "Flows to train.")
_DENSITIES = flags.DEFINE_list("densities", ["8gaussians", "checkerboard", "two_moons"], "toy2d densities.")
_NUM_STEPS = flags.DEFINE_integer("num_steps", 0, "Training steps per run (0: the config's).")
_SPLIT = flags.DEFINE_enum("split", "test", ["test", "validation"], "Split the KL is estimated on.")
_SET = flags.DEFINE_multi_string("set", [], "Config override for every run, e.g. model.num_bins=16.")
_REUSE = flags.DEFINE_bool("reuse", False, "Score finished runs in --workdir instead of retraining them.")
_JSON = flags.DEFINE_string("json", None, "Also write the results here.")
_FIGURE = flags.DEFINE_string("figure", None, "PNG of the true and model densities.")
flags.mark_flag_as_required("workdir")


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def kl_estimates(config, workdir: str, split: str = "test") -> tuple[dict, object]:
    """KL(p_data || model) two ways on ``split``; also returns the model's log-density fn."""
    import jax
    import numpy as np

    from genjax.train.restore import restore_from_workdir

    model, dataset, state, _ = restore_from_workdir(config, workdir)
    params = state.eval_params()
    source = dataset.source(split)
    points = source.gather(np.arange(source.num_examples))["x"].astype(np.float32)
    log_q_fn = jax.jit(lambda x: model.log_prob(params, {"x": x}, jax.random.key(0)))
    log_q = np.concatenate([np.asarray(log_q_fn(chunk)) for chunk in np.array_split(points, 10)])
    log_p = np.asarray(dataset.log_density(points), np.float64)
    gap = log_p - log_q
    result = {
        "split": split,
        "num_points": len(points),
        "nll": float(-log_q.mean()),
        "entropy": float(dataset.entropy),
        "nll_minus_entropy": float(-log_q.mean() - dataset.entropy),
        "kl_paired": float(gap.mean()),
        "kl_paired_stderr": float(gap.std() / np.sqrt(len(gap))),
        "non_finite": int(np.sum(~np.isfinite(log_q))),
    }
    return result, (lambda x: np.asarray(log_q_fn(np.asarray(x, np.float32)))), dataset


def save_figure(path: str, rows: list[tuple[str, object, list[tuple[str, object]]]]) -> None:
    """rows: (density name, true log-density, [(architecture, model log-density), ...])."""
    import numpy as np
    from matplotlib.figure import Figure

    from genjax import visualize

    num_cols = 1 + max(len(models) for _, _, models in rows)
    figure = Figure(figsize=(2.2 * num_cols, 2.2 * len(rows)), dpi=100)
    bounds = (-4.5, 4.5, -4.5, 4.5)
    for row, (density, true_fn, models) in enumerate(rows):
        for col, (label, fn) in enumerate([("true", true_fn), *models]):
            axes = figure.add_subplot(len(rows), num_cols, row * num_cols + col + 1)
            grid, _ = visualize.density_on_grid(fn, bounds, 200)
            axes.imshow(np.exp(grid - grid.max()), origin="lower", extent=bounds, cmap="viridis")
            axes.set_xticks([])
            axes.set_yticks([])
            axes.set_title(f"{density}: {label}" if col == 0 else label, fontsize=8)
    figure.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")


def _train(config, run_dir: str, reuse: bool) -> dict:
    """Trains (unless ``reuse`` finds a finished run) and returns its wall and CPU seconds and load."""
    from genjax.train import train_and_evaluate

    timing_path = Path(run_dir) / "flow_toy2d_timing.json"
    if reuse and timing_path.exists():
        return json.loads(timing_path.read_text())
    started, cpu_started = time.perf_counter(), _cpu_seconds()
    train_and_evaluate(config, run_dir, print_fn=lambda *_: None)
    timing = {
        "train_seconds": round(time.perf_counter() - started, 1),
        "train_cpu_seconds": round(_cpu_seconds() - cpu_started, 1),
        "load_average": [round(load, 2) for load in os.getloadavg()],
    }
    timing_path.write_text(json.dumps(timing))
    return timing


def benchmark(
    workdir: str,
    architectures,
    densities,
    num_steps: int,
    split: str = "test",
    overrides=(),
    reuse: bool = False,
) -> dict:
    from experiments.configs import flow as flow_configs

    results, rows = [], []
    for density in densities:
        models, true_fn = [], None
        for architecture in architectures:
            config = flow_configs.get_config(f"{architecture}_{density}")
            if num_steps:
                config.train.num_steps = num_steps
            for assignment in overrides:
                dotted, value = assignment.split("=", 1)
                section, name = dotted.split(".")
                config[section][name] = ast.literal_eval(value)
            config.train.update(sample_every=0, eval_every=0, checkpoint_every=config.train.num_steps)
            run_dir = str(Path(workdir) / f"{architecture}_{density}")
            timing = _train(config, run_dir, reuse)
            estimates, log_q, dataset = kl_estimates(config, run_dir, split)
            true_fn = dataset.log_density
            models.append((architecture, log_q))
            entry = {
                "architecture": architecture,
                "density": density,
                "num_steps": config.train.num_steps,
                "batch_size": config.data.batch_size,
                "overrides": list(overrides),
                **timing,
                **{k: (round(v, 4) if isinstance(v, float) else v) for k, v in estimates.items()},
            }
            print(json.dumps(entry), flush=True)
            results.append(entry)
        rows.append((density, true_fn, models))
    return {
        "benchmark": "flow_toy2d",
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "results": results,
    }, rows


def main(argv):
    del argv

    def run():
        report, rows = benchmark(
            _WORKDIR.value,
            _ARCHITECTURES.value,
            _DENSITIES.value,
            _NUM_STEPS.value,
            split=_SPLIT.value,
            overrides=_SET.value,
            reuse=_REUSE.value,
        )
        write_json(_JSON.value, report)
        if _FIGURE.value:
            save_figure(_FIGURE.value, rows)
        return report

    report = run_or_exit(run)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    app.run(main, flags_parser=parse_flags)
