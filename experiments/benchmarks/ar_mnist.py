"""Autoregressive models on statically binarized MNIST: test NLL (nats) and time to the papers' figures.

Trains ``autoregressive.py:<architecture>_binarized_mnist`` for each
architecture on the shared file's 50k train images, evaluating the exact NLL
of its 10k validation images every ``--eval_every`` steps. Reports the
validation curve (step, wall seconds since the start including evaluations,
validation NLL), the first time the validation NLL reaches the published
figure, the step selected on validation, and the test NLL of that step,
evaluated once at the end; a MADE mask ensemble also reports its first mask
alone. The test split never steers anything::

    python -m experiments.benchmarks.ar_mnist --workdir=/tmp/ar_mnist \\
        --json=experiments/benchmarks/results/ar_mnist.json

Published test NLLs (nats): FVSBN 97.45, NADE 88.86 (Larochelle & Murray 2011),
MADE 88.04 with one mask and 86.64 with 32 (Germain et al. 2015), PixelCNN 81.30
(van den Oord et al. 2016). The PixelCNNs run a fixed CPU budget here. The 86.64 is
Table 6's two-hidden-layer 32-mask ensemble (the authors' released command: 8000 units
per layer); the one-layer ensemble here is the same method at 1/20 of the weights.

``--l2_grid`` trains one run per ``model.l2`` value and reports the test NLL of the
value selected on validation only.
"""

from __future__ import annotations

import ast
import datetime
import json
import os
import platform
import re
import resource
import time
from pathlib import Path

from absl import app, flags

from experiments.benchmarks.reports import write_json
from experiments.cli import parse_flags, run_or_exit

PUBLISHED = {
    "fvsbn": 97.45,
    "nade": 88.86,
    "made": 88.04,
    "made_ensemble": 86.64,
    "pixelcnn": 81.30,
    "gated_pixelcnn": 81.30,
}
# Steps and learning rate per architecture: a schedule that fits in minutes on 2 CPU cores.
SCHEDULES = {
    "fvsbn": {"num_steps": 30_000, "learning_rate": 3e-3, "eval_every": 3_000},
    "nade": {"num_steps": 8_000, "learning_rate": 2e-3, "eval_every": 1_000},
    "made": {"num_steps": 24_000, "learning_rate": 1e-3, "eval_every": 3_000},
    "made_ensemble": {"num_steps": 36_000, "learning_rate": 1e-3, "weight_decay": 0.05, "eval_every": 6_000},
    "pixelcnn": {"num_steps": 2_400, "learning_rate": 1e-3, "eval_every": 600},
    "gated_pixelcnn": {"num_steps": 1_800, "learning_rate": 1e-3, "eval_every": 600},
}
# CPU-budget sizes for the PixelCNNs (the config's are for accelerators).
CONV_SIZES = {"features": 16, "num_layers": 4, "output_features": 32}

_WORKDIR = flags.DEFINE_string("workdir", None, "Parent of one run directory per architecture.")
_ARCHITECTURES = flags.DEFINE_list("architectures", ["fvsbn", "nade", "made", "made_ensemble"], "Models.")
_NUM_STEPS = flags.DEFINE_integer("num_steps", 0, "Training steps per run (0: the schedule's).")
_EVAL_EVERY = flags.DEFINE_integer("eval_every", 0, "Validation NLL every this many steps (0: schedule's).")
_WEIGHT_DECAY = flags.DEFINE_float("weight_decay", -1.0, "AdamW weight decay (<0: the schedule's).")
_SET = flags.DEFINE_multi_string("set", [], "Config override, e.g. model.hidden_sizes=(500,500).")
_L2_GRID = flags.DEFINE_list(
    "l2_grid", [], "model.l2 values: train one run per value, select the value on validation, test it once."
)
_JSON = flags.DEFINE_string("json", None, "Also write the results here.")
flags.mark_flag_as_required("workdir")

_EVAL_LINE = re.compile(r"^validation at step (\d+): .*?\bnll ([-\d.]+)")


