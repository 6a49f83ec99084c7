"""Hierarchical VAEs: two or more stochastic layers, ELBO or IWAE training.

Variants (the part after the colon):

* ``digits`` (default): a 2-layer HVAE (the IWAE paper's bottom-up posterior) on
  scikit-learn's 8x8 digits, dynamically binarized, Bernoulli decoder::

    python -m experiments.train --config=experiments/configs/hvae.py:digits --workdir=/tmp/hvae_digits

* ``smoke``: the digits HVAE for a handful of steps (tests, CI)::

    python -m experiments.train --config=experiments/configs/hvae.py:smoke --workdir=/tmp/hvae_smoke

* ``digits_ladder``: a 3-layer ladder VAE (Sønderby et al. 2016) on digits::

    python -m experiments.train --config=experiments/configs/hvae.py:digits_ladder --workdir=/tmp/hvae_ladder

* ``binarized_mnist``: the benchmark of BENCHMARKS.md: the IWAE paper's 2-layer
  784-200-200-100-100-50 network (tanh), 1-sample ELBO, on the static binarized
  MNIST file in ../shared/data (or $GENJAX_SHARED_DATA); trains on the 50k train
  images, selects on the 10k valid images, test NLL with k = 5000::

    python -m experiments.benchmarks.hvae_mnist --workdir=/tmp/hvae_mnist

* ``binarized_mnist_iwae``: the same network trained on the IWAE bound with k = 5::

    python -m experiments.benchmarks.hvae_mnist --config=experiments/configs/hvae.py:binarized_mnist_iwae \\
        --workdir=/tmp/hvae_mnist_iwae

* ``binarized_mnist_ladder``: a 3-layer ladder VAE on the same data::

    python -m experiments.benchmarks.hvae_mnist --config=experiments/configs/hvae.py:binarized_mnist_ladder \\
        --workdir=/tmp/hvae_mnist_ladder
"""

from __future__ import annotations

import ml_collections

from experiments.configs.common import adam, base_config, shared_data_path

VARIANTS = (
    "digits",
    "smoke",
    "digits_ladder",
    "binarized_mnist",
    "binarized_mnist_iwae",
    "binarized_mnist_ladder",
)


def get_config(variant: str | None = None) -> ml_collections.ConfigDict:
    variant = variant or "digits"
    if variant not in VARIANTS:
        raise ValueError(f"config variant: got {variant!r}; allowed: {', '.join(VARIANTS)}")
    config = base_config("hvae")
    config.model.update(
        architecture="iwae",
        hidden_sizes=(128, 64),
        latent_dims=(16, 8),
        num_hidden_layers=2,
        activation="tanh",
        likelihood="bernoulli",
        objective="elbo",
        num_train_samples=1,
    )
    config.data.update(name="digits", batch_size=128, binarize="dynamic")
    config.train.update(
        num_steps=6_000,
        steps_per_call=100,
        log_every=1_000,
        eval_every=2_000,
        checkpoint_every=2_000,
        sample_every=2_000,
    )
    config.optim.model = adam(1e-3)
    config.eval.update(num_importance_samples=100, importance_chunk_size=100)

    if variant == "smoke":
        config.model.update(hidden_sizes=(64, 32), latent_dims=(8, 4))
        # Few steps: a larger rate so that the smoke run learns something checkable.
        config.optim.model = adam(1e-2)
        config.train.update(
            num_steps=20, steps_per_call=5, log_every=10, eval_every=10, checkpoint_every=10, sample_every=10
        )
        config.eval.update(num_importance_samples=10, num_batches=1)
    elif variant == "digits_ladder":
        config.model.update(architecture="ladder", hidden_sizes=(128, 64, 32), latent_dims=(16, 8, 4))
    elif variant.startswith("binarized_mnist"):
        config.model.update(hidden_sizes=(200, 100), latent_dims=(100, 50))
        config.data.update(
            name="npz:" + shared_data_path("binarized_mnist.npz"),
            binarize="none",
            batch_size=128,
            eval_batch_size=500,
            validation_split="valid",
        )
        # Sized for ~55 minutes of wall time on 2 shared CPU cores (~180 epochs of the 50k
        # train images); the validation NLL (the benchmark's k = 100 on the first 2,000
        # valid images) every 5k steps selects the checkpoint that is tested.
        config.train.update(
            num_steps=70_000,
            steps_per_call=250,
            log_every=5_000,
            eval_every=5_000,
            checkpoint_every=5_000,
            sample_every=50_000,
            max_checkpoints_to_keep=2,
        )
        config.optim.model = adam(1e-3, schedule="cosine")
        config.eval.update(num_importance_samples=5000, importance_chunk_size=250, num_batches=4)
        if variant == "binarized_mnist_iwae":
            config.model.update(objective="iwae", num_train_samples=5)
        elif variant == "binarized_mnist_ladder":
            config.model.update(architecture="ladder", hidden_sizes=(512, 256, 128), latent_dims=(64, 32, 16))
    return config
