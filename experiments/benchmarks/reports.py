"""Pieces the quality benchmarks share: JSON reports, final samples, toy2d figures, digit splits."""

from __future__ import annotations

import json
from pathlib import Path


def report_header(benchmark: str) -> dict:
    """What every quality report starts with: its name, the date and the machine."""
    import datetime
    import os
    import platform

    return {
        "benchmark": benchmark,
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
    }


def write_json(path: str | None, report: dict) -> None:
    """Writes ``report`` as indented JSON to ``path`` (creating its folder); None writes nothing."""
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(report, indent=2) + "\n")


def final_samples(config, workdir: str, num_samples: int):
    """`[N, 2]` samples of the trained run's evaluation parameters, and its dataset."""
    import jax
    import numpy as np

    from genjax.train.restore import restore_from_workdir

    model, dataset, state, _ = restore_from_workdir(config, workdir)
    samples = jax.jit(model.sample, static_argnums=2)(state.eval_params(), jax.random.key(1), num_samples)
    return np.asarray(samples), dataset


def save_figure(path: str, rows: list[tuple[str, object, list[tuple[str, object]]]]) -> None:
    """rows: (density, true log-density, [(recipe, samples [N, 2]), ...]); samples over the density."""
    import numpy as np
    from matplotlib.figure import Figure

    from genjax import visualize

    num_cols = max(len(panels) for _, _, panels in rows)
    figure = Figure(figsize=(2.4 * num_cols, 2.4 * len(rows)), dpi=100)
    for row, (density, log_density, panels) in enumerate(rows):
        bounds = (-2.6, 2.6, -2.6, 2.6) if density == "ring" else (-5.0, 5.0, -5.0, 5.0)
        grid, _ = visualize.density_on_grid(log_density, bounds, 300)
        for col, (recipe, samples) in enumerate(panels):
            axes = figure.add_subplot(len(rows), num_cols, row * num_cols + col + 1)
            axes.imshow(np.exp(grid - grid.max()) ** 0.3, origin="lower", extent=bounds, cmap="Greys")
            axes.scatter(samples[:, 0], samples[:, 1], s=1, c="tab:red", alpha=0.4)
            axes.set_xlim(bounds[:2])
            axes.set_ylim(bounds[2:])
            axes.set_xticks([])
            axes.set_yticks([])
            axes.set_title(f"{density}: {recipe}", fontsize=8)
    figure.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")


def split_images(dataset, data_config, split: str):
    """All of a finite split's images `[N, H, W, C]` in the model's space ([0, 1])."""
    from genjax import data as data_lib
    from genjax.train.evaluation import first_examples

    return first_examples(data_lib.eval_batches(dataset, data_config, split=split, batch_size=500))


def mmd_to_test(samples, test, reference) -> dict:
    """Unbiased MMD^2 of samples and of the reference (train) images to the test images, one kernel."""
    import jax.numpy as jnp

    from genjax import metrics

    flat = lambda x: jnp.asarray(x.reshape(len(x), -1), jnp.float32)
    test = flat(test)
    bandwidth = metrics.median_bandwidth(test, test)
    kernel = lambda x, y: metrics.rbf_kernel(x, y, bandwidth=bandwidth)
    return {
        "bandwidth": round(float(bandwidth), 4),
        "mmd_samples_test": float(metrics.mmd(flat(samples), test, kernel=kernel)),
        "mmd_train_test": float(metrics.mmd(flat(reference), test, kernel=kernel)),
    }
