"""Score-based models (NCSN, Song & Ermon 2019): denoising or sliced score matching over a
geometric noise list, sampled by annealed Langevin dynamics.

Variants are ``<recipe>_<data>`` (plus ``smoke``):

* recipes: ``ncsn`` (denoising score matching, sigma^2 weighting), ``ssm`` and ``ssm_vr``
  (sliced score matching on the perturbed data, plain or variance-reduced);
* data: the eight toy2d densities (noise-conditional MLP), ``digits`` (8x8),
  ``binarized_mnist`` (the shared 28x28 file), ``tfds_mnist`` and ``tfds_cifar10`` (U-Nets).

Examples::

    python -m experiments.train --config=experiments/configs/score.py:ncsn_8gaussians --workdir=/tmp/ncsn_8g
    python -m experiments.train --config=experiments/configs/score.py:ncsn_digits --workdir=/tmp/ncsn_digits
    python -m experiments.sample --workdir=/tmp/ncsn_digits

and the tiny local variant the tests run::

    python -m experiments.train --config=experiments/configs/score.py:smoke --workdir=/tmp/score_smoke

Class-conditional NCSN with classifier-free guidance on the scores (Ho & Salimans 2022) on
digits: ``digits_conditional`` (a noise-conditional MLP with a label embedding added to the
noise-level embedding, label dropout 0.1, selected on the validation DSM loss) and
``smoke_conditional``::

    python -m experiments.train --config=experiments/configs/score.py:digits_conditional \
        --workdir=/tmp/ncsn_cond
    python -m experiments.train --config=experiments/configs/score.py:smoke_conditional \
        --workdir=/tmp/ncsn_cond_smoke

No likelihood: evaluation reports the test DSM loss and the MMD of samples to the test split.
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

RECIPES = ("ncsn", "ssm", "ssm_vr")
CONDITIONAL = ("digits_conditional", "smoke_conditional")
VARIANTS = ("smoke", *(f"{recipe}_{data}" for recipe in RECIPES for data in TOY2D + IMAGES), *CONDITIONAL)


def get_config(variant: str | None = None) -> ml_collections.ConfigDict:
    variant = variant or "ncsn_8gaussians"
    if variant in CONDITIONAL:
        return conditional_config(variant)
    recipe, data = split_variant(variant, RECIPES, TOY2D + IMAGES, smoke=("ncsn", "8gaussians"))
    config = base_config("score")
    config.model.update(
        objective={"ncsn": "dsm"}.get(recipe, recipe),
        architecture="mlp",
        hidden=(128, 128, 128),
        embedding_dim=64,
        activation="silu",
        weighting=2.0,
        num_projections=1,
        scale_by_sigma=True,
        final_denoise=True,
        init="gaussian",
        init_low=0.0,
        init_high=1.0,
        # U-Net fields (images)
        channels=32,
        channel_mults=(1, 2),
        num_res_blocks=1,
        attention_resolutions=(4,),
        dropout=0.0,
    )
    config.train.update(ema_decay=0.999, steps_per_call=100)
    config.eval.update(sample_metrics=True)
    if data in TOY2D:
        # sigma_max ~ the largest distance between data points (Song & Ermon 2020, technique 1).
        config.model.update(sigma_max=8.0, sigma_min=0.02, num_sigmas=20, step_size=5e-5, steps_per_sigma=100)
        config.optim.score = adam(1e-3, schedule="cosine")
        config.data.update(name=f"toy2d:{data}", batch_size=512, num_test=10_000, eval_batch_size=2_500)
        config.train.update(num_steps=10_000, log_every=1_000, checkpoint_every=5_000, sample_every=5_000)
        config.eval.update(num_samples=2_500, num_quality_samples=2_500)
    else:
        # Images in [0, 1]: chains start uniform on the unit cube, as NCSN's.
        config.model.update(architecture="unet", init="uniform", sigma_max=6.0, sigma_min=0.01, num_sigmas=20)
        config.model.update(step_size=2e-5, steps_per_sigma=50)
        config.optim.score = adam(2e-4, grad_clip_norm=1.0)
        set_image_data(config, data)
        config.data.update(batch_size=128, eval_batch_size=500)
        # An EMA half-life of ~140 steps: short CPU runs are judged by their EMA too.
        config.train.ema_decay = 0.995
        config.train.update(num_steps=20_000, log_every=500, checkpoint_every=2_000, sample_every=5_000)
        config.eval.update(num_samples=64, num_quality_samples=500)
        if data != "digits":  # 28x28 (28 -> 14 -> 7) and 32x32 (NCSN-sized) U-Nets
            config.model.update(UNET_28)
            config.model.update(sigma_max=20.0 if data == "tfds_cifar10" else 15.0, num_sigmas=100)
            config.train.update(LONG_RUN, ema_decay=0.999)
        if data == "tfds_cifar10":
            config.model.update(UNET_CIFAR10)

    if variant == "smoke":
        config.model.update(hidden=(16, 16), embedding_dim=8, num_sigmas=4, steps_per_sigma=5)
        config.data.update(batch_size=32, num_test=200, eval_batch_size=100)
        config.train.update(
            num_steps=20, steps_per_call=5, log_every=10, eval_every=10, checkpoint_every=10, sample_every=10
        )
        config.eval.update(num_batches=1, num_samples=16, num_quality_samples=100)
    return config


def conditional_config(variant: str) -> ml_collections.ConfigDict:
    """Scores of p(x | label) on digits, guided annealed Langevin; ``smoke_conditional`` is tiny."""
    config = get_config("ncsn_digits")
    smoke = variant == "smoke_conditional"
    guided_digits_mlp(config, "score", smoke=smoke)
    # No likelihood: select on the validation DSM loss (sample metrics at every evaluation cost
    # a 1000-step chain).
    config.train.update(sample_every=0, select_by="validation/dsm", select_mode="min")
    config.eval.sample_metrics = False
    if smoke:
        config.model.update(num_sigmas=4, steps_per_sigma=5)
    return config
