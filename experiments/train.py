"""Trains any genjax family from a config; a thin wrapper around `train_and_evaluate`.

    python -m experiments.train --config=experiments/configs/vae.py:digits --workdir=/tmp/vae
    python -m experiments.train --config=experiments/configs/vae.py:smoke --workdir=/tmp/s \
        --config.train.num_steps=100

Re-running with the same --workdir resumes from the latest checkpoint. SIGTERM or
Ctrl-C finishes the current chunk, saves a checkpoint there and exits 0 with one
line; running the same command again resumes bit-exactly.
"""

from __future__ import annotations

import json

from absl import app, flags
from ml_collections import config_flags

from experiments.cli import parse_flags, run_or_exit

_CONFIG = config_flags.DEFINE_config_file("config", None, "Config file and variant: path.py:variant.")
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints, metrics and samples.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
    del argv
    import jax

    from genjax.train import train_and_evaluate

    results = run_or_exit(lambda: train_and_evaluate(_CONFIG.value, _WORKDIR.value))
    if not results.get("preempted") and jax.process_index() == 0:
        print(json.dumps(results, sort_keys=True))


if __name__ == "__main__":
    app.run(main, flags_parser=parse_flags)
