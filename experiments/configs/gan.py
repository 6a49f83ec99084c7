"""GANs: minimax, non-saturating, WGAN, WGAN-GP, hinge, least squares, f-GAN, unrolled.

Variants are ``<recipe>_<data>`` (plus ``smoke``):

* recipes: ``minimax`` (Goodfellow et al. 2014, saturating), ``non_saturating``,
  ``wgan`` (weight clipping, n_critic 5, RMSProp), ``wgan_gp`` (gradient penalty
  10, n_critic 5), ``hinge``, ``least_squares``, ``fgan_<divergence>`` for the six
  divergences of f-GAN, ``unrolled`` (the generator looks 5 critic steps ahead),
  ``unrolled5`` / ``unrolled10``: Metz et al. 2017 as published (appendix A: the minimax
  game value, generator z ~ N(0, I_256) -> 2x128 ReLU -> 2, critic x/4 -> 1x128 ReLU,
  Adam 1e-4 with b1 0.5 for both, constant rates), unrolling 5 or 10 critic steps from
  the critic's live Adam state (moments and count),
  and ``r1``: non-saturating with the R1 penalty on real data, the minibatch
  standard deviation feature and a generator EMA (the best mode coverage here);
* data: the eight toy2d densities (MLPs), ``digits`` (8x8), ``binarized_mnist``
  (the shared 28x28 file), ``tfds_mnist`` (28x28) and ``tfds_cifar10`` (32x32)
  with DCGANs.

Examples::

    python -m experiments.train --config=experiments/configs/gan.py:r1_ring --workdir=/tmp/gan_ring
    python -m experiments.train --config=experiments/configs/gan.py:unrolled10_ring --workdir=/tmp/unrolled10
    python -m experiments.train --config=experiments/configs/gan.py:non_saturating_digits --workdir=/tmp/dcgan
    python -m experiments.sample --workdir=/tmp/dcgan

and the tiny local variant the tests run::

    python -m experiments.train --config=experiments/configs/gan.py:smoke --workdir=/tmp/gan_smoke

Class-conditional GANs p(x | y) (``model.conditional=True``: the generator reads the one-hot
label beside z, the critic is a projection discriminator, Miyato & Koyama 2018):

* ``digits_conditional``: the ``r1_digits`` DCGAN on the digits and their labels for 10k steps
  (about 4.5 CPU minutes; 97.7% of its samples are classified as the asked digit at 10k,
  94.8% at 5k), selected on the validation MMD every 1000 steps::

    python -m experiments.train --config=experiments/configs/gan.py:digits_conditional \
        --workdir=/tmp/cgan_cond
    python -m experiments.sample --workdir=/tmp/cgan_cond --num_samples=100

* ``smoke_conditional``: tiny MLP players on the digits and their labels (tests, notebooks).

GANs have no likelihood: evaluation reports the unbiased MMD between samples
and the test split and, on the Gaussian-mixture toys, VEEGAN's mode coverage.
"""

from __future__ import annotations

import ml_collections

from experiments.configs.common import IMAGES, TOY2D, adam, base_config, set_image_data, split_variant

F_DIVERGENCES = (
    "kl",
    "reverse_kl",
    "jensen_shannon",
    "pearson_chi2",
    "squared_hellinger",
    "total_variation",
)
RECIPES = (
    "minimax",
    "non_saturating",
    "wgan",
    "wgan_gp",
    "hinge",
    "least_squares",
    "unrolled",
    "unrolled5",
    "unrolled10",
    "r1",
    *(f"fgan_{name}" for name in F_DIVERGENCES),
)
# Metz et al. 2017's unrolled GAN as published (appendix A, the mixture of Gaussians).
METZ_UNROLLED = ("unrolled5", "unrolled10")
# Conditional variants -> the unconditional variant they start from (labelled data only).
CONDITIONAL = {"digits_conditional": "r1_digits", "smoke_conditional": "smoke"}
VARIANTS = (
    "smoke",
    *CONDITIONAL,
    *(f"{recipe}_{data}" for recipe in RECIPES for data in TOY2D + IMAGES),
)


def _model_defaults() -> dict:
    return {
        "architecture": "mlp",
        "loss": "non_saturating",
        "divergence": "jensen_shannon",
        "fgan_generator": "saddle",
        "gradient_penalty": 0.0,
        "r1_penalty": 0.0,
        "unrolled_steps": 0,
        "latent_dim": 16,
        "generator_hidden": (256, 256, 256),
        "discriminator_hidden": (256, 256),
        "generator_activation": "relu",
        "discriminator_activation": "leaky_relu",
        "discriminator_input_scale": 1.0,
        "features": 64,
        "generator_norm": "batch",
        "discriminator_norm": "none",
        "minibatch_std": False,
        # p(x | y) with a projection discriminator (the number of classes comes from the data).
        "conditional": False,
    }


