"""Evaluates one of a workdir's checkpoints on a split and writes a JSON report.

    python -m experiments.evaluate --workdir=/tmp/vae                      # best checkpoint, test split
    python -m experiments.evaluate --workdir=/tmp/vae --checkpoint=latest --split=validation
    python -m experiments.evaluate --workdir=/tmp/vae --checkpoint=4000
    python -m experiments.evaluate --workdir=/tmp/mnist \
        --config=experiments/configs/vae.py:binarized_mnist --config.eval.num_importance_samples=5000

``--checkpoint`` is ``best`` (the step selected on validation by
``train.select_by``; the default), ``latest`` or a step number. Without --config
the config saved in the workdir is used. The report (test NLL
or bound in nats, bits/dim and the family's extra metrics) is printed and saved
as ``<workdir>/eval_<split>_<step>.json``.
"""

from __future__ import annotations

import json

from absl import app, flags
from ml_collections import config_flags

from experiments.cli import parse_flags, run_or_exit

_CONFIG = config_flags.DEFINE_config_file("config", None, "Config; defaults to <workdir>/config.json.")
_WORKDIR = flags.DEFINE_string("workdir", None, "A training run's workdir.")
_SPLIT = flags.DEFINE_string("split", "test", "Split to evaluate: train, validation or test.")
_CHECKPOINT = flags.DEFINE_string("checkpoint", "best", "best (selected on validation), latest or a step.")
flags.mark_flag_as_required("workdir")


def main(argv):
    del argv
    import jax

    from genjax.train.restore import evaluate_workdir

    report = run_or_exit(
        lambda: evaluate_workdir(_CONFIG.value, _WORKDIR.value, _SPLIT.value, checkpoint=_CHECKPOINT.value)
    )
    if jax.process_index() == 0:  # every process computed it; one prints it
        print(json.dumps(report, sort_keys=True))


if __name__ == "__main__":
    app.run(main, flags_parser=parse_flags)
