"""The digits leaderboard: every family's digits configuration judged by one protocol.

Trains each run below with the ordinary loop (model selection on the validation
split, the test split untouched until the end), then evaluates its best
checkpoint with ``experiments.evaluate``'s sample-quality report: FID, KID, IS,
precision/recall, density/coverage, NDB, C2ST and nearest-neighbour distances in
the bundled digits classifier's feature space, each with a bootstrap interval,
beside the family's test NLL in bits/dim where it has one. The first row is the
real-data floor: the training images judged against the test split by the same
code::

    python -m experiments.benchmarks.leaderboard --workdir=/tmp/leaderboard --stage=train
    python -m experiments.benchmarks.leaderboard --workdir=/tmp/leaderboard --stage=evaluate \\
        --json=experiments/benchmarks/results/leaderboard.json --figure=docs/images/leaderboard_fid_nll.png

``--runs`` picks a subset by name; training an already trained run only
restores it (the loop resumes, and a finished run has nothing left to do).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from absl import app, flags

from experiments.cli import parse_flags, run_or_exit

# name -> (config module, variant, training steps). The digits are modelled at
# their 17 grey levels wherever the family allows it, so every sample lives in
# the space the feature network was trained on. Budgets are cut where the
# config's own would take more than ~10 CPU minutes; the table states them.
RUNS: dict[str, tuple[str, str, int]] = {
    "vae": ("vae", "digits_discretized", 6000),
    "nice": ("flow", "nice_digits", 2000),
    "realnvp": ("flow", "realnvp_digits", 2000),
    "glow": ("flow", "glow_digits", 2000),
    "maf": ("flow", "maf_digits", 2000),
    "iaf": ("flow", "iaf_digits", 2000),
    "planar": ("flow", "planar_digits", 2000),
    "radial": ("flow", "radial_digits", 2000),
    "gan_non_saturating": ("gan", "non_saturating_digits", 5000),
    "gan_wgan_gp": ("gan", "wgan_gp_digits", 5000),
    "gan_r1": ("gan", "r1_digits", 5000),
    "made": ("autoregressive", "made_digits_gray", 3000),
    "pixelcnn": ("autoregressive", "pixelcnn_digits_gray", 3000),
    "gated_pixelcnn": ("autoregressive", "gated_pixelcnn_digits_gray", 3000),
    "wavenet": ("autoregressive", "wavenet_digits_gray", 3000),
    "lstm": ("autoregressive", "lstm_digits_gray", 3000),
    "transformer": ("autoregressive", "transformer_digits_gray", 3000),
    "ddpm": ("ddpm", "linear_digits", 3000),
    "ebm": ("ebm", "cd_replay_digits", 3000),
    "ncsn": ("score", "ncsn_digits", 3000),
}

_WORKDIR = flags.DEFINE_string("workdir", None, "Parent of one run directory per leaderboard entry.")
_RUNS = flags.DEFINE_list("runs", list(RUNS), "Which entries (names in RUNS).")
_STAGE = flags.DEFINE_enum("stage", "all", ["train", "evaluate", "all"], "Train, evaluate, or both.")
_JSON = flags.DEFINE_string("json", None, "Also write the results here.")
flags.mark_flag_as_required("workdir")


def run_config(name: str):
    """The leaderboard's config for entry ``name`` (its budget applied)."""
    import importlib

    module, variant, num_steps = RUNS[name]
    config = importlib.import_module(f"experiments.configs.{module}").get_config(variant)
    config.train.num_steps = num_steps
    config.train.sample_every = 0
    return config


def train(workdir: str, names) -> list[dict]:
    """Trains (or resumes) each named run; returns their wall times."""
    from genjax.train import train_and_evaluate

    timings = []
    for name in names:
        config = run_config(name)
        started = time.perf_counter()
        train_and_evaluate(config, str(Path(workdir) / name), print_fn=lambda *_: None)
        entry = {"run": name, "train_seconds": round(time.perf_counter() - started, 1)}
        print(json.dumps(entry), flush=True)
        timings.append(entry)
        timing_file = Path(workdir) / name / "leaderboard_train.json"
        if not timing_file.exists():  # the first (real) training's time, not a later no-op resume
            timing_file.write_text(json.dumps(entry))
    return timings


def main(argv):
    del argv
    unknown = sorted(set(_RUNS.value) - set(RUNS))
    if unknown:
        raise SystemExit(f"--runs: unknown {', '.join(unknown)}; allowed: {', '.join(RUNS)}")

    def run():
        if _STAGE.value in ("train", "all"):
            train(_WORKDIR.value, _RUNS.value)

    run_or_exit(run)


if __name__ == "__main__":
    app.run(main, flags_parser=parse_flags)
