"""Time for FID on 10k digits samples, end to end, on this CPU.

Draws ``--num_samples`` from a trained digits run (the leaderboard's VAE by
default), puts them on the 17 pixel levels, extracts the bundled digits
classifier's features and computes FID against the test split, timing each
stage; the first round includes compilation, the median is over the later
rounds::

    python -m experiments.benchmarks.fid_digits_time --workdir=/tmp/leaderboard/vae \\
        --json=experiments/benchmarks/results/fid_digits_time.json
"""

from __future__ import annotations

import json
import time

from absl import app, flags

from experiments.cli import parse_flags, run_or_exit

_WORKDIR = flags.DEFINE_string("workdir", None, "A trained digits run.")
_NUM_SAMPLES = flags.DEFINE_integer("num_samples", 10_000, "Samples judged.")
_ROUNDS = flags.DEFINE_integer("rounds", 5, "Rounds; the first includes compilation.")
_JSON = flags.DEFINE_string("json", None, "Also write the results here.")
flags.mark_flag_as_required("workdir")


def benchmark(workdir: str, num_samples: int, rounds: int) -> dict:
    import jax
    import numpy as np

    from experiments.benchmarks.reports import report_header
    from experiments.features.splits import digits_splits
    from genjax import features, metrics
    from genjax.train.checkpoint import load_config
    from genjax.train.quality_report import to_pixel_levels
    from genjax.train.restore import restore_from_workdir

    config = load_config(workdir)
    model, dataset, state, _ = restore_from_workdir(config, workdir, checkpoint="best")
    params = state.eval_params()
    sample_fn = jax.jit(model.sample, static_argnums=2)
    test = digits_splits()["test"][0]
    times = {"sample": [], "features": [], "fid": [], "features_and_fid": []}
    fid = None
    for index in range(rounds):
        started = time.perf_counter()
        samples = np.asarray(sample_fn(params, jax.random.key(index), num_samples))
        samples = to_pixel_levels(samples, dataset.num_levels, dequantized=bool(config.data.dequantize))
        sampled = time.perf_counter()
        network = features.load("digits_cnn")
        fake = features.extract(network.features, samples)
        real = features.extract(network.features, test)
        extracted = time.perf_counter()
        fid = float(metrics.frechet_distance(real, fake))
        done = time.perf_counter()
        times["sample"].append(sampled - started)
        times["features"].append(extracted - sampled)
        times["fid"].append(done - extracted)
        times["features_and_fid"].append(done - sampled)
        print(json.dumps({"round": index, "fid": fid, **{k: round(v[-1], 3) for k, v in times.items()}}))
    steady = {k: round(float(np.median(v[1:])), 3) for k, v in times.items()}
    return {
        **report_header("fid_digits_time"),
        "workdir_model": config.model.name,
        "num_samples": num_samples,
        "num_reference": len(test),
        "fid": fid,
        "first_round_seconds": {k: round(v[0], 3) for k, v in times.items()},
        "median_seconds_after_first": steady,
        "rounds": rounds,
    }


def main(argv):
    del argv
    from experiments.benchmarks.reports import write_json

    report = run_or_exit(lambda: benchmark(_WORKDIR.value, _NUM_SAMPLES.value, _ROUNDS.value))
    write_json(_JSON.value, report)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    app.run(main, flags_parser=parse_flags)
