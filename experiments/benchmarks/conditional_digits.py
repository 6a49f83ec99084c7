"""Conditional generation on scikit-learn's 8x8 digits: does each family draw the digit it is asked for?

For every family's ``digits_conditional`` config it restores the workdir's best
checkpoint (selected on validation), training it first with the ordinary loop
when the workdir has none, and judges ``--num_per_class`` samples of each digit
with `genjax.train.conditional_quality.per_class_quality`: the bundled
``digits_cnn`` classifier's accuracy on them, overall and per class, and the
pooled and per-class FID, precision and recall against the test split. For
families whose sampler takes ``guidance_scale`` (DDPM, NCSN) it also draws the
classifier-free guidance curve (accuracy and FID against the scale), figure
``guidance_curve.png``; every family gets a labelled grid
``conditional_<family>.png`` (one row per digit). The same judge applied to
``--num_per_class`` training digits of each class (entry ``train_images``) gives
the figures a perfect model would reach at these sample sizes::

    python -m experiments.benchmarks.conditional_digits --workdir_root=/tmp/conditional_digits \\
        --workdirs=ddpm=/tmp/ddpm_cond,vae=/tmp/cvae_cond \\
        --json=experiments/benchmarks/results/conditional_digits.json --images=docs/images

The families' samplers run with their configs' settings (e.g. the DDPM
config's ``guidance_scale``); the curve varies only the scale. Accuracy reads
only the classifier, FID the test split's real images. With an existing
``--json``, the families not named in ``--families`` keep their earlier entries,
so families can be judged in separate runs as their workdirs appear.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from absl import app, flags

from experiments.benchmarks.reports import report_header, write_json
from experiments.cli import parse_flags, run_or_exit

# family -> its config module under experiments/configs
FAMILIES = {
    "ddpm": "ddpm",
    "score": "score",
    "vae": "vae",
    "gan": "gan",
    "flow": "flow",
    "autoregressive": "autoregressive",
}
VARIANT = "digits_conditional"

_FAMILIES = flags.DEFINE_list("families", list(FAMILIES), f"Families: {', '.join(FAMILIES)}.")
_WORKDIR_ROOT = flags.DEFINE_string(
    "workdir_root", None, "Parent of one workdir per family (<root>/<family>)."
)
_WORKDIRS = flags.DEFINE_list("workdirs", [], "family=path overrides, e.g. ddpm=/tmp/ddpm_cond.")
_NUM_PER_CLASS = flags.DEFINE_integer("num_per_class", 100, "Samples of each digit for the family figures.")
_CURVE_PER_CLASS = flags.DEFINE_integer("curve_per_class", 50, "Samples of each digit per guidance scale.")
_SCALES = flags.DEFINE_list("scales", ["0", "0.5", "1", "1.5", "2", "3", "4", "6"], "Guidance scales.")
_SEED = flags.DEFINE_integer("seed", 0, "Sampling seed.")
_JSON = flags.DEFINE_string("json", None, "Also write the results here.")
_IMAGES = flags.DEFINE_string("images", None, "Folder for conditional_<family>.png and guidance_curve.png.")
flags.mark_flag_as_required("workdir_root")

GRID_COLUMNS = 10


def _workdirs(root: str, overrides: list[str]) -> dict[str, str]:
    from genjax.errors import ConfigError

    paths = {family: str(Path(root) / family) for family in FAMILIES}
    for item in overrides:
        family, _, path = item.partition("=")
        if family not in FAMILIES or not path:
            raise ConfigError(
                f"--workdirs: got {item!r}; expected family=path with family in {', '.join(FAMILIES)}"
            )
        paths[family] = path
    return paths


def _has_checkpoint(workdir: str) -> bool:
    return any((Path(workdir) / sub).glob("*/state") for sub in ("best", "checkpoints"))


def _summary(report: dict) -> dict:
    """The JSON entry of a per-class report, rounded."""
    keep = (
        "accuracy",
        "fid",
        "precision",
        "recall",
        "mean_class_fid",
        "real_accuracy",
        "num_per_class",
        "num_real",
    )
    entry = {name: _round(report[name]) for name in keep}
    entry["per_class"] = [{name: _round(value) for name, value in row.items()} for row in report["per_class"]]
    return entry


def _round(value):
    return round(value, 4) if isinstance(value, float) else value


def judge_family(family: str, workdir: str, *, seed: int, num_per_class: int, images: str | None) -> dict:
    """Trains (if needed) and judges one family's conditional digits model."""
    import importlib

    import jax

    from genjax import visualize
    from genjax.train import conditional_quality as cq
    from genjax.train import train_and_evaluate
    from genjax.train.checkpoint import load_config
    from genjax.train.restore import restore_from_workdir

    entry: dict = {"family": family, "workdir": workdir, "config": f"{FAMILIES[family]}.py:{VARIANT}"}
    module = importlib.import_module(f"experiments.configs.{FAMILIES[family]}")
    if VARIANT not in getattr(module, "VARIANTS", ()):
        return entry | {"skipped": f"experiments/configs/{FAMILIES[family]}.py has no {VARIANT} variant yet"}
    if not _has_checkpoint(workdir):
        started = time.perf_counter()
        train_and_evaluate(module.get_config(VARIANT), workdir, print_fn=lambda *_: None)
        entry["train_seconds"] = round(time.perf_counter() - started, 1)
    config = load_config(workdir)  # the config the run was trained with, overrides included
    model, dataset, state, _ = restore_from_workdir(config, workdir, checkpoint="best")
    params = state.eval_params()
    entry.update(step=int(jax.device_get(state.step)), num_steps=int(config.train.num_steps))
    rng = jax.random.key(seed)
    started = time.perf_counter()
    samples = cq.draw_per_class(model, params, rng=rng, num_per_class=num_per_class)
    entry["sample_seconds"] = round(time.perf_counter() - started, 1)
    data_config = config.data.copy_and_resolve_references()
    if data_config.binarize == "dynamic":
        # Dynamic binarization draws Bernoulli(grey level), so the decoder means such a model samples
        # estimate the grey digits: judge them against those, as every other family is.
        with data_config.unlocked():
            data_config.binarize = "none"
        entry["reference"] = "grey test digits (the model was trained on their dynamic binarization)"
    samples = cq.on_pixel_levels(samples, dataset, data_config)
    reference, labels = cq.reference_by_class(dataset, data_config, split="test")
    report = cq.judge_per_class(samples, reference, labels, feature_network="digits_cnn")
    entry.update(_summary(report))
    entry["sampler"] = {
        k: config.model.get(k) for k in ("sampler", "guidance_scale", "temperature") if k in config.model
    }
    if images:
        path = Path(images) / f"conditional_{family}.png"
        visualize.save_labelled_grid(path, samples[:, :GRID_COLUMNS], list(range(len(samples))), upscale=4)
        entry["grid_png"] = str(path)
    if cq.takes_guidance(model):
        entry["guided"] = True
    return entry | {"_model": (model, params, dataset, data_config)}


