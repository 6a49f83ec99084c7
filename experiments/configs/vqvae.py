"""VQ-VAE with a learned PixelCNN prior over its code grid (two players: "model", "prior").

Variants (the part after the colon):

* ``digits`` (default): 8x8 digits at their 17 grey levels, discretized-logistic
  decoder, a 4x4 grid of codes from K = 32, codebook trained by its loss; about
  15 minutes on 2 shared CPU cores::

    python -m experiments.train --config=experiments/configs/vqvae.py:digits --workdir=/tmp/vqvae_digits

* ``smoke``: the digits model, tiny, for a handful of steps (tests, CI)::

    python -m experiments.train --config=experiments/configs/vqvae.py:smoke --workdir=/tmp/vqvae_smoke

* ``digits_ema``: the codebook as an EMA of its encoder outputs (decay 0.99,
  Laplace ε = 1e-5) instead of the codebook loss::

    python -m experiments.train --config=experiments/configs/vqvae.py:digits_ema --workdir=/tmp/vqvae_ema

* ``digits_restart`` / ``digits_ema_restart``: as above, with codes unused for 100
  steps re-initialised to random encoder outputs of the batch.
* ``binarized_mnist``: static binarized MNIST (../shared/data or $GENJAX_SHARED_DATA),
  Bernoulli decoder, a 7x7 grid of codes from K = 64, EMA codebook with restarts;
  about 20 minutes on 2 shared CPU cores::

    python -m experiments.train --config=experiments/configs/vqvae.py:binarized_mnist \
      --workdir=/tmp/vqvae_mnist

``log_prob`` (hence validation/test ``nll`` and bits/dim) is the bound
log p(x | z_q(x)) + log p_prior(indices(x)) <= log p(x).
"""

from __future__ import annotations

import ml_collections

from experiments.configs.common import adam, base_config, shared_data_path

VARIANTS = ("digits", "smoke", "digits_ema", "digits_restart", "digits_ema_restart", "binarized_mnist")


def get_config(variant: str | None = None) -> ml_collections.ConfigDict:
    variant = variant or "digits"
    if variant not in VARIANTS:
        raise ValueError(f"config variant: got {variant!r}; allowed: {', '.join(VARIANTS)}")
    config = base_config("vqvae")
    config.model.update(
        conv_features=(64,),
        embedding_dim=16,
        num_codes=32,
        activation="relu",
        likelihood="discretized_logistic",
        commitment_cost=0.25,
        codebook_update="loss",
        ema_decay=0.99,
        ema_epsilon=1e-5,
        restart_dead_codes_after=0,
        prior_features=32,
        prior_layers=4,
        prior_first_kernel=5,
        prior_output_features=64,
    )
    config.data.update(name="digits", batch_size=128, binarize="none")
    # ~15 minutes on 2 CPU cores shared with three other jobs.
    config.train.update(
        num_steps=3_000,
        steps_per_call=100,
        log_every=500,
        eval_every=500,
        checkpoint_every=1_000,
        sample_every=1_000,
    )
    config.optim.model = adam(1e-3)
    config.optim.prior = adam(1e-3)

    if variant == "smoke":
        config.model.update(embedding_dim=4, num_codes=8, prior_features=8, prior_layers=1)
        config.model.update(prior_first_kernel=3, prior_output_features=0, conv_features=(8,))
        config.train.update(
            num_steps=20, steps_per_call=5, log_every=10, eval_every=10, checkpoint_every=10, sample_every=10
        )
        config.data.batch_size = 32
        config.eval.update(num_batches=1, num_samples=16)
    elif variant in ("digits_ema", "digits_ema_restart"):
        config.model.codebook_update = "ema"
    if variant.endswith("restart"):
        config.model.restart_dead_codes_after = 100
    if variant == "binarized_mnist":
        config.model.update(
            conv_features=(16, 32),
            embedding_dim=16,
            num_codes=64,
            likelihood="bernoulli",
            codebook_update="ema",
            restart_dead_codes_after=200,
            prior_features=32,
            prior_layers=5,
            prior_output_features=64,
        )
        config.data.update(
            name="npz:" + shared_data_path("binarized_mnist.npz"),
            batch_size=64,
            eval_batch_size=500,
            validation_split="valid",
        )
        # Sized to ~20 minutes on 2 CPU cores shared with three other jobs (BENCHMARKS.md).
        config.train.update(
            num_steps=4_000, steps_per_call=100, log_every=500, eval_every=2_000, checkpoint_every=2_000
        )
        config.optim.model = adam(1e-3, schedule="cosine")
        config.optim.prior = adam(1e-3, schedule="cosine")
    return config
