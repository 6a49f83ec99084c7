"""How the sample-quality metrics scale with the number of samples N, on random features.

    python -m experiments.benchmarks.metrics_scaling \\
        --json=experiments/benchmarks/results/metrics_scaling.json

Features are Gaussian (real ~ N(0, I), fake ~ N(0.1, I)), float32, D = 2048 for
FID and KID (Inception pool3 width) and D = 64 for the k-NN, binning and
classifier metrics. Each case runs twice: the first call includes XLA
compilation for that shape, the second is the steady-state time. ``--smoke``
runs tiny sizes in seconds.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import jax
import numpy as np

from experiments.benchmarks.timing import run_header


def _features(num: int, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(num, dim)).astype(np.float32), (rng.normal(size=(num, dim)) + 0.1).astype(
        np.float32
    )


def _timed(fn: Callable[[], object]) -> tuple[float, float, object]:
    started = time.perf_counter()
    value = jax.block_until_ready(fn())
    first = time.perf_counter() - started
    started = time.perf_counter()
    value = jax.block_until_ready(fn())
    return first, time.perf_counter() - started, value


def _cases(smoke: bool):
    from genjax import metrics

    key = jax.random.key(0)
    wide = [500, 1000] if smoke else [1_000, 10_000, 50_000]
    narrow = [200, 500] if smoke else [1_000, 5_000, 10_000]
    for num in wide:
        yield "frechet_distance", num, 2048, lambda r, f: metrics.frechet_distance(r, f)
        yield (
            "kernel_inception_distance",
            num,
            2048,
            lambda r, f: metrics.kernel_inception_distance(key, r, f)[0],
        )
    for num in narrow:
        yield "precision_recall", num, 64, lambda r, f: metrics.precision_recall(r, f, k=3).precision
        yield "density_coverage", num, 64, lambda r, f: metrics.density_coverage(r, f, k=5).coverage
        yield (
            "number_of_different_bins",
            num,
            64,
            lambda r, f: metrics.number_of_different_bins(key, r, f).num_different_bins,
        )
        yield (
            "classifier_two_sample_test",
            num,
            64,
            lambda r, f: metrics.classifier_two_sample_test(key, r, f).accuracy,
        )
        yield (
            "nearest_neighbour_distances",
            num,
            64,
            lambda r, f: metrics.nearest_neighbour_distances(r, f)[0],
        )


def main(argv: list[str]) -> dict:
    parser = argparse.ArgumentParser(
        prog="python -m experiments.benchmarks.metrics_scaling", description=__doc__
    )
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    result = run_header("metrics_scaling", "experiments.benchmarks.metrics_scaling", argv)
    rows = []
    for name, num, dim, fn in _cases(args.smoke):
        real, fake = _features(num, dim, seed=num)
        first, steady, value = _timed(lambda fn=fn, real=real, fake=fake: fn(real, fake))
        row = {"metric": name, "n": num, "dim": dim, "first_s": round(first, 3), "steady_s": round(steady, 3)}
        row["value"] = float(np.asarray(value).ravel()[0])
        print(json.dumps(row), flush=True)
        rows.append(row)
    result["rows"] = rows
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
