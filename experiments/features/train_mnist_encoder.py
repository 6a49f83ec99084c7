"""Trains the label-free binarized MNIST encoder (`genjax.features.mnist_encoder`) and tests its stability.

The shipped ``genjax/features/weights/mnist_encoder.npz`` came from::

    python -m experiments.features.train_mnist_encoder --seed=0 \\
        --output=genjax/features/weights/mnist_encoder.npz

(1200 steps of 256 images, about 6 epochs: 4 minutes wall time on a shared
2-core CPU, final NT-Xent loss 1.03 against 6.24 for chance). It trains
on the train split of the shared ``binarized_mnist.npz`` only (50,000 images;
``--data``, default ``$GENJAX_SHARED_DATA/binarized_mnist.npz``); validation
and test images are never seen.

The stability study trains one encoder per seed, on a smaller budget
(``--stability_steps``, default 300 steps), and writes a JSON report::

    python -m experiments.features.train_mnist_encoder --stability_seeds=0,1,2 \\
        --json=experiments/benchmarks/results/mnist_encoder_stability.json

It reports the linear CKA between the seeds' test-split features; per seed
the FID of a fixed 10k train subset against the test split (the real-data
floor) and of controlled degradations of the test split (random pixel flips,
zero-filled shifts) against the train subset; and whether every seed ranks
the degradations in the same order. A feature network whose verdicts depend
on its training seed cannot be used to compare models.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from absl import app, flags

from experiments.cli import parse_flags, run_or_exit
from experiments.features.mnist_stability import stability_study
from experiments.features.splits import mnist_splits as load_splits

_SEED = flags.DEFINE_integer("seed", 0, "Initialisation, batch-order and augmentation seed.")
_NUM_STEPS = flags.DEFINE_integer("num_steps", 1200, "Adam steps of the shipped encoder.")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 256, "Images per step (twice as many views).")
_TEMPERATURE = flags.DEFINE_float("temperature", 0.1, "NT-Xent temperature.")
_OUTPUT = flags.DEFINE_string("output", None, "Where to write the encoder's .npz weights.")
_DATA = flags.DEFINE_string("data", None, "binarized_mnist.npz (default: the shared data folder's).")
_STABILITY_SEEDS = flags.DEFINE_list("stability_seeds", [], "Run the stability study over these seeds.")
_STABILITY_STEPS = flags.DEFINE_integer("stability_steps", 300, "Adam steps per seed in the study.")
_JSON = flags.DEFINE_string(
    "json", "experiments/benchmarks/results/mnist_encoder_stability.json", "The study's report."
)


def main(argv):
    del argv

    def run():
        from experiments.benchmarks.reports import write_json
        from genjax.errors import ConfigError
        from genjax.features import base
        from genjax.features.mnist_encoder import train_mnist_encoder

        if not _STABILITY_SEEDS.value and not _OUTPUT.value:
            raise ConfigError("--output: required to train the shipped encoder (or pass --stability_seeds)")
        splits = load_splits(_DATA.value)
        if _STABILITY_SEEDS.value:
            started = time.perf_counter()
            seeds = [int(seed) for seed in _STABILITY_SEEDS.value]
            report = stability_study(
                splits, seeds, _STABILITY_STEPS.value, _BATCH_SIZE.value, _TEMPERATURE.value
            )
            report["wall_seconds"] = round(time.perf_counter() - started, 1)
            write_json(_JSON.value, report)
            return report
        params, history = train_mnist_encoder(
            _SEED.value,
            splits["train"],
            num_steps=_NUM_STEPS.value,
            batch_size=_BATCH_SIZE.value,
            temperature=_TEMPERATURE.value,
            print_fn=lambda line: print(line, flush=True),
        )
        base.save_params(_OUTPUT.value, params["encoder"])  # the projection head is not shipped
        return {
            "seed": _SEED.value,
            "num_steps": _NUM_STEPS.value,
            "batch_size": _BATCH_SIZE.value,
            "temperature": _TEMPERATURE.value,
            "train_seconds": round(history["train_seconds"], 1),
            "final_loss": round(history["final_loss"], 4),
            "chance_loss": round(history["chance_loss"], 4),
            "output_bytes": Path(_OUTPUT.value).stat().st_size,
        }

    print(json.dumps(run_or_exit(run), indent=2))


if __name__ == "__main__":
    app.run(main, flags_parser=parse_flags)
