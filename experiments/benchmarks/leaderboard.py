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
# config's own would take more than ~10 CPU minutes (one 180-minute session
# trains and judges them all on 2 cores); the table states them.
RUNS: dict[str, tuple[str, str, int]] = {
    "vae": ("vae", "digits_discretized", 6000),
    "nice": ("flow", "nice_digits", 2000),
    "realnvp": ("flow", "realnvp_digits", 2000),
    "glow": ("flow", "glow_digits", 2000),
    "maf": ("flow", "maf_digits", 2000),
    "planar": ("flow", "planar_digits", 2000),
    "radial": ("flow", "radial_digits", 2000),
    "gan_non_saturating": ("gan", "non_saturating_digits", 5000),
    "gan_wgan_gp": ("gan", "wgan_gp_digits", 5000),
    "gan_r1": ("gan", "r1_digits", 5000),
    "made": ("autoregressive", "made_digits_gray", 3000),
    "pixelcnn": ("autoregressive", "pixelcnn_digits_gray", 3000),
    "ddpm": ("ddpm", "linear_digits", 2000),
    "ncsn": ("score", "ncsn_digits", 2000),
    "ebm": ("ebm", "cd_replay_digits", 2000),
    "gated_pixelcnn": ("autoregressive", "gated_pixelcnn_digits_gray", 1500),
    "wavenet": ("autoregressive", "wavenet_digits_gray", 1500),
    "lstm": ("autoregressive", "lstm_digits_gray", 1500),
    "transformer": ("autoregressive", "transformer_digits_gray", 1500),
    "iaf": ("flow", "iaf_digits", 1000),  # density through the sequential inverse: ~9x a MAF step
}

_WORKDIR = flags.DEFINE_string("workdir", None, "Parent of one run directory per leaderboard entry.")
_RUNS = flags.DEFINE_list("runs", list(RUNS), "Which entries (names in RUNS).")
_STAGE = flags.DEFINE_enum("stage", "all", ["train", "evaluate", "all"], "Train, evaluate, or both.")
_JSON = flags.DEFINE_string("json", None, "Also write the results here.")
_FIGURE = flags.DEFINE_string("figure", None, "PNG of FID against test bits/dim.")
_NUM_SAMPLES = flags.DEFINE_integer(
    "num_samples", 1000, "Samples per model (and training images in the floor)."
)
_NUM_BOOTSTRAP = flags.DEFINE_integer("num_bootstrap", 200, "Bootstrap resamples per interval.")
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
    """Trains (or resumes) each named run; returns their wall times.

    A run stopped early (SIGTERM checkpoints and returns) adds its time to
    ``leaderboard_train_partial.json`` and ends the stage, so a resumed run's
    time is the sum of its pieces and an unfinished run is never evaluated.
    """
    from genjax.train import train_and_evaluate

    timings = []
    for name in names:
        config = run_config(name)
        run_dir = Path(workdir) / name
        timing_file, partial_file = (
            run_dir / "leaderboard_train.json",
            run_dir / "leaderboard_train_partial.json",
        )
        if timing_file.exists():
            continue
        started = time.perf_counter()
        results = train_and_evaluate(config, str(run_dir), print_fn=lambda *_: None)
        seconds = time.perf_counter() - started
        if partial_file.exists():
            seconds += json.loads(partial_file.read_text())["train_seconds"]
        entry = {"run": name, "train_seconds": round(seconds, 1)}
        if results.get("step") != config.train.num_steps:  # preempted: keep the time, stop here
            partial_file.write_text(json.dumps(entry))
            print(f"{name}: stopped at step {results.get('step')}", flush=True)
            break
        print(json.dumps(entry), flush=True)
        timings.append(entry)
        timing_file.write_text(json.dumps(entry))
    return timings


def _test_record(run_dir: Path) -> dict:
    """The loop's one test evaluation (on the step selected on validation), from metrics.jsonl."""
    from genjax.train.logging import read_metrics

    records = [r for r in read_metrics(run_dir) if r["split"] == "test"]
    return records[-1] if records else {}


def evaluate(workdir: str, names, num_samples: int, num_bootstrap: int) -> list[dict]:
    """Quality reports of every trained run (DDPM twice: ancestral and DDIM-50), floor first."""
    from experiments.benchmarks.floors import floor_row
    from genjax.train.checkpoint import load_config
    from genjax.train.quality_report import METRICS, evaluate_samples_workdir

    rows = [{"run": "real (train vs test)", **floor_row("digits", num_samples, num_bootstrap)}]
    print(json.dumps(rows[0]), flush=True)
    for name in names:
        run_dir = Path(workdir) / name
        if not (run_dir / "leaderboard_train.json").exists():
            print(f"{name}: not trained, skipped", flush=True)
            continue
        config = load_config(run_dir)
        variants = [(name, config)]
        if RUNS[name][0] == "ddpm":
            ddim = config.copy_and_resolve_references()
            ddim.model.sampler = "ddim"
            variants.append((f"{name}_ddim50", ddim))
        test = _test_record(run_dir)
        timing = json.loads((run_dir / "leaderboard_train.json").read_text())
        for label, variant in variants:
            cached = run_dir / f"leaderboard_row_{label}.json"
            if cached.exists():  # evaluated by an earlier call (rows are deterministic in the seed)
                rows.append(json.loads(cached.read_text()))
                continue
            started = time.perf_counter()
            report = evaluate_samples_workdir(
                variant,
                str(run_dir),
                metric_names=METRICS,
                num_samples=num_samples,
                num_bootstrap=num_bootstrap,
            )
            row = {
                "run": label,
                "config": f"{RUNS[name][0]}.py:{RUNS[name][1]}",
                "num_steps": RUNS[name][2],
                "train_seconds": timing["train_seconds"],
                "selected_step": report["step"],
                "test_nll": test.get("nll"),
                "test_bits_per_dim": test.get("bits_per_dim"),
                "evaluate_seconds": round(time.perf_counter() - started, 1),
                **report,
            }
            print(json.dumps(row), flush=True)
            cached.write_text(json.dumps(row))
            rows.append(row)
    return rows


def main(argv):
    del argv
    unknown = sorted(set(_RUNS.value) - set(RUNS))
    if unknown:
        raise SystemExit(f"--runs: unknown {', '.join(unknown)}; allowed: {', '.join(RUNS)}")

    def run():
        from experiments.benchmarks.leaderboard_report import save_figure
        from experiments.benchmarks.reports import report_header, write_json

        if _STAGE.value in ("train", "all"):
            train(_WORKDIR.value, _RUNS.value)
        if _STAGE.value in ("evaluate", "all"):
            rows = evaluate(_WORKDIR.value, _RUNS.value, _NUM_SAMPLES.value, _NUM_BOOTSTRAP.value)
            report = {**report_header("leaderboard"), "num_samples": _NUM_SAMPLES.value, "rows": rows}
            write_json(_JSON.value, report)
            if _FIGURE.value:
                save_figure(_FIGURE.value, rows)

    run_or_exit(run)


if __name__ == "__main__":
    app.run(main, flags_parser=parse_flags)
