"""Evaluates one of a workdir's checkpoints on a split and writes a JSON report.

    python -m experiments.evaluate --workdir=/tmp/vae                      # best checkpoint, test split
    python -m experiments.evaluate --workdir=/tmp/vae --checkpoint=latest --split=validation
    python -m experiments.evaluate --workdir=/tmp/vae --checkpoint=4000
    python -m experiments.evaluate --workdir=/tmp/mnist \
        --config=experiments/configs/vae.py:binarized_mnist --config.eval.num_importance_samples=5000

With ``--metrics`` it judges samples instead, the way papers report them
(``genjax.train.quality_report``): it draws ``--num_samples`` from the
checkpoint and writes ``<workdir>/quality_<split>_<step>.json`` (each metric
with its interval) and ``<workdir>/nearest_neighbours_<step>.png`` (samples
beside their nearest training images)::

    python -m experiments.evaluate --workdir=/tmp/ddpm_digits \
        --metrics=fid,kid,is,precision_recall,density_coverage,ndb,c2st,birthday,nn --num_samples=1000
    python -m experiments.evaluate --workdir=/tmp/cifar_ddpm --metrics=fid,kid,is --num_samples=10000 \
        --feature_weights=/data/inception_fid.npz      # or $GENJAX_INCEPTION_WEIGHTS

With ``--per_class`` a conditional model's samples are also judged class by
class (`genjax.train.conditional_quality`): ``--num_per_class`` samples of each
class, the classifier's accuracy on them and per-class FID/precision/recall
against the split's images of that class, added under ``"per_class"`` to the
JSON the run writes::

    python -m experiments.evaluate --workdir=/tmp/ddpm_cond --per_class --num_per_class=100

Features come from the bundled digits classifier (digits), the bundled
contrastive encoder (binarized MNIST), the FID Inception-v3 with weights from
a local file (any other image data), or the raw coordinates (2-D data).

``--checkpoint`` is ``best`` (the step selected on validation by
``train.select_by``; the default), ``latest`` or a step number. Without --config
the config saved in the workdir is used. The report (test NLL
or bound in nats, bits/dim and the family's extra metrics) is printed and saved
as ``<workdir>/eval_<split>_<step>.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

from absl import app, flags
from ml_collections import config_flags

from experiments.cli import parse_flags, run_or_exit

_CONFIG = config_flags.DEFINE_config_file("config", None, "Config; defaults to <workdir>/config.json.")
_WORKDIR = flags.DEFINE_string("workdir", None, "A training run's workdir.")
_SPLIT = flags.DEFINE_string("split", "test", "Split to evaluate: train, validation or test.")
_CHECKPOINT = flags.DEFINE_string("checkpoint", "best", "best (selected on validation), latest or a step.")
_METRICS = flags.DEFINE_list(
    "metrics",
    None,
    "Sample-quality metrics (all, or any of fid,kid,is,precision_recall,density_coverage,"
    "ndb,c2st,birthday,nn); unset: the likelihood report.",
)
_NUM_SAMPLES = flags.DEFINE_integer("num_samples", 1000, "Samples drawn for --metrics.")
_SEED = flags.DEFINE_integer("seed", 0, "Sampling and metric seed for --metrics.")
_NUM_BOOTSTRAP = flags.DEFINE_integer("num_bootstrap", 200, "Bootstrap resamples per interval.")
_FEATURE_NETWORK = flags.DEFINE_string(
    "feature_network", None, "digits_cnn, mnist_encoder or inception_v3; default: chosen by the data."
)
_FEATURE_WEIGHTS = flags.DEFINE_string(
    "feature_weights",
    None,
    "Weights .npz for the feature network (Inception: default $GENJAX_INCEPTION_WEIGHTS).",
)
_PER_CLASS = flags.DEFINE_bool("per_class", False, "Conditional models: also judge samples class by class.")
_NUM_PER_CLASS = flags.DEFINE_integer("num_per_class", 100, "Samples of each class for --per_class.")
flags.mark_flag_as_required("workdir")


def main(argv):
    del argv
    import jax

    from genjax.train.quality_report import evaluate_samples_workdir
    from genjax.train.restore import evaluate_workdir

    def run():
        if _METRICS.value is None:
            return evaluate_workdir(_CONFIG.value, _WORKDIR.value, _SPLIT.value, checkpoint=_CHECKPOINT.value)
        return evaluate_samples_workdir(
            _CONFIG.value,
            _WORKDIR.value,
            metric_names=_METRICS.value,
            num_samples=_NUM_SAMPLES.value,
            split=_SPLIT.value,
            checkpoint=_CHECKPOINT.value,
            seed=_SEED.value,
            num_bootstrap=_NUM_BOOTSTRAP.value,
            feature_network=_FEATURE_NETWORK.value,
            weights_path=_FEATURE_WEIGHTS.value,
        )

    def run_with_classes():
        if not _PER_CLASS.value:
            return run()
        from genjax.train.conditional_quality import per_class_workdir

        # First: an unconditional model fails here, before the longer report.
        per_class = per_class_workdir(
            _CONFIG.value,
            _WORKDIR.value,
            split=_SPLIT.value,
            checkpoint=_CHECKPOINT.value,
            seed=_SEED.value,
            num_per_class=_NUM_PER_CLASS.value,
            feature_network=_FEATURE_NETWORK.value,
            weights_path=_FEATURE_WEIGHTS.value,
        )
        report = run() | {"per_class": per_class}
        kind = "eval" if _METRICS.value is None else "quality"
        path = Path(_WORKDIR.value) / f"{kind}_{report['split']}_{report['step']}.json"
        if jax.process_index() == 0:  # the file run() wrote, now with the per-class report
            path.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
        return report

    report = run_or_exit(run_with_classes)
    if jax.process_index() == 0:  # every process computed it; one prints it
        print(json.dumps(report, sort_keys=True))


if __name__ == "__main__":
    app.run(main, flags_parser=parse_flags)
