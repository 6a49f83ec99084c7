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

from experiments.benchmarks.floors import FLOORS, floor_row
from experiments.cli import parse_flags, run_or_exit

_DATASETS = flags.DEFINE_list("datasets", ["digits", "binarized_mnist"], "Which floors.")
_NUM_BOOTSTRAP = flags.DEFINE_integer("num_bootstrap", 200, "Bootstrap resamples per interval.")
_JSON = flags.DEFINE_string("json", None, "Also write the results here.")


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
