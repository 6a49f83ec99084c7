"""Autoencoders on digits: test reconstruction error, code properties and a linear-probe accuracy.

Trains each ``experiments/configs/autoencoder.py`` variant (selected on
``validation/reconstruction_error``), encodes the train, validation and test digits with
the selected parameters, and fits a scikit-learn logistic regression on the train codes
(standardised; C chosen on validation accuracy), reported once on test. Baselines on the
same [0, 1]-scaled pixels: the raw 64 pixels, and PCA codes of the 16-unit
autoencoders' size (closed form, `genjax.models.pca`), with PCA's least-squares
reconstruction error::

    python -m experiments.benchmarks.autoencoder_probe --workdir=/tmp/ae_probe \\
        --json=experiments/benchmarks/results/autoencoder_probe.json
"""

from __future__ import annotations

import json
import os
import time

from absl import app, flags

from experiments.cli import parse_flags, run_or_exit

_VARIANTS = flags.DEFINE_list(
    "variants",
    ["digits", "digits_sparse_l1", "digits_sparse_kl", "digits_denoising", "digits_contractive"],
    "autoencoder.py variants to train and probe.",
)
_WORKDIR = flags.DEFINE_string("workdir", "/tmp/ae_probe", "One sub-folder per variant (resumes if present).")
_PCA_COMPONENTS = flags.DEFINE_integer("pca_components", 16, "Size of the PCA baseline's codes.")
_JSON = flags.DEFINE_string("json", None, "Also write the results here.")
C_GRID = (0.01, 0.1, 1.0, 10.0, 100.0)


def _split(dataset, data_config, split: str):
    """A split's inputs `[N, ...]` and labels `[N]`, padding dropped."""
    import numpy as np

    from genjax import data

    xs, labels = [], []
    for batch in data.eval_batches(dataset, data_config, split=split, batch_size=500):
        real = batch["mask"] > 0
        xs.append(batch["x"][real])
        labels.append(batch["label"][real])
    return np.concatenate(xs), np.concatenate(labels)


def linear_probe(features: dict, labels: dict) -> dict:
    """Logistic regression on standardised train features, C selected on validation, test once."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(features["train"])
    scaled = {split: scaler.transform(values) for split, values in features.items()}
    best = None
    for c in C_GRID:
        probe = LogisticRegression(C=c, max_iter=3000).fit(scaled["train"], labels["train"])
        accuracy = probe.score(scaled["validation"], labels["validation"])
        if best is None or accuracy > best[0]:
            best = (accuracy, c, probe)
    accuracy, c, probe = best
    return {
        "probe_c": c,
        "validation_accuracy": accuracy,
        "test_accuracy": probe.score(scaled["test"], labels["test"]),
    }


def autoencoder_row(variant: str, splits: dict) -> dict:
    import jax
    import numpy as np

    from experiments.configs import autoencoder as ae_config
    from genjax.models.autoencoder import Autoencoder
    from genjax.train.loop import train_and_evaluate
    from genjax.train.restore import restore_from_workdir

    config = ae_config.get_config(variant)
    workdir = os.path.join(_WORKDIR.value, variant)
    start = time.perf_counter()
    result = train_and_evaluate(config, workdir, print_fn=lambda *_: None)
    wall = time.perf_counter() - start
    _, _, state, _ = restore_from_workdir(config, workdir, checkpoint="best")
    model_params = state.eval_params()["model"]
    m = config.model
    net = Autoencoder((8, 8, 1), m.code_dim, tuple(m.hidden_sizes), m.activation, m.code_activation)
    encode = jax.jit(lambda x: net.apply(model_params, x, method=Autoencoder.encode))
    features = {split: np.asarray(encode(x)) for split, (x, _) in splits.items()}
    labels = {split: y for split, (_, y) in splits.items()}
    test = {k.removeprefix("test/"): v for k, v in result.items() if k.startswith("test/")}
    return {
        "name": f"autoencoder.py:{variant}",
        "kind": m.kind,
        "code_dim": m.code_dim,
        "selected_step": result["selection/step"],
        "train_wall_seconds": wall,
        "test": test,
        **linear_probe(features, labels),
    }


def baseline_rows(splits: dict, num_components: int) -> list[dict]:
    import numpy as np

    from genjax.models.pca import fit_ppca, posterior_mean, reconstruct

    flat = {split: x.reshape(x.shape[0], -1) for split, (x, _) in splits.items()}
    labels = {split: y for split, (_, y) in splits.items()}
    params = fit_ppca(flat["train"], num_components, ddof=1)
    codes = {split: np.asarray(posterior_mean(params, x)) for split, x in flat.items()}
    error = np.sum(
        (np.asarray(reconstruct(params, flat["test"], orthogonal=True)) - flat["test"]) ** 2, axis=1
    )
    return [
        {"name": "raw pixels", "code_dim": flat["train"].shape[1], **linear_probe(flat, labels)},
        {
            "name": f"PCA ({num_components} components)",
            "code_dim": num_components,
            "test": {"reconstruction_error": float(error.mean())},
            **linear_probe(codes, labels),
        },
    ]


def main(argv):
    del argv
    from experiments.benchmarks.reports import report_header, write_json
    from experiments.configs import autoencoder as ae_config
    from genjax import data

    def run():
        data_config = ae_config.get_config("digits").data
        dataset = data.load_dataset(data_config)
        splits = {split: _split(dataset, data_config, split) for split in ("train", "validation", "test")}
        rows = baseline_rows(splits, _PCA_COMPONENTS.value)
        for row in rows:
            print(json.dumps(row), flush=True)
        for variant in _VARIANTS.value:
            rows.append(autoencoder_row(variant, splits))
            print(json.dumps(rows[-1]), flush=True)
        report = {**report_header("autoencoder_probe"), "seed": 0, "rows": rows}
        write_json(_JSON.value, report)
        return report

    run_or_exit(run)


if __name__ == "__main__":
    app.run(main, flags_parser=parse_flags)