def _cpu_seconds() -> float:
    """User + system CPU time of this process: wall time is inflated when other jobs share the cores."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def train_one(
    architecture: str,
    workdir: str,
    num_steps: int,
    eval_every: int,
    *,
    on_progress=None,
    l2: float | None = None,
    run_name: str | None = None,
    evaluate_test: bool = True,
) -> dict:
    """One run in ``workdir/run_name`` (default: the architecture); ``l2`` sets ``model.l2``;
    ``evaluate_test=False`` (a grid member) never reads the test split.

    ``on_progress(partial_entry)`` runs after every validation evaluation (the JSON then
    holds the curve so far, so a run that outlives the session still leaves its numbers).
    """
    from experiments.configs import autoregressive as ar_configs
    from genjax.train import train_and_evaluate

    config = ar_configs.get_config(f"{architecture}_binarized_mnist")
    schedule = SCHEDULES[architecture]
    eval_every = eval_every or schedule["eval_every"]
    config.train.update(
        num_steps=num_steps or schedule["num_steps"],
        eval_every=eval_every,
        sample_every=0,
        log_every=eval_every,
        checkpoint_every=num_steps or schedule["num_steps"],
    )
    config.optim.model.learning_rate = schedule["learning_rate"]
    weight_decay = _WEIGHT_DECAY.value if _WEIGHT_DECAY.value >= 0 else schedule.get("weight_decay")
    if weight_decay is None:  # the config's
        weight_decay = config.optim.model.get("weight_decay", 0.0)
    if weight_decay:
        # Decoupled decay (AdamW): these models overfit the 50k static images.
        config.optim.model.update(name="adamw", weight_decay=weight_decay)
    if architecture in ("pixelcnn", "gated_pixelcnn"):
        config.model.update(CONV_SIZES)
    for assignment in _SET.value:
        field, _, value = assignment.partition("=")
        section, name = field.split(".")
        config[section][name] = ast.literal_eval(value)
    if l2 is not None:
        config.model.l2 = l2
    config.train.evaluate_test = evaluate_test
    curve: list[tuple[int, float | None, float]] = []
    started, cpu_started = time.perf_counter(), _cpu_seconds()
    header = {
        "architecture": architecture,
        "model": {k: v for k, v in config.model.to_dict().items() if k != "name"},
        "num_steps": config.train.num_steps,
        "batch_size": config.data.batch_size,
        "learning_rate": config.optim.model.learning_rate,
        "optimizer": config.optim.model.name,
        "weight_decay": weight_decay,
        "overrides": list(_SET.value),
    }

    def record(line: str) -> None:
        match = _EVAL_LINE.match(line)
        if match:
            curve.append((int(match[1]), round(time.perf_counter() - started, 1), round(float(match[2]), 3)))
            print(f"{architecture}: step {match[1]} validation nll {float(match[2]):.3f}", flush=True)
            if on_progress is not None:
                cpu = round(_cpu_seconds() - cpu_started, 1)
                on_progress({**header, "status": "running", "cpu_seconds": cpu, "validation_curve": curve})

    run_dir = Path(workdir) / (run_name or architecture)
    final = train_and_evaluate(config, str(run_dir), print_fn=record)
    if not curve:  # a finished run found in the workdir: its curve and train NLL from its metrics log
        from genjax.train.logging import read_metrics

        records = read_metrics(run_dir)
        curve = [(r["step"], None, round(r["nll"], 3)) for r in records if r["split"] == "validation"]
        train = [r for r in records if r["split"] == "train"]
        final.setdefault("train/nll", train[-1]["nll"] if train else float("nan"))
    target = PUBLISHED[architecture]
    reached = next(((step, seconds) for step, seconds, nll in curve if nll <= target), None)
    entry = {
        **header,
        "status": "done",
        "train_seconds_with_evals": round(time.perf_counter() - started, 1),
        "cpu_seconds": round(_cpu_seconds() - cpu_started, 1),
        "load_average_at_end": [round(load, 2) for load in os.getloadavg()],
        "train_nll_last_interval": round(final["train/nll"], 3),
        "selected_step": final["selection/step"],
        "validation_nll_selected": round(final["validation/nll"], 3),
        "published": target,
        "target_reached_on_validation": reached is not None,
        "time_to_target": None if reached is None else {"step": reached[0], "seconds": reached[1]},
        "validation_curve": curve,
    }
    entry.update(_test_figures(final))
    entry["run_dir"] = str(run_dir)
    return entry


def _test_figures(results: dict, prefix: str = "test/") -> dict:
    """The test NLL (and the ensemble's first mask alone) from a loop's or an evaluation's results."""
    figures = {}
    if f"{prefix}nll" in results:
        figures["test_nll"] = round(results[f"{prefix}nll"], 3)
    if f"{prefix}nll_one_mask" in results:
        figures["test_nll_first_mask_alone"] = round(results[f"{prefix}nll_one_mask"], 3)
    return figures


def benchmark(
    workdir: str, architectures, num_steps: int, eval_every: int, json_path: str | None, l2_grid=()
) -> dict:
    unknown = sorted(set(architectures) - set(SCHEDULES))
    if unknown:
        from genjax.errors import ConfigError

        raise ConfigError(f"--architectures: unknown {unknown}; allowed: {', '.join(SCHEDULES)}")
    report = {
        "benchmark": "ar_mnist",
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "load_average_at_start": [round(load, 2) for load in os.getloadavg()],
        "data": "shared binarized_mnist.npz: train 50k, valid 10k (selection), test 10k (once)",
        "results": [],
    }
    for architecture in architectures:
        done = list(report["results"])

        def progress(partial: dict, done=done) -> None:
            write_json(json_path, {**report, "results": [*done, partial]})

        if l2_grid:
            entry = select_l2(architecture, workdir, num_steps, eval_every, l2_grid, progress)
        else:
            entry = train_one(architecture, workdir, num_steps, eval_every, on_progress=progress)
        print(
            json.dumps({k: v for k, v in entry.items() if k not in ("validation_curve", "grid")}), flush=True
        )
        report["results"].append(entry)
        write_json(json_path, report)
    return report


def select_l2(architecture: str, workdir: str, num_steps: int, eval_every: int, l2_grid, progress) -> dict:
    """One run per ``model.l2`` value; the value with the best validation NLL (at its selected
    step) wins, and only its test NLL is reported.

    The members run with ``train.evaluate_test=False``, so no member reads the test split;
    after the choice, the chosen member's selected checkpoint is tested once
    (`genjax.train.restore.evaluate_workdir`). A value whose run already finished in
    ``workdir`` is not retrained (the loop resumes at its last step); a member finished by
    an earlier version of this script, which tested every member, has its figure dropped.
    """
    from genjax.train.restore import evaluate_workdir

    grid = []
    for value in l2_grid:

        def grid_progress(partial: dict) -> None:
            progress({"architecture": architecture, "status": "grid", "grid": [*grid, partial]})

        entry = train_one(
            architecture, workdir, num_steps, eval_every,
            on_progress=grid_progress, l2=value, run_name=f"{architecture}_l2_{value:g}",
            evaluate_test=False,
        )  # fmt: skip
        for key in ("test_nll", "test_nll_first_mask_alone"):
            entry.pop(key, None)
        grid.append(entry)
    index = min(range(len(grid)), key=lambda i: grid[i]["validation_nll_selected"])
    report = evaluate_workdir(None, grid[index]["run_dir"], "test", checkpoint="best")
    assert report["step"] == grid[index]["selected_step"], (report["step"], grid[index]["selected_step"])
    selected = {**grid[index], **_test_figures(report, prefix="")}
    selected["selected_by"] = "validation NLL over model.l2"
    keys = ("model", "selected_step", "validation_nll_selected", "train_nll_last_interval")
    keys += ("train_seconds_with_evals", "cpu_seconds", "validation_curve")
    selected["grid"] = [{k: e[k] for k in keys} for e in grid]
    return selected


def main(argv):
    del argv

    def run():
        l2_grid = [float(value) for value in _L2_GRID.value]
        return benchmark(
            _WORKDIR.value, _ARCHITECTURES.value, _NUM_STEPS.value, _EVAL_EVERY.value, _JSON.value, l2_grid
        )

    report = run_or_exit(run)
    summary = [
        {k: v for k, v in r.items() if k not in ("validation_curve", "grid")} for r in report["results"]
    ]
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    app.run(main, flags_parser=parse_flags)
