"""Autoencoders: undercomplete, sparse (L1 or KL to a target rate), denoising and contractive.

Autoencoders have no likelihood (the family's ``log_prob`` is None): every variant
selects on ``validation/reconstruction_error``. Samples decode codes drawn from a
Gaussian fitted to the training codes, a sampler only.

Variants (the part after the colon), all on scikit-learn's 8x8 digits scaled to
[0, 1] with a 16-unit code unless said otherwise; each about a minute on 2 CPU cores:

* ``digits`` (default): undercomplete::

    python -m experiments.train --config=experiments/configs/autoencoder.py:digits --workdir=/tmp/ae_digits

* ``smoke``: the digits model for a handful of steps (tests, CI)::

    python -m experiments.train --config=experiments/configs/autoencoder.py:smoke --workdir=/tmp/ae_smoke

* ``digits_sparse_l1``: an overcomplete 128-unit ReLU code with an L1 penalty::

    python -m experiments.train --config=experiments/configs/autoencoder.py:digits_sparse_l1 \
        --workdir=/tmp/ae_sparse_l1

* ``digits_sparse_kl``: 128 sigmoid units, KL to a 5% target rate::

    python -m experiments.train --config=experiments/configs/autoencoder.py:digits_sparse_kl \
        --workdir=/tmp/ae_sparse_kl

* ``digits_denoising``: masking noise on 30% of the pixels::

    python -m experiments.train --config=experiments/configs/autoencoder.py:digits_denoising \
        --workdir=/tmp/ae_denoising

* ``digits_contractive``: the exact Jacobian penalty on sigmoid codes::

    python -m experiments.train --config=experiments/configs/autoencoder.py:digits_contractive \
        --workdir=/tmp/ae_contractive

* ``binarized_mnist``: undercomplete, 64 units, cross-entropy, on the shared static
  binarized MNIST file::

    python -m experiments.train --config=experiments/configs/autoencoder.py:binarized_mnist \
        --workdir=/tmp/ae_mnist
"""

from __future__ import annotations

import ml_collections

from experiments.configs.common import adam, base_config, shared_data_path

VARIANTS = (
    "digits",
    "smoke",
    "digits_sparse_l1",
    "digits_sparse_kl",
    "digits_denoising",
    "digits_contractive",
    "binarized_mnist",
)


def get_config(variant: str | None = None) -> ml_collections.ConfigDict:
    variant = variant or "digits"
    if variant not in VARIANTS:
        raise ValueError(f"config variant: got {variant!r}; allowed: {', '.join(VARIANTS)}")
    config = base_config("autoencoder")
    config.model.update(
        kind="undercomplete",
        hidden_sizes=(256,),
        code_dim=16,
        activation="relu",
        code_activation="linear",
        reconstruction="squared_error",
        sparsity="l1",
        sparsity_weight=1e-3,
        target_rate=0.05,
        corruption="masking",
        corruption_level=0.3,
        contractive_weight=0.1,
        contractive_estimator="exact",
        num_projections=4,
        code_stats_decay=0.99,
    )
    config.data.update(name="digits", batch_size=128, eval_batch_size=500)
    config.train.update(
        num_steps=4_000,
        steps_per_call=100,
        log_every=500,
        eval_every=500,
        checkpoint_every=1_000,
        sample_every=0,
        select_by="validation/reconstruction_error",
        select_mode="min",
    )
    config.optim.model = adam(1e-3)
    # No likelihood: evaluation adds the samples' MMD to test (eval.sample_metrics defaults to True).
    config.eval.num_samples = 500

    if variant == "smoke":
        config.train.update(num_steps=20, steps_per_call=5, log_every=10, eval_every=10, checkpoint_every=10)
        config.eval.update(num_batches=1, num_samples=64)
    elif variant == "digits_sparse_l1":
        config.model.update(kind="sparse", sparsity="l1", code_dim=128, code_activation="relu")
    elif variant == "digits_sparse_kl":
        config.model.update(
            kind="sparse", sparsity="kl", sparsity_weight=0.1, code_dim=128, code_activation="sigmoid"
        )
    elif variant == "digits_denoising":
        config.model.update(kind="denoising", corruption="masking", corruption_level=0.3)
    elif variant == "digits_contractive":
        config.model.update(kind="contractive", code_activation="sigmoid", contractive_weight=0.1)
    elif variant == "binarized_mnist":
        config.model.update(hidden_sizes=(500,), code_dim=64, reconstruction="cross_entropy")
        config.data.update(name="npz:" + shared_data_path("binarized_mnist.npz"), validation_split="valid")
        config.train.update(num_steps=20_000, log_every=2_000, eval_every=2_000, checkpoint_every=5_000)
    return config
