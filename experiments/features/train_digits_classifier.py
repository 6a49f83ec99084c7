"""Trains the bundled digits classifier (`genjax.features.digits_cnn`) and writes its weights.

The shipped ``genjax/features/weights/digits_cnn.npz`` came from::

    python -m experiments.features.train_digits_classifier --seed=0 \\
        --output=genjax/features/weights/digits_cnn.npz \\
        --json=experiments/benchmarks/results/digits_cnn.json

It trains on the digits' training split (the 1350 images left after the loader
carves its 150 validation images, the same split every model trains on),
keeps the step with the best validation accuracy, and reports the test
accuracy once, on the 297 test images.
"""

from __future__ import annotations

import json
import time

from absl import app, flags

from experiments.cli import parse_flags, run_or_exit
from experiments.features.splits import digits_splits

_SEED = flags.DEFINE_integer("seed", 0, "Initialisation and batch-order seed.")
_NUM_STEPS = flags.DEFINE_integer("num_steps", 3000, "Adam steps.")
_OUTPUT = flags.DEFINE_string("output", None, "Where to write the .npz weights.")
_JSON = flags.DEFINE_string("json", None, "Also write the training report here.")
flags.mark_flag_as_required("output")


def main(argv):
    del argv

    def run():
        import jax

        from experiments.benchmarks.reports import report_header, write_json
        from genjax.features import base, digits_cnn

        splits = digits_splits()
        started = time.perf_counter()
        params, history = digits_cnn.train_digits_cnn(
            _SEED.value, splits["train"], splits["validation"], num_steps=_NUM_STEPS.value
        )
        seconds = time.perf_counter() - started
        base.save_params(_OUTPUT.value, params)
        report = {
            **report_header("digits_cnn"),
            "seed": _SEED.value,
            "num_steps": _NUM_STEPS.value,
            "train_seconds": round(seconds, 1),
            "num_parameters": sum(int(a.size) for a in jax.tree.leaves(params)),
            "best_step": history["best_step"],
            "validation_accuracy": history["best_validation_accuracy"],
            "train_accuracy": digits_cnn.accuracy(params, *splits["train"]),
            "test_accuracy": digits_cnn.accuracy(params, *splits["test"]),
            "curve": history["curve"],
        }
        write_json(_JSON.value, report)
        return report

    report = run_or_exit(run)
    print(json.dumps({k: v for k, v in report.items() if k != "curve"}, indent=2))


if __name__ == "__main__":
    app.run(main, flags_parser=parse_flags)
