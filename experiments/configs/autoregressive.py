"""Autoregressive models of binary data: FVSBN, NADE and MADE.

Variants are ``<architecture>_<data>`` (plus ``smoke``): architectures
fvsbn, nade, made; data ``toy_binary`` (8 bits with an exactly known
distribution), ``toy_binary_3x3`` (3x3 binary images), ``digits`` (8x8,
dynamically binarized), ``binarized_mnist`` (the shared static file) and
``tfds_binarized_mnist``. Examples::

    python -m experiments.train --config=experiments/configs/autoregressive.py:nade_toy_binary \\
        --workdir=/tmp/nade
    python -m experiments.train --config=experiments/configs/autoregressive.py:nade_binarized_mnist \\
        --workdir=/tmp/nade_mnist

and the tiny local variant the tests run::

    python -m experiments.train --config=experiments/configs/autoregressive.py:smoke --workdir=/tmp/ar_smoke
"""

from __future__ import annotations

import ml_collections

from experiments.configs.common import adam, base_config, shared_data_path, split_variant

ARCHITECTURES = ("fvsbn", "nade", "made")
DATA = ("toy_binary", "toy_binary_3x3", "digits", "binarized_mnist", "tfds_binarized_mnist")
VARIANTS = ("smoke", *(f"{arch}_{data}" for arch in ARCHITECTURES for data in DATA))


def get_config(variant: str | None = None) -> ml_collections.ConfigDict:
    variant = variant or "nade_digits"
    architecture, data = split_variant(variant, ARCHITECTURES, DATA, smoke=("nade", "toy_binary"))
    config = base_config("autoregressive")
    config.model.update(architecture=architecture, hidden_size=500, hidden_sizes=(500,), activation="relu")
    config.optim.model = adam(1e-3, schedule="cosine")
    config.train.update(steps_per_call=100, eval_every=0)
    if data.startswith("toy_binary"):
        config.data.update(name="toy_binary:8" if data == "toy_binary" else "toy_binary:3x3", batch_size=256)
        config.model.update(hidden_size=32, hidden_sizes=(64,))
        config.optim.model = adam(3e-3, schedule="cosine")
        config.train.update(num_steps=3_000, log_every=500, checkpoint_every=1_000, sample_every=0)
    elif data == "digits":
        config.data.update(name="digits", binarize="dynamic", batch_size=128)
        config.train.update(num_steps=10_000, log_every=1_000, checkpoint_every=2_000, sample_every=5_000)
    else:
        name = "npz:" + shared_data_path("binarized_mnist.npz")
        if data == "tfds_binarized_mnist":
            name = "tfds:binarized_mnist"
        config.data.update(name=name, batch_size=100, eval_batch_size=500, train_splits="train+valid")
        config.train.update(num_steps=100_000, log_every=5_000, checkpoint_every=10_000, sample_every=50_000)
    if variant == "smoke":
        config.train.update(
            num_steps=20, steps_per_call=5, log_every=10, eval_every=10, checkpoint_every=10, sample_every=10
        )
        config.data.num_test = 500
        config.eval.update(num_batches=1, num_samples=16)
    return config
