"""The KDE baseline on dequantized 8x8 digits: test NLL and bits/dim, bandwidth chosen on validation.

Two ways to a bandwidth, both scored by the ``kde`` family's exact ``log_prob`` in
the discrete space (``- D log 17`` for the dequantization, as for the flows):

* ``grid``: every one of the 1350 training digits is a centre
  (`genjax.models.kde.fit_kde`), and the bandwidth is the point of a 40-value
  log grid over [0.02, 1] with the best mean validation log-likelihood (150
  validation digits); the test split (297 digits) is scored once, at that
  bandwidth. This is the reported figure.
* ``loop``: ``kde.py:digits`` through the ordinary training loop (1280 centres
  from the training stream, log-bandwidth by leave-one-out NLL, checkpoint by
  validation NLL), as a check that the loop reaches the same place.

Each split is dequantized once with the pipeline's fixed evaluation noise::

    python -m experiments.benchmarks.kde_digits --workdir=/tmp/kde_digits \\
        --json=experiments/benchmarks/results/kde_digits.json

The uniform distribution over the 17 levels scores log2(17) = 4.087 bits/dim.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

from absl import app, flags

from experiments.benchmarks.reports import report_header, write_json
from experiments.cli import parse_flags, run_or_exit

_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory of the training-loop variant.")
_LOOP = flags.DEFINE_bool("loop", True, "Also train kde.py:digits with the ordinary loop.")
_JSON = flags.DEFINE_string("json", None, "Also write the results here.")
flags.mark_flag_as_required("workdir")


def _split(dataset, data_config, split: str):
    """`[N, 64]` dequantized rows of ``split`` (the pipeline's fixed eval noise), padding dropped."""
    import numpy as np

    from genjax.data.pipeline import eval_batches

    rows = [b["x"][b["mask"] > 0] for b in eval_batches(dataset, data_config, split=split, batch_size=500)]
    x = np.concatenate(rows)
    return x.reshape(len(x), -1)


def grid_fit(config):
    """Bandwidth by validation grid over all training digits; test scored once."""
    import jax
    import numpy as np

    from genjax import metrics, models
    from genjax.data import load_dataset
    from genjax.models.kde import fit_kde, kde_params

    dataset = load_dataset(config.data)
    train, valid, test = (_split(dataset, config.data, s) for s in ("train", "validation", "test"))
    started = time.perf_counter()
    bandwidths = [float(h) for h in np.logspace(math.log10(0.02), 0, 40)]
    fit = fit_kde(train, valid, bandwidths=bandwidths)
    config.model.num_centres = len(train)
    model = models.build(config, dataset.spec)
    params = kde_params(fit.centres, fit.bandwidth)
    score = jax.jit(model.log_prob)

    def nll(x):
        return -float(np.mean(np.asarray(score(params, {"x": x.reshape(-1, 8, 8, 1)}, None))))

    test_nll, valid_nll, train_nll = nll(test), nll(valid), nll(train)
    seconds = time.perf_counter() - started
    num_dims = train.shape[1]
    return {
        "method": "grid",
        "num_centres": len(train),
        "num_validation": len(valid),
        "num_test": len(test),
        "bandwidth": round(fit.bandwidth, 5),
        "grid": [round(bandwidths[0], 4), round(bandwidths[-1], 4), len(bandwidths)],
        "validation_nll": round(valid_nll, 3),
        "validation_bits_per_dim": round(float(metrics.bits_per_dim(valid_nll, num_dims)), 4),
        "test_nll": round(test_nll, 3),
        "test_bits_per_dim": round(float(metrics.bits_per_dim(test_nll, num_dims)), 4),
        # Each training digit is its own centre here, so this is far below a held-out figure.
        "train_nll_including_own_centre": round(train_nll, 3),
        "seconds": round(seconds, 1),
        "validation_curve": {str(round(h, 4)): round(s, 3) for h, s in fit.validation_scores.items()},
    }


def loop_fit(config, workdir: str):
    from genjax.train import train_and_evaluate

    started = time.perf_counter()
    final = train_and_evaluate(config, workdir, print_fn=lambda *_: None)
    return {
        "method": "loop",
        "config": "kde.py:digits",
        "num_steps": config.train.num_steps,
        "num_centres": config.model.num_centres,
        "selected_step": final["selection/step"],
        "bandwidth": round(final["test/bandwidth"], 5),
        "validation_nll": round(final["validation/nll"], 3),
        "test_nll": round(final["test/nll"], 3),
        "test_bits_per_dim": round(final["test/bits_per_dim"], 4),
        "seconds": round(time.perf_counter() - started, 1),
    }


def main(argv):
    del argv

    def run():
        from experiments.configs import kde as kde_configs

        report = {**report_header("kde_digits"), "seed": 0, "results": []}
        report["results"].append(grid_fit(kde_configs.get_config("digits")))
        print(json.dumps(report["results"][-1]), flush=True)
        if _LOOP.value:
            report["results"].append(loop_fit(kde_configs.get_config("digits"), str(Path(_WORKDIR.value))))
            print(json.dumps(report["results"][-1]), flush=True)
        write_json(_JSON.value, report)
        return report

    print(json.dumps(run_or_exit(run), indent=2))


if __name__ == "__main__":
    app.run(main, flags_parser=parse_flags)