def _apply_recipe(config: ml_collections.ConfigDict, recipe: str, learning_rate: float) -> None:
    """Loss, penalties and optimisers of one recipe; the usual GAN Adam (b1 0.5)."""
    m = config.model
    config.optim.discriminator = adam(learning_rate, b1=0.5)
    config.optim.generator = adam(learning_rate, b1=0.5)
    if recipe in ("minimax", "non_saturating", "hinge", "least_squares"):
        m.loss = recipe
    elif recipe == "wgan":
        # Arjovsky et al. 2017: clip to 0.01, five critic steps, RMSProp 5e-5.
        m.loss = "wasserstein"
        config.optim.discriminator = adam(5e-5, name="rmsprop", weight_clip=0.01, updates_per_step=5)
        config.optim.generator = adam(5e-5, name="rmsprop")
    elif recipe == "wgan_gp":
        # Gulrajani et al. 2017: lambda 10, five critic steps, Adam 1e-4 (0, 0.9).
        m.update(loss="wasserstein", gradient_penalty=10.0)
        config.optim.discriminator = adam(1e-4, b1=0.0, b2=0.9, updates_per_step=5)
        config.optim.generator = adam(1e-4, b1=0.0, b2=0.9)
    elif recipe == "unrolled":
        m.update(loss="non_saturating", unrolled_steps=5)
    elif recipe in METZ_UNROLLED:
        # The game value (minimax), Adam 1e-4 with b1 0.5 for both players; the critic's
        # eps_root keeps the unrolled Adam differentiable, and since the look-ahead starts
        # from the live state the critic's real steps use the same eps_root.
        m.update(loss="minimax", unrolled_steps=int(recipe.removeprefix("unrolled")))
        config.optim.discriminator = adam(1e-4, b1=0.5, eps_root=1e-12)
        config.optim.generator = adam(1e-4, b1=0.5)
    elif recipe == "r1":
        m.update(loss="non_saturating", r1_penalty=0.1, minibatch_std=True)
        config.train.ema_decay = 0.999
    elif recipe.startswith("fgan_"):
        m.update(loss="fgan", divergence=recipe.removeprefix("fgan_"))
    else:  # split_variant only lets RECIPES through
        raise AssertionError(recipe)


def get_config(variant: str | None = None) -> ml_collections.ConfigDict:
    variant = variant or "r1_ring"
    base = CONDITIONAL.get(variant, variant)
    if variant == "smoke_conditional":  # the smoke players, on the labelled digits
        recipe, data = "non_saturating", "digits"
    else:
        recipe, data = split_variant(base, RECIPES, TOY2D + IMAGES, smoke=("non_saturating", "ring"))
    config = base_config("gan")
    config.model.update(_model_defaults())
    config.train.update(steps_per_call=100, eval_every=0, sample_every=0)
    config.eval.update(sample_metrics=True, num_quality_samples=2_500)

    if data in TOY2D:
        # 2-D noise as in PacGAN's toys: measured on the ring, it beat 16-D noise on
        # high-quality samples (97% vs 82% at 10k steps), the generator folding a plane onto the modes.
        config.model.latent_dim = 2
        _apply_recipe(config, recipe, 5e-4)
        # A cosine decay for both players: the grid's modes sharpen as the steps shrink
        # (r1 on 25gaussians: 93% high-quality samples at 30k steps, 35% at 10k constant).
        config.optim.discriminator.schedule = config.optim.generator.schedule = "cosine"
        if recipe in METZ_UNROLLED:
            # Metz et al.'s players and constant rates: z ~ N(0, I_256) -> 2x128 ReLU -> 2;
            # critic x/4 -> 1x128 ReLU -> logit.
            config.model.update(
                latent_dim=256,
                generator_hidden=(128, 128),
                discriminator_hidden=(128,),
                discriminator_activation="relu",
                discriminator_input_scale=0.25,
            )
            config.optim.discriminator.schedule = config.optim.generator.schedule = "constant"
        # VEEGAN's protocol draws 2500 samples; the test split is 10k true points.
        config.data.update(name=f"toy2d:{data}", batch_size=512, num_test=10_000, eval_batch_size=2_500)
        num_steps = {"ring": 10_000, "25gaussians": 30_000}.get(data, 20_000)
        config.train.update(num_steps=num_steps, log_every=2_000, checkpoint_every=5_000, sample_every=5_000)
        config.eval.num_samples = 2_500
    else:
        config.model.update(architecture="dcgan", latent_dim=64, features=32)
        _apply_recipe(config, recipe, 2e-4)
        set_image_data(config, data)
        config.data.update(batch_size=64, eval_batch_size=500)
        config.train.update(num_steps=5_000, log_every=500, checkpoint_every=1_000, sample_every=1_000)
        config.eval.update(num_samples=64, num_quality_samples=1_000)
        if data != "digits":
            config.model.update(latent_dim=100, features=64)
            config.train.update(num_steps=50_000, log_every=1_000, checkpoint_every=5_000, sample_every=5_000)

    if base == "smoke":
        config.model.update(generator_hidden=(16,), discriminator_hidden=(16,), latent_dim=4)
        config.data.update(batch_size=32, num_test=200, eval_batch_size=100)
        config.train.update(
            num_steps=20, steps_per_call=5, log_every=10, eval_every=10, checkpoint_every=10, sample_every=10
        )
        config.eval.update(num_batches=1, num_samples=16, num_quality_samples=100)
    if variant in CONDITIONAL:
        config.model.conditional = True
        if variant == "smoke_conditional":
            config.model.architecture = "mlp"
        else:  # select on the validation MMD along the run, not only at its end
            config.train.update(num_steps=10_000, eval_every=1_000)
    return config