def real_floor(num_per_class: int) -> dict:
    """The same judge on training digits instead of samples: the figures a perfect model would get.

    ``num_per_class`` training images of each class stand in for the samples
    (the classifier was trained on them, so its accuracy is near 1 here); their
    FID, precision and recall against the test split are the finite-sample floor
    the families' figures should be read against.
    """
    import numpy as np

    from genjax import data as data_lib
    from genjax.train import conditional_quality as cq

    data_config = {"name": "digits", "batch_size": 500}
    dataset = data_lib.load_dataset(data_config)
    train, train_labels = cq.reference_by_class(dataset, data_config, split="train")
    reference, labels = cq.reference_by_class(dataset, data_config, split="test")
    stand_ins = np.stack([train[train_labels == k][:num_per_class] for k in range(int(labels.max()) + 1)])
    report = cq.judge_per_class(stand_ins, reference, labels, feature_network="digits_cnn")
    return {
        "family": "train_images",
        "config": "the digits training split in place of samples",
        **_summary(report),
    }


def guidance(
    family_entry: dict, *, scales: list[float], seed: int, num_per_class: int
) -> tuple[list[dict], float]:
    """The guidance curve of a guided family (same key at every scale), rounded, and its seconds."""
    import jax

    from genjax.train import conditional_quality as cq

    model, params, dataset, data_config = family_entry["_model"]
    started = time.perf_counter()
    curve = cq.guidance_curve(
        model,
        params,
        dataset,
        rng=jax.random.key(seed),
        scales=scales,
        num_per_class=num_per_class,
        feature_network="digits_cnn",
        data_config=data_config,
    )
    seconds = round(time.perf_counter() - started, 1)
    rounded = [
        {name: [_round(a) for a in v] if isinstance(v, list) else _round(v) for name, v in point.items()}
        for point in curve
    ]
    return rounded, seconds


