"""DCGANs on scikit-learn's 8x8 digits: sample grids and MMD to the test split.

Trains ``gan.py:<recipe>_digits`` for each recipe with the ordinary loop, then
reports the unbiased squared MMD (RBF kernel, bandwidth from the median
heuristic on the test images, so one kernel serves every row) between

* 1000 generator samples and the test split, and
* the training split and the test split: the floor a perfect model reaches
  with training-set-sized samples (both are finite samples of the same law),

and writes a sample grid per recipe::

    python -m experiments.benchmarks.gan_digits --workdir=/tmp/gan_digits \\
        --json=experiments/benchmarks/results/gan_digits.json --images=docs/images

``--num_steps=0`` keeps each config's own budget.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from absl import app, flags

from experiments.benchmarks.reports import mmd_to_test, report_header, split_images, write_json
from experiments.cli import parse_flags, run_or_exit

_WORKDIR = flags.DEFINE_string("workdir", None, "Parent of one run directory per recipe.")
_RECIPES = flags.DEFINE_list("recipes", ["non_saturating", "wgan_gp", "r1"], "GAN recipes (gan.py).")
_NUM_STEPS = flags.DEFINE_integer("num_steps", 0, "Training steps per run (0: the config's).")
_NUM_SAMPLES = flags.DEFINE_integer("num_samples", 1000, "Generator samples for the MMD.")
_JSON = flags.DEFINE_string("json", None, "Also write the results here.")
_IMAGES = flags.DEFINE_string("images", None, "Folder for gan_digits_<recipe>.png sample grids.")
flags.mark_flag_as_required("workdir")


def benchmark(workdir: str, recipes, num_steps: int, num_samples: int, images: str | None) -> dict:
    import jax
    import numpy as np

    from experiments.configs import gan as gan_configs
    from genjax import visualize
    from genjax.train import train_and_evaluate
    from genjax.train.restore import restore_from_workdir

    results = []
    for recipe in recipes:
        config = gan_configs.get_config(f"{recipe}_digits")
        if num_steps:
            config.train.num_steps = num_steps
        config.train.update(sample_every=0, eval_every=0, checkpoint_every=config.train.num_steps)
        run_dir = str(Path(workdir) / recipe)
        started = time.perf_counter()
        train_and_evaluate(config, run_dir, print_fn=lambda *_: None)
        seconds = time.perf_counter() - started
        model, dataset, state, _ = restore_from_workdir(config, run_dir)
        samples = np.asarray(
            jax.jit(model.sample, static_argnums=2)(state.eval_params(), jax.random.key(7), num_samples)
        )
        train, test = (split_images(dataset, config.data, s) for s in ("train", "test"))
        entry = {
            "recipe": recipe,
            "num_steps": config.train.num_steps,
            "batch_size": config.data.batch_size,
            "train_seconds": round(seconds, 1),
            "num_samples": num_samples,
            "num_train": len(train),
            "num_test": len(test),
            **mmd_to_test(samples, test, train),
        }
        entry["ratio_to_train_test"] = round(entry["mmd_samples_test"] / entry["mmd_train_test"], 3)
        print(json.dumps(entry), flush=True)
        results.append(entry)
        if images:
            visualize.save_image_grid(Path(images) / f"gan_digits_{recipe}.png", samples[:64], upscale=4)
    return {
        **report_header("gan_digits"),
        "results": results,
    }


def main(argv):
    del argv

    def run():
        report = benchmark(
            _WORKDIR.value, _RECIPES.value, _NUM_STEPS.value, _NUM_SAMPLES.value, _IMAGES.value
        )
        write_json(_JSON.value, report)
        return report

    report = run_or_exit(run)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    app.run(main, flags_parser=parse_flags)
