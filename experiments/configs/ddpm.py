"""Denoising diffusion probabilistic models (Ho et al. 2020): the eps-prediction loss,
ancestral or DDIM sampling, and the full variational bound in bits/dim.

Variants are ``<schedule>_<data>`` (plus ``smoke``):

* schedules: ``linear`` (Ho et al.: beta 1e-4 .. 0.02 over T = 1000) and ``cosine``
  (Nichol & Dhariwal 2021);
* data: the eight toy2d densities (noise-conditional MLP), ``digits`` (8x8),
  ``binarized_mnist`` (the shared 28x28 file), ``tfds_mnist`` and ``tfds_cifar10``
  (U-Nets; cifar10 is Ho et al.'s 35.7M-parameter model).

Examples::

    python -m experiments.train --config=experiments/configs/ddpm.py:linear_two_moons --workdir=/tmp/ddpm_2m
    python -m experiments.train --config=experiments/configs/ddpm.py:linear_digits --workdir=/tmp/ddpm_dg
    python -m experiments.train --config=experiments/configs/ddpm.py:linear_digits --workdir=/tmp/ddpm_dg \
        --config.model.sampler=ddim --config.model.ddim_steps=50
    python -m experiments.evaluate --workdir=/tmp/ddpm_digits

and the tiny local variant the tests run::

    python -m experiments.train --config=experiments/configs/ddpm.py:smoke --workdir=/tmp/ddpm_smoke

Class-conditional DDPM with classifier-free guidance (Ho & Salimans 2022) on digits:
``digits_conditional`` (a noise-conditional MLP with a label embedding added to the time
embedding, label dropout 0.1, selected on the validation bound) and ``smoke_conditional``::

    python -m experiments.train --config=experiments/configs/ddpm.py:digits_conditional \
        --workdir=/tmp/ddpm_cond
    python -m experiments.train --config=experiments/configs/ddpm.py:smoke_conditional \
        --workdir=/tmp/ddpm_cond_smoke

``tfds_mnist_conditional`` is the same on 28x28 MNIST with its labels (the shared binarized
MNIST file has none): the ``linear_tfds_mnist`` U-Net with the label embedding, for a prepared
TFDS ``mnist`` (``tfds build mnist``; nothing is downloaded at run time)::

    python -m experiments.train --config=experiments/configs/ddpm.py:tfds_mnist_conditional \
        --workdir=/tmp/ddpm_mnist_cond --config.data.tfds_data_dir=/path/to/tensorflow_datasets

On images the test NLL is the variational bound (bits/dim) estimated with
``eval.bound_timesteps`` stratified timesteps; 0 sums all T terms exactly.
"""

from __future__ import annotations

import ml_collections

from experiments.configs.common import (
    IMAGES,
    LONG_RUN,
    TOY2D,
    UNET_28,
    UNET_CIFAR10,
    adam,
    base_config,
    guided_digits_mlp,
    set_image_data,
    split_variant,
)

SCHEDULES = ("linear", "cosine")
CONDITIONAL = ("digits_conditional", "smoke_conditional", "tfds_mnist_conditional")
VARIANTS = (
    "smoke",
    *(f"{schedule}_{data}" for schedule in SCHEDULES for data in TOY2D + IMAGES),
    *CONDITIONAL,
)


def get_config(variant: str | None = None) -> ml_collections.ConfigDict:
    variant = variant or "linear_two_moons"
    if variant == "tfds_mnist_conditional":
        return tfds_mnist_conditional_config()
    if variant in CONDITIONAL:
        return conditional_config(variant)
    schedule, data = split_variant(variant, SCHEDULES, TOY2D + IMAGES, smoke=("linear", "two_moons"))
    config = base_config("ddpm")
    config.model.update(
        num_timesteps=1000,
        schedule=schedule,
        beta_start=1e-4,
        beta_end=0.02,
        sampler="ddpm",
        ddim_steps=50,
        ddim_eta=0.0,
        variance="beta",
        clip_denoised=True,
        architecture="mlp",
        hidden=(128, 128, 128),
        embedding_dim=64,
        activation="silu",
        # U-Net fields (images)
        channels=32,
        channel_mults=(1, 2),
        num_res_blocks=1,
        attention_resolutions=(4,),
        dropout=0.0,
    )
    config.train.update(ema_decay=0.999, steps_per_call=100)
    config.eval.update(bound_timesteps=0)
    if data in TOY2D:
        config.optim.denoiser = adam(1e-3, schedule="cosine")
        config.data.update(name=f"toy2d:{data}", batch_size=512, num_test=10_000, eval_batch_size=2_500)
        config.train.update(num_steps=10_000, log_every=1_000, checkpoint_every=5_000, sample_every=5_000)
        config.eval.update(sample_metrics=True, num_samples=2_500, num_quality_samples=2_500)
    else:
        config.model.architecture = "unet"
        # Ho et al.: Adam 2e-4, gradient clipping at 1, 5000 warmup steps (shorter here), EMA.
        config.optim.denoiser = adam(2e-4, grad_clip_norm=1.0)
        set_image_data(config, data)
        config.data.update(batch_size=128, eval_batch_size=500)
        # An EMA half-life of ~140 steps: short CPU runs are judged by their EMA too.
        config.train.ema_decay = 0.995
        config.train.update(num_steps=20_000, log_every=500, checkpoint_every=2_000, sample_every=5_000)
        # The loop's periodic bound: 100 stratified timesteps (unbiased); the benchmark sums all 1000.
        config.eval.update(bound_timesteps=100, num_samples=64)
        if data != "digits":
            config.model.update(UNET_28)
            config.train.update(LONG_RUN, ema_decay=0.999)
        if data == "tfds_cifar10":
            # Ho et al.'s CIFAR-10 model: 35.7M parameters.
            config.model.update(UNET_CIFAR10, dropout=0.1)
            config.train.update(num_steps=800_000, ema_decay=0.9999)

    if variant == "smoke":
        config.model.update(hidden=(16, 16), embedding_dim=8, num_timesteps=100)
        config.data.update(batch_size=32, num_test=200, eval_batch_size=100)
        config.train.update(
            num_steps=20, steps_per_call=5, log_every=10, eval_every=10, checkpoint_every=10, sample_every=10
        )
        config.eval.update(num_batches=1, num_samples=16, num_quality_samples=100)
    return config


def conditional_config(variant: str) -> ml_collections.ConfigDict:
    """p(x | label) on digits, sampled with classifier-free guidance; ``smoke_conditional`` is tiny."""
    config = get_config("linear_digits")
    smoke = variant == "smoke_conditional"
    guided_digits_mlp(config, "denoiser", smoke=smoke)
    config.train.sample_every = 10 if smoke else 5_000
    config.eval.bound_timesteps = 5 if smoke else 100
    if smoke:  # the 1000/T-rescaled linear betas break below T = 21
        config.model.num_timesteps = 50
    return config


def tfds_mnist_conditional_config() -> ml_collections.ConfigDict:
    """Class-conditional DDPM on TFDS MNIST: the ``linear_tfds_mnist`` U-Net, guided as on digits."""
    config = get_config("linear_tfds_mnist")
    config.model.update(conditional=True, label_dropout=0.1, guidance_scale=2.0)
    return config
