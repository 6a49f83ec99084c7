"""Flows side by side on dequantized 8x8 digits: test bits/dim in the discrete space.

Trains ``flow.py:<architecture>_digits`` for each architecture with the same
split (scikit-learn's digits: 1500 train, 297 test images, 17 levels), the
same number of steps and the same seed, then reports the exact test NLL and
bits/dim of the discrete images (dequantization accounted for) at the last
step, the test bits/dim every 500 steps (1500 images are easy to memorise, and
the curve shows when a model starts to), training time and parameter count,
and writes a sample grid per model::

    python -m experiments.benchmarks.flow_digits --workdir=/tmp/flow_digits \\
        --json=experiments/benchmarks/results/flow_digits.json --figure=docs/images/flows_digits_samples.png

The uniform distribution over the 17 levels scores log2(17) = 4.087 bits/dim.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import time
from pathlib import Path

from absl import app, flags

from experiments.benchmarks.reports import write_json
from experiments.cli import parse_flags, run_or_exit

_WORKDIR = flags.DEFINE_string("workdir", None, "Parent of one run directory per architecture.")
_ARCHITECTURES = flags.DEFINE_list("architectures", ["nice", "realnvp", "glow", "maf"], "Flows to train.")
_NUM_STEPS = flags.DEFINE_integer("num_steps", 0, "Training steps per run (0: the config's).")
_TEMPERATURE = flags.DEFINE_float("temperature", 0.8, "Temperature of the sample grids.")
_JSON = flags.DEFINE_string("json", None, "Also write the results here.")
_FIGURE = flags.DEFINE_string("figure", None, "PNG with one row of samples per architecture.")
flags.mark_flag_as_required("workdir")


def _parameter_count(params) -> int:
    import jax

    return sum(leaf.size for leaf in jax.tree.leaves(params))


def benchmark(workdir: str, architectures, num_steps: int, temperature: float):
    import jax
    import numpy as np

    from experiments.configs import flow as flow_configs
    from genjax.train import train_and_evaluate
    from genjax.train.restore import restore_from_workdir

    results, sample_rows = [], []
    for architecture in architectures:
        config = flow_configs.get_config(f"{architecture}_digits")
        if num_steps:
            config.train.num_steps = num_steps
        # Test bits/dim every 500 steps, reported as a curve so overfitting shows.
        config.train.update(sample_every=0, eval_every=500, checkpoint_every=config.train.num_steps)
        run_dir = str(Path(workdir) / architecture)
        started = time.perf_counter()
        final = train_and_evaluate(config, run_dir, print_fn=lambda *_: None)
        seconds = time.perf_counter() - started
        model, _, state, _ = restore_from_workdir(config, run_dir)
        samples = model.sample(state.eval_params(), jax.random.key(0), 10, temperature)
        metrics = [json.loads(line) for line in (Path(run_dir) / "metrics.jsonl").read_text().splitlines()]
        curve = [
            (row["step"], round(row["bits_per_dim"], 4)) for row in metrics if row.get("split") == "test"
        ]
        sample_rows.append((architecture, np.asarray(samples)))
        entry = {
            "architecture": architecture,
            "num_steps": config.train.num_steps,
            "batch_size": config.data.batch_size,
            "parameters": _parameter_count(state.params),
            "train_seconds": round(seconds, 1),
            "train_nll": round(final["train/nll"], 3),
            "test_nll": round(final["test/nll"], 3),
            "test_bits_per_dim": round(final["test/bits_per_dim"], 4),
            "num_test": final["test/num_examples"],
            "test_bits_per_dim_curve": curve,
        }
        print(json.dumps(entry), flush=True)
        results.append(entry)
    report = {
        "benchmark": "flow_digits",
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "sample_temperature": temperature,
        "results": results,
    }
    return report, sample_rows


def save_figure(path: str, rows) -> None:
    """One row of sample images per architecture, labelled."""
    from matplotlib.figure import Figure

    num_cols = max(len(samples) for _, samples in rows)
    figure = Figure(figsize=(1.0 * num_cols + 0.8, 1.0 * len(rows)), dpi=100)
    for row, (label, samples) in enumerate(rows):
        for col, image in enumerate(samples):
            axes = figure.add_subplot(len(rows), num_cols, row * num_cols + col + 1)
            axes.imshow(image[..., 0], cmap="gray", vmin=0, vmax=1)
            axes.set_xticks([])
            axes.set_yticks([])
            if col == 0:
                axes.set_ylabel(label, fontsize=9)
    figure.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")


def main(argv):
    del argv

    def run():
        report, rows = benchmark(_WORKDIR.value, _ARCHITECTURES.value, _NUM_STEPS.value, _TEMPERATURE.value)
        write_json(_JSON.value, report)
        if _FIGURE.value:
            save_figure(_FIGURE.value, rows)
        return report

    print(json.dumps(run_or_exit(run), indent=2))


if __name__ == "__main__":
    app.run(main, flags_parser=parse_flags)
