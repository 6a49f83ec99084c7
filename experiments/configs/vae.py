"""Variational autoencoders: ELBO (β-VAE) or IWAE training, MLP or conv networks.

Variants (the part after the colon):

* ``digits`` (default): MLP VAE on scikit-learn's bundled 8x8 digits, dynamically
  binarized, Bernoulli decoder; offline, about a minute on 2 CPU cores::

    python -m experiments.train --config=experiments/configs/vae.py:digits --workdir=/tmp/vae_digits

* ``smoke``: the digits VAE for a handful of steps (tests, CI)::

    python -m experiments.train --config=experiments/configs/vae.py:smoke --workdir=/tmp/vae_smoke

* ``digits_conv``: convolutional encoder/decoder on digits.
* ``digits_discretized``: 17-level digits under a discretized-logistic decoder.
* ``digits_beta``: β = 4 (a β-VAE; its bound is not a likelihood bound).
* ``digits_infovae``: the InfoVAE objective (Zhao et al. 2019) with α = 0 and
  λ = 100 (the ELBO minus 99 x the batch MMD between q(z) and p(z), Gaussian
  kernel; λ = 1000 collapses the posterior on these 64-pixel images, see
  BENCHMARKS.md); ``log_prob`` stays the IWAE estimate::

    python -m experiments.train --config=experiments/configs/vae.py:digits_infovae --workdir=/tmp/vae_info
* ``digits_conditional``: a conditional VAE p(x | y) (Sohn et al. 2015) on the digits and
  their labels: encoder and decoder both see the one-hot label (``model.conditional=True``);
  samples take ``cond=`` labels::

    python -m experiments.train --config=experiments/configs/vae.py:digits_conditional \
        --workdir=/tmp/cvae_cond
    python -m experiments.sample --workdir=/tmp/cvae_cond

* ``smoke_conditional``: ``smoke`` with ``model.conditional=True`` (tests, notebooks).
* ``tfds_mnist_conditional``: the conditional VAE on TFDS MNIST and its labels (the shared
  binarized MNIST file has no labels), dynamically binarized; needs a prepared TFDS ``mnist``.
* ``binarized_mnist``: the benchmark of BENCHMARKS.md — MLP VAE, one stochastic
  layer, on the static binarized MNIST file in ../shared/data (or
  $GENJAX_SHARED_DATA), evaluated by importance sampling with k = 5000::

    python -m experiments.train --config=experiments/configs/vae.py:binarized_mnist --workdir=/tmp/vae_mnist

* ``binarized_mnist_iwae``: the same network trained on the IWAE bound (k = 5).
* ``binarized_mnist_infovae``: the same network trained on the InfoVAE objective
  (α = 0, λ = 1000, scaled up from the digits' 100 with the 12x more pixels;
  not benchmarked).
* ``tfds_binarized_mnist`` / ``tfds_mnist``: TFDS ``binarized_mnist`` / ``mnist``
  (dynamically binarized), for users who have prepared them (``tfds build NAME``).
"""

from __future__ import annotations

import ml_collections

from experiments.configs.common import adam, base_config, shared_data_path

VARIANTS = (
    "digits",
    "smoke",
    "digits_conv",
    "digits_discretized",
    "digits_beta",
    "digits_infovae",
    "digits_conditional",
    "smoke_conditional",
    "binarized_mnist",
    "binarized_mnist_iwae",
    "binarized_mnist_infovae",
    "tfds_binarized_mnist",
    "tfds_mnist",
    "tfds_mnist_conditional",
)


def get_config(variant: str | None = None) -> ml_collections.ConfigDict:
    variant = variant or "digits"
    if variant not in VARIANTS:
        raise ValueError(f"config variant: got {variant!r}; allowed: {', '.join(VARIANTS)}")
    if variant == "tfds_mnist_conditional":  # MNIST's labels: the shared binarized file has none
        config = get_config("tfds_mnist")
        config.model.conditional = True
        return config
    config = base_config("vae")
    config.model.update(
        network="mlp",
        hidden_sizes=(256, 256),
        conv_features=(32, 64),
        latent_dim=16,
        activation="relu",
        likelihood="bernoulli",
        objective="elbo",
        num_train_samples=1,
        beta=1.0,
        # InfoVAE (objective="infovae"): the paper's α and λ, and the MMD kernel (gaussian | imq).
        info_alpha=0.0,
        info_lambda=1.0,
        info_kernel="gaussian",
        # p(x | y): encoder and decoder see the label (the number of classes comes from the data).
        conditional=False,
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

    if variant in ("smoke", "smoke_conditional"):
        config.train.update(
            num_steps=20, steps_per_call=5, log_every=10, eval_every=10, checkpoint_every=10, sample_every=10
        )
        config.eval.update(num_importance_samples=10, num_batches=1)
    elif variant == "digits_conv":
        config.model.network = "conv"
    elif variant == "digits_discretized":
        config.data.binarize = "none"
        config.model.likelihood = "discretized_logistic"
    elif variant == "digits_beta":
        config.model.beta = 4.0
    elif variant == "digits_infovae":
        config.model.update(objective="infovae", info_alpha=0.0, info_lambda=100.0)
    elif variant.startswith("binarized_mnist") or variant.startswith("tfds"):
        config.model.update(hidden_sizes=(500, 500), latent_dim=50, activation="tanh")
        config.data.update(
            name="npz:" + shared_data_path("binarized_mnist.npz"),
            binarize="none",
            batch_size=128,
            eval_batch_size=500,
            validation_split="valid",
        )
        # ~25 minutes on 2 idle CPU cores (~380 epochs of the 50k train images; valid selects).
        config.train.update(
            num_steps=150_000,
            steps_per_call=200,
            log_every=5_000,
            eval_every=0,
            checkpoint_every=10_000,
            sample_every=50_000,
        )
        config.optim.model = adam(1e-3, schedule="cosine")
        config.eval.update(num_importance_samples=5000, importance_chunk_size=250)
        if variant == "binarized_mnist_iwae":
            config.model.update(objective="iwae", num_train_samples=5)
        elif variant == "binarized_mnist_infovae":
            config.model.update(objective="infovae", info_alpha=0.0, info_lambda=1000.0)
        elif variant == "tfds_binarized_mnist":
            config.data.name = "tfds:binarized_mnist"
        elif variant == "tfds_mnist":
            config.data.update(name="tfds:mnist", binarize="dynamic")
    if variant.endswith("_conditional"):
        config.model.conditional = True
    return config