def save_curve_figure(path: str, curves: dict[str, list[dict]]) -> None:
    """Two panels against the guidance scale: classifier accuracy and FID, one line per family."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 3.2), dpi=100)
    accuracy_axes, fid_axes = figure.add_subplot(1, 2, 1), figure.add_subplot(1, 2, 2)
    for family, curve in curves.items():
        scales = [point["guidance_scale"] for point in curve]
        accuracy_axes.plot(scales, [100 * point["accuracy"] for point in curve], "o-", label=family)
        fid_axes.plot(scales, [point["fid"] for point in curve], "o-", label=family)
    accuracy_axes.axhline(95, color="grey", linestyle=":", label="95% target")
    accuracy_axes.set(xlabel="guidance scale s", ylabel="digits_cnn accuracy (%)", title="asked digit drawn")
    fid_axes.set(xlabel="guidance scale s", ylabel="FID (digits_cnn features)", title="sample quality")
    for axes in (accuracy_axes, fid_axes):
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8)
    figure.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")


def _earlier_results(path: str | None, families: list[str]) -> list[dict]:
    """Entries of an existing ``--json`` for families this run does not judge (runs add up)."""
    if not path or not Path(path).is_file():
        return []
    return [
        entry for entry in json.loads(Path(path).read_text())["results"] if entry["family"] not in families
    ]


def benchmark() -> dict:
    from genjax.errors import ConfigError

    unknown = [f for f in _FAMILIES.value if f not in FAMILIES]
    if unknown:
        raise ConfigError(f"--families: got {unknown[0]!r}; allowed: {', '.join(FAMILIES)}")
    scales = [float(s) for s in _SCALES.value]
    workdirs = _workdirs(_WORKDIR_ROOT.value, _WORKDIRS.value)
    started = time.perf_counter()
    results = []
    for family in _FAMILIES.value:
        family_started = time.perf_counter()
        entry = judge_family(
            family,
            workdirs[family],
            seed=_SEED.value,
            num_per_class=_NUM_PER_CLASS.value,
            images=_IMAGES.value,
        )
        if entry.get("guided"):
            curve, seconds = guidance(
                entry, scales=scales, seed=_SEED.value, num_per_class=_CURVE_PER_CLASS.value
            )
            entry.update(guidance_curve=curve, guidance_curve_seconds=seconds)
        entry.pop("_model", None)
        entry["wall_seconds"] = round(time.perf_counter() - family_started, 1)
        print(json.dumps({k: v for k, v in entry.items() if k != "per_class"}), flush=True)
        results.append(entry)
    results.append(real_floor(_NUM_PER_CLASS.value))
    kept = _earlier_results(_JSON.value, [*_FAMILIES.value, "train_images"])
    order = [*FAMILIES, "train_images"]
    results = sorted(kept + results, key=lambda entry: order.index(entry["family"]))
    curves = {entry["family"]: entry["guidance_curve"] for entry in results if "guidance_curve" in entry}
    if _IMAGES.value and curves:
        save_curve_figure(str(Path(_IMAGES.value) / "guidance_curve.png"), curves)
    return {
        **report_header("conditional_digits"),
        "seed": _SEED.value,
        "feature_network": "digits_cnn",
        "split": "test",
        "wall_seconds_this_run": round(time.perf_counter() - started, 1),
        "results": results,
    }


def main(argv):
    del argv

    def run():
        report = benchmark()
        write_json(_JSON.value, report)
        return report

    report = run_or_exit(run)
    print(json.dumps([{k: v for k, v in r.items() if k != "per_class"} for r in report["results"]], indent=2))


if __name__ == "__main__":
    app.run(main, flags_parser=parse_flags)
