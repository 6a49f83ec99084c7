"""The GAN family: a generator and a discriminator, each minimising its own cost.

Config (``model.*``, with ``model.name = "gan"``):

=====================  ==========================================================
``architecture``       ``mlp`` (any data, flattened) | ``dcgan`` (images, H and W
                       divisible by 4: 8x8 digits, 28x28 MNIST, 32x32 CIFAR-10)
``loss``               ``minimax`` | ``non_saturating`` | ``wasserstein`` |
                       ``hinge`` | ``least_squares`` | ``fgan``
``divergence``         f-GAN only: ``kl`` | ``reverse_kl`` | ``jensen_shannon`` |
                       ``pearson_chi2`` | ``squared_hellinger`` | ``total_variation``
``fgan_generator``     f-GAN only: ``saddle`` (-E f*(T)) | ``alternative`` (-E T)
``gradient_penalty``   WGAN-GP weight lambda on random interpolates, 0 = off
``r1_penalty``         R1 weight gamma: gamma/2 E ||grad D(real)||^2, 0 = off
``unrolled_steps``     k > 0: the generator's cost is taken after k optimiser steps
                       of the discriminator, differentiated through (Metz et al.),
                       starting from the discriminator's live optimiser state; with
                       ``loss = minimax`` the cost is the whole game value (real term
                       included), Metz et al.'s f_K
``latent_dim``         size of z ~ N(0, I)
``generator_hidden``, ``discriminator_hidden``   MLP widths
``generator_activation``, ``discriminator_activation``   MLP nonlinearities (default
                       ``relu`` / ``leaky_relu``, slope 0.2)
``discriminator_input_scale``   MLP critic multiplies its input by this (default 1;
                       Metz et al.'s toy critic: 1/4)
``features``           DCGAN base width F (generator 2F -> F, critic F -> 2F)
``generator_norm``     DCGAN generator: ``batch`` (batch statistics) | ``none``
``discriminator_norm`` DCGAN critic: ``none`` | ``layer``
``minibatch_std``      append the minibatch standard deviation feature to the critic
``conditional``        a class-conditional GAN p(x | y) on labelled data: the generator
                       reads [z, one-hot(y)], the critic is a projection
                       discriminator (`genjax.models.gan.projection`)
=====================  ==========================================================

A conditional GAN's fakes in a training batch carry the real rows' labels, so the critic
sees both classes' marginals alike and WGAN-GP's interpolates join images of one class; its
penalties are gradients w.r.t. x with y held fixed. ``sample`` takes ``cond=`` labels `[n]`
(default ``arange(n) % num_classes``).

WGAN's weight clipping is a property of the critic's optimiser
(``optim.discriminator.weight_clip``) and n_critic of its update count
(``optim.discriminator.updates_per_step``); an EMA of the parameters
(``train.ema_decay``) is what evaluation and sampling then use.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import ml_collections
import optax

from genjax.errors import ConfigError
from genjax.fields import check_choice, choice, number
from genjax.losses import fgan as fgan_losses
from genjax.losses import gan as gan_losses
from genjax.models import conditioning as conditioning_lib
from genjax.models import precision
from genjax.models.bundle import Batch, GenerativeModel, Params
from genjax.models.conditioning import Conditioning
from genjax.models.gan.dcgan import DCGANDiscriminator, DCGANGenerator
from genjax.models.gan.mlp import MLPDiscriminator, MLPGenerator
from genjax.models.networks.layers import ACTIVATIONS
from genjax.spec import DataSpec

Array = jax.Array
ARCHITECTURES = ("mlp", "dcgan")
LOSSES = (*gan_losses.KINDS, "fgan")
FGAN_GENERATOR_COSTS = ("saddle", "alternative")


def validate(config: ml_collections.ConfigDict, spec: DataSpec) -> None:
    """One-line ConfigErrors for every model field the family reads."""
    m = config.model
    architecture = choice(m, "architecture", ARCHITECTURES)
    loss = choice(m, "loss", LOSSES)
    if loss == "fgan":
        choice(m, "divergence", tuple(fgan_losses.F_DIVERGENCES))
        choice(m, "fgan_generator", FGAN_GENERATOR_COSTS)
    for field in ("gradient_penalty", "r1_penalty"):
        number(m, field)
    number(m, "unrolled_steps", integer=True)
    number(m, "latent_dim", integer=True, positive=True)
    if architecture == "mlp":
        for field, default in (("generator_activation", "relu"), ("discriminator_activation", "leaky_relu")):
            check_choice(m.get(field, default), f"model.{field}", tuple(ACTIVATIONS))
        number(m, "discriminator_input_scale", positive=True, default=1.0)
    if spec.tokens:
        raise ConfigError(f"data.name: {spec.name!r} holds tokens; GANs here model continuous values")
    shape = spec.element_shape
    if architecture == "dcgan":
        if len(shape) != 3 or shape[0] % 4 or shape[1] % 4:
            raise ConfigError(
                f"model.architecture: dcgan needs images [H, W, C] with H and W divisible by 4; "
                f"{spec.name!r} has element shape {shape}"
            )
        choice(m, "generator_norm", ("batch", "none"))
        # No batch norm in the critic: it would couple examples and break per-example penalties.
        choice(m, "discriminator_norm", ("none", "layer"))


def _networks(
    m: ml_collections.ConfigDict,
    element_shape: tuple[int, ...],
    images_in_unit_range: bool,
    conditioning: Conditioning | None,
):
    num_dims = math.prod(element_shape)
    if m.architecture == "mlp":
        generator = MLPGenerator(
            hidden=tuple(m.generator_hidden),
            output_dim=num_dims,
            activation=m.get("generator_activation", "relu"),
            conditioning=conditioning,
        )
        discriminator = MLPDiscriminator(
            hidden=tuple(m.discriminator_hidden),
            activation=m.get("discriminator_activation", "leaky_relu"),
            minibatch_std=bool(m.minibatch_std),
            conditioning=conditioning,
            input_scale=float(m.get("discriminator_input_scale", 1.0)),
        )
        return generator, discriminator, True
    generator = DCGANGenerator(
        image_shape=element_shape,
        features=m.features,
        norm=m.generator_norm,
        output="sigmoid" if images_in_unit_range else "none",
        conditioning=conditioning,
    )
    discriminator = DCGANDiscriminator(
        features=m.features,
        norm=m.discriminator_norm,
        minibatch_std=bool(m.minibatch_std),
        conditioning=conditioning,
    )
    return generator, discriminator, False


def build(config: ml_collections.ConfigDict, spec: DataSpec) -> GenerativeModel:
    """The GAN bundle: players ``discriminator`` then ``generator``, in that update order."""
    validate(config, spec)
    conditioning = conditioning_lib.from_config(config, spec)
    m = config.model
    element_shape = spec.element_shape
    in_unit_range = spec.num_levels is not None  # pixel data is scaled to [0, 1]
    generator, discriminator, flat = _networks(m, element_shape, in_unit_range, conditioning)
    # Both players run bfloat16 in training (their costs and penalties stay float32); sampling is float32.
    train_precision = precision.policy(
        config, family="gan", architecture=m.architecture, supported=ARCHITECTURES
    )

    def to_data(flat_or_image: Array) -> Array:
        out = flat_or_image.reshape(-1, *element_shape)
        # An MLP generator on images ends in a sigmoid so samples live where the data do.
        return jax.nn.sigmoid(out) if flat and in_unit_range else out

    def to_critic(x: Array) -> Array:
        return x.reshape(x.shape[0], -1) if flat else x

    def condition(batch: Batch) -> tuple[Array, ...]:
        """The players' extra input: (y,) for a conditional GAN, () for p(x)."""
        return () if conditioning is None else (conditioning_lib.batch_condition(conditioning, batch),)

    def generate(
        generator_params, z: Array, y: tuple[Array, ...] = (), policy: precision.Precision = train_precision
    ) -> Array:
        """Generator outputs `[N, *element_shape]`, float32 (computed bfloat16 under a mixed policy)."""
        return to_data(policy.apply(generator.apply, generator_params, z, *y))

    def critic(discriminator_params, x: Array, y: tuple[Array, ...] = ()) -> Array:
        """Critic logits `[N]` or `[N, 1]`, float32; the critic runs in the training compute dtype."""
        return train_precision.apply(discriminator.apply, discriminator_params, to_critic(x), *y)

    def latents(rng: Array, num: int) -> Array:
        return jax.random.normal(rng, (num, m.latent_dim))

    def init(rng: Array, batch: Batch) -> Params:
        g_key, d_key = jax.random.split(rng)
        z = latents(g_key, batch["x"].shape[0])
        # Only shapes matter here, so a batch without labels initialises a conditional GAN with label 0.
        if conditioning is not None and conditioning.labels and "label" not in batch:
            batch = {**batch, "label": jnp.zeros(batch["x"].shape[:1], jnp.int32)}
        y = condition(batch)
        generator_params = generator.init(g_key, z, *y)
        discriminator_params = discriminator.init(d_key, to_critic(batch["x"]), *y)
        return {"discriminator": discriminator_params, "generator": generator_params}

    def adversarial_cost(real_logits: Array, fake_logits: Array) -> Array:
        if m.loss == "fgan":
            return fgan_losses.fgan_discriminator_loss(real_logits, fake_logits, divergence=m.divergence)
        return gan_losses.discriminator_loss(real_logits, fake_logits, kind=m.loss)

    def discriminator_cost(discriminator_params, real: Array, fake: Array, rng: Array, y=()):
        """The critic's full cost (adversarial term plus penalties) and its metrics; real and fake
        rows share the labels y (the penalties differentiate w.r.t. x with y fixed)."""
        real_logits = critic(discriminator_params, real, y)
        fake_logits = critic(discriminator_params, fake, y)
        cost = adversarial_cost(real_logits, fake_logits)
        metrics = {"real_output": jnp.mean(real_logits), "fake_output": jnp.mean(fake_logits)}
        critic_fn = lambda x: critic(discriminator_params, x, y)
        if m.gradient_penalty:
            penalty = gan_losses.gradient_penalty(rng, critic_fn, real, fake)
            cost = cost + m.gradient_penalty * penalty
            metrics["gradient_penalty"] = penalty
        if m.r1_penalty:
            penalty = gan_losses.r1_penalty(critic_fn, real)
            cost = cost + 0.5 * m.r1_penalty * penalty
            metrics["r1_penalty"] = penalty
        return cost, metrics

    def discriminator_loss(params: Params, batch: Batch, rng: Array):
        z_key, penalty_key = jax.random.split(rng)
        y = condition(batch)
        fake = generate(params["generator"], latents(z_key, batch["x"].shape[0]), y)
        return discriminator_cost(params["discriminator"], batch["x"], fake, penalty_key, y)

    def generator_cost(discriminator_params, fake: Array, y=()) -> Array:
        fake_logits = critic(discriminator_params, fake, y)
        if m.loss == "fgan":
            return fgan_losses.fgan_generator_loss(
                fake_logits, divergence=m.divergence, kind=m.fgan_generator
            )
        return gan_losses.generator_loss(fake_logits, kind=m.loss)

    unroll_optimizer = None
    if m.unrolled_steps:
        from genjax.optim import make_optimizer  # the critic's own optimiser, unrolled

        unroll_config = config.copy_and_resolve_references()
        # Adam's sqrt(v) has an infinite derivative at v = 0; eps_root keeps the unroll differentiable.
        unroll_config.optim.discriminator.eps_root = max(
            config.optim.discriminator.get("eps_root", 0.0), 1e-12
        )
        unroll_optimizer = make_optimizer(unroll_config, "discriminator")

    def unrolled_cost(discriminator_params, real: Array, fake: Array, y=()) -> Array:
        """G's cost against the look-ahead critic. For minimax it is the game's value
        -L_D (Metz et al.'s f_K): its real-data term is constant in G at K = 0, but not
        through the unrolled critic, whose steps depend on G's samples."""
        if m.loss != "minimax":
            return generator_cost(discriminator_params, fake, y)
        logits = critic(discriminator_params, real, y), critic(discriminator_params, fake, y)
        return -gan_losses.discriminator_loss(*logits, kind="minimax")

    def generator_loss(params: Params, batch: Batch, rng: Array, *, opt_state=None):
        """G's cost; an unrolled GAN's train step passes ``opt_state``, every player's live
        optimiser state (``GenerativeModel.losses_read_opt_state``), and the look-ahead starts
        from the critic's. Called without it (shape checks, direct calls) it unrolls from a
        fresh state."""
        z_key, penalty_key = jax.random.split(rng)
        y = condition(batch)
        fake = generate(params["generator"], latents(z_key, batch["x"].shape[0]), y)
        if not m.unrolled_steps:
            return generator_cost(params["discriminator"], fake, y), {}
        live = None if opt_state is None else _inner_state(opt_state["discriminator"])
        cost = gan_losses.unrolled_generator_loss(
            lambda d: unrolled_cost(d, batch["x"], fake, y),
            lambda d: discriminator_cost(d, batch["x"], fake, penalty_key, y)[0],
            params["discriminator"],
            init_fn=unroll_optimizer.init,
            update_fn=unroll_optimizer.update,
            num_steps=m.unrolled_steps,
            opt_state=live,
        )
        return cost, {"unrolled_from": unrolled_cost(params["discriminator"], batch["x"], fake, y)}

    def sample(params: Params, rng: Array, num_samples: int, *, cond: Array | None = None) -> Array:
        """`[N, *element_shape]` generator samples (drawn as one batch: batch statistics see all N).

        A conditional GAN draws sample i of class ``cond[i]`` (labels `[N]`; default
        ``arange(N) % num_classes``); an unconditional one takes no ``cond``.
        """
        if conditioning is None:
            conditioning_lib.no_condition(cond, "gan")
            y = ()
        else:
            y = (conditioning_lib.sample_condition(conditioning, cond, num_samples),)
        return generate(params["generator"], latents(rng, num_samples), y, precision.FLOAT32)

    return GenerativeModel(
        init=init,
        losses={"discriminator": discriminator_loss, "generator": generator_loss},
        sample=sample,
        log_prob=None,
        element_shape=element_shape,
        convolutional=m.architecture == "dcgan",
        conditioning=conditioning,
        losses_read_opt_state=("generator",) if m.unrolled_steps else (),
    )


def _inner_state(state):
    """The critic's optax state as its own transformation keeps it: with gradient accumulation
    the step's optimizer is ``optax.MultiSteps`` around it, and one look-ahead step is one
    inner update on the whole batch's gradient."""
    return state.inner_opt_state if isinstance(state, optax.MultiStepsState) else state
