"""Quality benchmark: VQ-VAE with its PixelCNN prior (digits or static binarized MNIST).

Trains with the ordinary loop (`train_and_evaluate`: step selected on validation,
test read once), then on the selected parameters measures the codebook's usage and
perplexity over the whole test split (and validation), and saves test
reconstructions and prior samples as PNGs::

    python -m experiments.benchmarks.vqvae_quality --config=experiments/configs/vqvae.py:digits \\
      --workdir=/tmp/vqvae_digits_bench --json=experiments/benchmarks/results/vqvae_digits.json \\
      --images=docs/images/vqvae_digits

Any config field can be overridden, e.g. ``--config.train.num_steps=3000``.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import time
from pathlib import Path

import jax
import numpy as np
from absl import app, flags
from ml_collections import config_flags

from experiments.cli import parse_flags, run_or_exit

_CONFIG = config_flags.DEFINE_config_file(
    "config", "experiments/configs/vqvae.py:digits", "Training config (path.py:variant)."
)
_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory.")
_JSON = flags.DEFINE_string("json", None, "Where to write the JSON report (also <workdir>/quality.json).")
_IMAGES = flags.DEFINE_string(
    "images", None, "PNG prefix: <prefix>_reconstructions.png, <prefix>_samples.png."
)
_NUM_SAMPLES = flags.DEFINE_integer("num_samples", 64, "Prior samples to draw for the PNG.")
flags.mark_flag_as_required("workdir")


def benchmark(config, workdir: str, json_path: str | None, images: str | None, num_samples: int) -> dict:
    from genjax.data import eval_batches
    from genjax.models.vqvae import build_parts, codebook_statistics
    from genjax.train import train_and_evaluate
    from genjax.train.restore import restore_from_workdir

    started = time.perf_counter()
    trained = train_and_evaluate(config, workdir)
    train_seconds = time.perf_counter() - started
    _, dataset, state, _ = restore_from_workdir(config, workdir, checkpoint="best")
    parts = build_parts(config, dataset.spec)
    params = state.eval_params()
    indices = jax.jit(lambda batch: parts.encode_indices(params, batch["x"]))
    statistics = {}
    for split in ("validation", "test"):
        stats = codebook_statistics(indices, eval_batches(dataset, config.data, split=split), parts.num_codes)
        statistics[split] = {"usage": stats["usage"], "perplexity": stats["perplexity"]}
    result = {
        "benchmark": "vqvae_quality",
        "config": f"vqvae.py (data {config.data.name})",
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores (shared)",
        "seed": config.seed,
        "train_seconds_incl_evaluations": round(train_seconds, 1),
        "num_steps": config.train.num_steps,
        "selected_step": trained.get("selection/step"),
        "num_codes": parts.num_codes,
        "grid_shape": list(parts.grid_shape),
        "codebook_update": config.model.codebook_update,
        "restart_dead_codes_after": config.model.restart_dead_codes_after,
        "test_nll_bound_nats": trained["test/nll"],
        "test_bits_per_dim_bound": trained["test/bits_per_dim"],
        "test_reconstruction_log_prob": trained["test/reconstruction_log_prob"],
        "test_prior_log_prob": trained["test/prior_log_prob"],
        "validation_nll_bound_nats": trained.get("validation/nll"),
        "codebook_usage_test": statistics["test"]["usage"],
        "codebook_perplexity_test": statistics["test"]["perplexity"],
        "codebook_usage_validation": statistics["validation"]["usage"],
        "codebook_perplexity_validation": statistics["validation"]["perplexity"],
    }
    if images:
        result["images"] = save_images(parts, params, dataset, config, images, num_samples)
    text = json.dumps(result, indent=2) + "\n"
    Path(workdir, "quality.json").write_text(text)
    if json_path:
        Path(json_path).write_text(text)
    return result


def save_images(parts, params, dataset, config, prefix: str, num_samples: int) -> list[str]:
    """<prefix>_reconstructions.png (32 test images spread over the split, each above its
    reconstruction) and <prefix>_samples.png (``num_samples`` prior samples)."""
    from genjax import visualize
    from genjax.data import eval_batches

    batches = list(eval_batches(dataset, config.data, split="test"))
    test = np.concatenate([b["x"][np.asarray(b["mask"]) > 0] for b in batches])
    test = test[np.linspace(0, len(test) - 1, 32).astype(int)]  # test splits are often sorted by class
    codes = jax.jit(parts.encode_indices)(params, test)
    reconstructions = np.asarray(parts.decode_indices(params, codes))
    shape = test.shape[1:]
    # Rows alternate: 8 test images, then their reconstructions.
    pairs = np.stack([test.reshape(4, 8, *shape), reconstructions.reshape(4, 8, *shape)], 1).reshape(
        -1, *shape
    )
    upscale = 4 if shape[0] <= 8 else 2
    paths = [f"{prefix}_reconstructions.png", f"{prefix}_samples.png"]
    visualize.save_image_grid(paths[0], pairs, num_rows=8, upscale=upscale)
    samples = jax.jit(parts.model.sample, static_argnums=2)(params, jax.random.key(0), num_samples)
    visualize.save_image_grid(paths[1], np.asarray(samples), upscale=upscale)
    return paths


def main(argv):
    del argv
    run = lambda: benchmark(_CONFIG.value, _WORKDIR.value, _JSON.value, _IMAGES.value, _NUM_SAMPLES.value)  # noqa: E731
    print(json.dumps(run_or_exit(run), indent=2))


if __name__ == "__main__":
    app.run(main, flags_parser=parse_flags)
