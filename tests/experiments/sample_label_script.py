"""Run by test_sample_label.py in a subprocess: ``experiments.sample``'s main on hand-made models.

The binary's flags clash with the train binary's, which the in-process CLI tests
import, so its cases run here, each through ``app.run`` with the binary's own flag
parsing and one-line error exit. The workdir restore is replaced by hand-made
bundles: a label-conditional one whose sample for class k is the mean test digit
of class k, and an unconditional one. Prints one JSON line: per case, the exit
code and stderr's lines.

    python tests/experiments/sample_label_script.py OUTPUT_DIR
"""

import contextlib
import io
import json
import sys
from types import SimpleNamespace

import numpy as np
from absl import app, flags

import genjax.train.restore
from experiments import cli
from experiments import sample as sample_binary
from genjax import data as data_lib
from genjax.models.bundle import GenerativeModel
from genjax.models.conditioning import Conditioning, sample_condition

NUM_CLASSES = 10


def class_means(dataset) -> np.ndarray:
    """`[10, 8, 8, 1]` mean test digit of each class, in [0, 1]."""
    test = dataset.test.gather(np.arange(dataset.test.num_examples))
    x = test["x"].astype(np.float32) / (dataset.num_levels - 1)
    return np.stack([x[test["label"] == k].mean(0) for k in range(NUM_CLASSES)]).astype(np.float32)


def conditional_model() -> GenerativeModel:
    conditioning = Conditioning(num_classes=NUM_CLASSES)

    def sample(params, rng, num_samples, *, cond=None):
        return params["means"][sample_condition(conditioning, cond, num_samples)]

    return GenerativeModel(None, {}, sample, None, (8, 8, 1), conditioning=conditioning)


def unconditional_model() -> GenerativeModel:
    return GenerativeModel(None, {}, lambda params, rng, n: params["means"][:1].repeat(n, 0), None, (8, 8, 1))


def run_case(model, dataset, params, argv: list[str]) -> dict:
    state = SimpleNamespace(step=np.int32(7), eval_params=lambda: params)
    genjax.train.restore.restore_from_workdir = lambda *args, **kwargs: (model, dataset, state, None)
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            app.run(sample_binary.main, argv=["experiments.sample", *argv], flags_parser=cli.parse_flags)
            code = 0
        except SystemExit as exit_:
            code = exit_.code or 0
        finally:
            flags.FLAGS.unparse_flags()
    return {"code": code, "stderr": [line for line in err.getvalue().splitlines() if line.strip()]}


def main(output: str) -> None:
    dataset = data_lib.load_dataset({"name": "digits", "batch_size": 500})
    params = {"means": class_means(dataset)}
    np.save(f"{output}/means.npy", params["means"])
    common = [f"--workdir={output}", "--config=experiments/configs/vae.py:smoke", "--num_samples=25"]
    cases = {
        "grid": (conditional_model(), []),
        "label": (conditional_model(), ["--label=3"]),
        "out_of_range": (conditional_model(), ["--label=10"]),
        "negative": (conditional_model(), ["--label=-1"]),
        "unconditional": (unconditional_model(), ["--label=1"]),
        "no_guidance": (conditional_model(), ["--guidance_scale=2"]),
    }
    results = {
        name: run_case(model, dataset, params, [*common, f"--output={output}/{name}.png", *extra])
        for name, (model, extra) in cases.items()
    }
    print(json.dumps(results))


if __name__ == "__main__":
    main(sys.argv[1])
