"""Real-data floors: real images judged by every sample metric, as if they were a model's samples.

A perfect model's samples are as good as fresh real images, so each metric's
value for real training images against the test split is the best any model
can score at that sample size (FID and KID are biased at small N, so the
floor is not 0). For digits (297 test images) the leaderboard's rows use 1000
samples; for binarized MNIST, 10,000::

    python -m experiments.benchmarks.real_floors \\
        --json=experiments/benchmarks/results/real_floors.json
"""

from __future__ import annotations

import json

from absl import app, flags

from experiments.cli import parse_flags, run_or_exit

_DATASETS = flags.DEFINE_list("datasets", ["digits", "binarized_mnist"], "Which floors.")
_NUM_BOOTSTRAP = flags.DEFINE_integer("num_bootstrap", 200, "Bootstrap resamples per interval.")
_JSON = flags.DEFINE_string("json", None, "Also write the results here.")
# dataset -> (feature network, training images standing in for samples)
FLOORS = {"digits": ("digits_cnn", 1000), "binarized_mnist": ("mnist_encoder", 10_000)}


def _splits(dataset: str):
    import numpy as np

    from experiments.features.splits import digits_splits, mnist_splits

    if dataset == "digits":
        splits = digits_splits()
        return splits["train"][0], splits["test"][0]
    splits = mnist_splits(None)
    return (np.asarray(splits[name], np.float32) for name in ("train", "test"))


def floor_row(dataset: str, num_samples: int | None = None, num_bootstrap: int = 200) -> dict:
    """Training images against the test split, judged as samples.

    ``num_samples`` training images stand in for a perfect model's samples
    (the models' N, so FID's small-N bias is the same). Their
    nearest-neighbour distances would be 0 by construction and their NDB bins
    are their own, so ``nn`` and ``ndb`` judge the test images against the
    training set instead (digits: 297 images, hence 29 bins): what a model
    that does not memorise scores.
    """
    import jax
    import numpy as np

    from genjax import features
    from genjax.train.quality_report import METRICS, quality_report

    name, default_num = FLOORS[dataset]
    network = features.load(name)
    train, test = _splits(dataset)
    chosen = np.random.default_rng(0).permutation(len(train))[: num_samples or default_num]
    names = tuple(m for m in METRICS if m != "nn")
    report, _ = quality_report(
        jax.random.key(1),
        train[chosen],
        test,
        train,
        network=network,
        metric_names=names,
        num_bootstrap=num_bootstrap,
    )
    held_out, _ = quality_report(
        jax.random.key(1),
        test,
        test,
        train,
        network=network,
        metric_names=("nn", "ndb"),
        num_bootstrap=num_bootstrap,
    )
    report["nn"], report["ndb"] = held_out["nn"], held_out["ndb"]
    return {"data": dataset, **report}


def main(argv):
    del argv
    from experiments.benchmarks.reports import report_header, write_json

    def run():
        unknown = sorted(set(_DATASETS.value) - set(FLOORS))
        if unknown:
            from genjax.errors import ConfigError

            raise ConfigError(f"--datasets: unknown {', '.join(unknown)}; allowed: {', '.join(FLOORS)}")
        rows = []
        for dataset in _DATASETS.value:
            rows.append(floor_row(dataset, num_bootstrap=_NUM_BOOTSTRAP.value))
            print(json.dumps(rows[-1]), flush=True)
        report = {**report_header("real_floors"), "rows": rows}
        write_json(_JSON.value, report)
        return report

    run_or_exit(run)


if __name__ == "__main__":
    app.run(main, flags_parser=parse_flags)
