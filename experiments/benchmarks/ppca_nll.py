"""PPCA test NLL: the closed-form linear-Gaussian baseline every likelihood model must beat.

Fits `genjax.models.pca.fit_ppca` (exact maximum likelihood, ``ddof=0``) to the dequantized
training split for each q in ``--components``, picks q on the validation NLL, and reports the
test NLL at that q once, in nats and bits/dim of the *discrete* data (``- D log L``, as for the
flows). Dequantization noise is the pipeline's fixed noise per split::

    python -m experiments.benchmarks.ppca_nll --datasets=digits,binarized_mnist \\
        --json=experiments/benchmarks/results/ppca_nll.json
"""

from __future__ import annotations

import json
import math
import time

from absl import app, flags

from experiments.cli import parse_flags, run_or_exit

_DATASETS = flags.DEFINE_list("datasets", ["digits", "binarized_mnist"], "digits and/or binarized_mnist.")
_COMPONENTS = flags.DEFINE_list(
    "components",
    [
        "1",
        "2",
        "4",
        "8",
        "16",
        "32",
        "48",
        "56",
        "60",
        "62",
        "63",
        "64",
        "128",
        "256",
        "400",
        "500",
        "600",
        "700",
        "750",
    ],
    "q grid (values >= D are skipped).",
)
_JSON = flags.DEFINE_string("json", None, "Also write the results here.")


def _data_config(dataset: str):
    from experiments.configs import pca as pca_config

    variant = "digits" if dataset == "digits" else "binarized_mnist"
    return pca_config.get_config(variant).data


def _split(dataset, data_config, split: str):
    """All of a split's dequantized examples `[N, D]` (padding rows dropped)."""
    import numpy as np

    from genjax import data

    rows = []
    for batch in data.eval_batches(dataset, data_config, split=split, batch_size=1000):
        rows.append(batch["x"][batch["mask"] > 0].reshape(int(batch["mask"].sum()), -1))
    return np.concatenate(rows)


def measure(name: str, components: list[int]) -> dict:
    import jax
    import numpy as np

    from genjax import data, losses
    from genjax.models.pca import fit_ppca, ppca_log_prob

    data_config = _data_config(name)
    dataset = data.load_dataset(data_config)
    start = time.perf_counter()
    train, validation, test = (_split(dataset, data_config, s) for s in ("train", "validation", "test"))
    num_dims, num_levels = train.shape[1], dataset.num_levels
    fit = jax.jit(fit_ppca, static_argnums=1)
    log_prob = jax.jit(ppca_log_prob)

    def nll(params, x) -> float:
        values = losses.dequantized_log_prob(log_prob(params, x), num_dims=num_dims, num_levels=num_levels)
        return -float(np.mean(np.asarray(values)))

    curve = []
    for q in (q for q in components if q < num_dims):
        params = fit(train, q)
        curve.append(
            {
                "num_components": q,
                "train_nll": nll(params, train),
                "validation_nll": nll(params, validation),
                "noise_variance": float(params.noise_variance),
            }
        )
        print(json.dumps({"dataset": name, **curve[-1]}), flush=True)
    best = min(curve, key=lambda row: row["validation_nll"])
    test_nll = nll(fit(train, best["num_components"]), test)
    return {
        "dataset": name,
        "num_train": int(train.shape[0]),
        "num_test": int(test.shape[0]),
        "num_dims": num_dims,
        "num_levels": num_levels,
        "selected_num_components": best["num_components"],
        "validation_nll": best["validation_nll"],
        "test_nll": test_nll,
        "test_bits_per_dim": test_nll / (num_dims * math.log(2.0)),
        "wall_seconds": time.perf_counter() - start,
        "curve": curve,
    }


def main(argv):
    del argv
    from experiments.benchmarks.reports import report_header, write_json

    def run():
        components = sorted(int(q) for q in _COMPONENTS.value)
        rows = [measure(name, components) for name in _DATASETS.value]
        for row in rows:
            summary = {k: v for k, v in row.items() if k != "curve"}
            print(json.dumps(summary), flush=True)
        report = {**report_header("ppca_nll"), "ddof": 0, "rows": rows}
        write_json(_JSON.value, report)
        return report

    run_or_exit(run)


if __name__ == "__main__":
    app.run(main, flags_parser=parse_flags)
