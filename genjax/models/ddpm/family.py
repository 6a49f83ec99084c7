"""The DDPM family (Ho et al. 2020): a network predicting the noise eps in x_t.

The forward process q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I) runs over
``num_timesteps`` steps of a ``linear`` (Ho et al.) or ``cosine`` (Nichol &
Dhariwal 2021) beta schedule (linear betas are rescaled by 1000/T, as improved
DDPM does, so T = 1000 is Ho et al.'s 1e-4 .. 0.02). Training minimises the eps-prediction loss
(L_simple); sampling is ancestral (``ddpm``) or DDIM (``ddim``, Song et al.
2021) on a sub-sequence of steps. Pixel data in [0, 1] are mapped to [-1, 1];
on discrete images the test metric is the full variational bound with the
discretised decoder, an upper bound on -log p in nats (bits/dim in the
loop's report), estimated with ``eval.bound_timesteps`` stratified timesteps
(0: all T terms, exact).

Config (``model.*``, with ``model.name = "ddpm"``):

=====================  ==========================================================
``num_timesteps``      T
``schedule``           ``linear`` (``beta_start`` .. ``beta_end``) | ``cosine``
``sampler``            ``ddpm`` | ``ddim`` (``ddim_steps``, ``ddim_eta``)
``variance``           reverse-process variance: ``beta`` | ``posterior`` (beta tilde)
``clip_denoised``      clip the predicted x_0 to [-1, 1] while sampling (images)
architecture fields    see `genjax.models.networks.denoiser`
``conditional``        learn p(x | y) (labels or a conditioning array from the data);
                       ``label_dropout`` and ``guidance_scale``: see `genjax.models.guidance`
=====================  ==========================================================

A conditional DDPM adds a label embedding to the time embedding, trains with label
dropout, and samples with classifier-free guidance (both samplers, inside their one
``lax.scan``). Its ``log_prob`` is the variational bound on log p(x | y), without guidance:
a guided sampler defines no density.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections

from genjax import fields
from genjax.diffusion import cosine_betas, linear_betas, make_schedule
from genjax.errors import ConfigError
from genjax.losses.diffusion import ddpm_loss, ddpm_variational_bound
from genjax.models import precision
from genjax.models.bundle import Batch, GenerativeModel, Params, masked_mean
from genjax.models.conditioning import batch_condition, from_config
from genjax.models.guidance import guidance_options, sampling_predictor, training_condition
from genjax.models.networks.denoiser import ARCHITECTURES, make_network
from genjax.samplers.diffusion import ddim_sample, ddpm_sample
from genjax.spec import DataSpec

Array = jax.Array
SCHEDULES = ("linear", "cosine")
SAMPLERS = ("ddpm", "ddim")
VARIANCES = ("beta", "posterior")


def validate(config: ml_collections.ConfigDict) -> None:
    m = config.model
    steps = fields.number(m, "num_timesteps", integer=True, positive=True)
    if steps < 2:
        raise ConfigError(f"model.num_timesteps: got {steps}; must be at least 2")
    if fields.choice(m, "schedule", SCHEDULES) == "linear":
        start, end = fields.fraction(m, "beta_start"), fields.fraction(m, "beta_end")
        if not 0 < start <= end < 1:
            raise ConfigError(f"model.beta_end: need 0 < beta_start <= beta_end < 1; got {start}, {end}")
    if fields.choice(m, "sampler", SAMPLERS) == "ddim":
        ddim_steps = fields.number(m, "ddim_steps", integer=True, positive=True)
        if ddim_steps > steps:
            raise ConfigError(f"model.ddim_steps: got {ddim_steps}; at most num_timesteps ({steps})")
        fields.number(m, "ddim_eta")
    fields.choice(m, "variance", VARIANCES)
    try:
        make_betas(m)
    except ValueError as error:  # e.g. a rescaled beta reaching 1 for very small T
        raise ConfigError(f"model.num_timesteps: {error}") from None
    bound_steps = config.get("eval", {}).get("bound_timesteps", 0)
    if isinstance(bound_steps, bool) or not isinstance(bound_steps, int) or not 0 <= bound_steps <= steps:
        raise ConfigError(f"eval.bound_timesteps: got {bound_steps!r}; must be an integer in [0, {steps}]")


def make_betas(m: ml_collections.ConfigDict):
    if m.schedule == "linear":
        return linear_betas(m.num_timesteps, beta_start=m.beta_start, beta_end=m.beta_end)
    return cosine_betas(m.num_timesteps)


def build(config: ml_collections.ConfigDict, spec: DataSpec) -> GenerativeModel:
    """The DDPM bundle: one player, ``denoiser``."""
    validate(config)
    m = config.model
    conditioning = from_config(config, spec)
    # Unconditional models never read the guidance options; (0, 1) is their meaning there.
    label_dropout, default_scale = (0.0, 1.0) if conditioning is None else guidance_options(m, conditioning)
    element_shape = spec.element_shape
    num_levels = spec.num_levels  # None: continuous data, used as they are
    network = make_network(m, element_shape, conditioning)
    # The eps-network runs bfloat16 in training; the squared error, the bound and sampling stay float32.
    train_precision = precision.policy(
        config, family="ddpm", architecture=m.architecture, supported=ARCHITECTURES
    )
    schedule = make_schedule(make_betas(m))
    bound_timesteps = config.get("eval", {}).get("bound_timesteps", 0) or None
    # The bound judges the very model the sampler draws from, clipping included.
    clip_denoised = bool(m.clip_denoised) and num_levels is not None

    def to_model(x: Array) -> Array:
        return 2.0 * x - 1.0 if num_levels else x

    def eps_fn_of(params: Params, rng: Array | None = None, policy: precision.Precision = precision.FLOAT32):
        """eps(x_t, t) `[N, ...]`; under ``policy`` the network runs bfloat16 (t stays float32)."""
        variables = policy.cast(params["denoiser"])

        def eps_fn(x_t: Array, t: Array) -> Array:
            return policy.output(network.apply(variables, policy.cast(x_t), t.astype(jnp.float32), rng))

        return eps_fn

    def conditional_eps_fn_of(
        params: Params, rng: Array | None = None, policy: precision.Precision = precision.FLOAT32
    ):
        """eps(x_t, t, y) `[N, ...]` of a conditional model; y is cast like x (labels stay int)."""
        variables = policy.cast(params["denoiser"])

        def eps_fn(x_t: Array, t: Array, y: Array) -> Array:
            out = network.apply(variables, policy.cast(x_t), t.astype(jnp.float32), rng, policy.cast(y))
            return policy.output(out)

        return eps_fn

    def eps_fn_for(params: Params, batch: Batch, rng=None, policy=precision.FLOAT32, drop_key=None):
        """eps(x_t, t) of the batch: given its y (dropped with ``drop_key``) when conditional."""
        if conditioning is None:
            return eps_fn_of(params, rng, policy)
        y = batch_condition(conditioning, batch)
        if drop_key is not None:
            y = training_condition(drop_key, conditioning, y, label_dropout)
        eps_fn = conditional_eps_fn_of(params, rng, policy)
        return lambda x_t, t: eps_fn(x_t, t, y)

    def init(rng: Array, batch: Batch) -> Params:
        x = batch["x"]
        if conditioning is None:
            return {"denoiser": network.init(rng, x, jnp.zeros(x.shape[:1]))}
        y = batch_condition(conditioning, batch)
        return {"denoiser": network.init(rng, x, jnp.zeros(x.shape[:1]), y)}

    def loss(params: Params, batch: Batch, rng: Array):
        if conditioning is None:
            net_key, loss_key = jax.random.split(rng)
            eps_fn = eps_fn_of(params, net_key, train_precision)
        else:
            net_key, loss_key, drop_key = jax.random.split(rng, 3)
            eps_fn = eps_fn_for(params, batch, net_key, train_precision, drop_key)
        values = ddpm_loss(loss_key, eps_fn, to_model(batch["x"]), schedule)
        return masked_mean(values, batch), {}

    def eval_metrics(params: Params, batch: Batch, rng: Array) -> dict[str, Array]:
        return {"eps_mse": ddpm_loss(rng, eps_fn_for(params, batch), to_model(batch["x"]), schedule)}

    def log_prob(params: Params, batch: Batch, rng: Array) -> Array:
        return ddpm_variational_bound(  # the ELBO (of log p(x | y) when conditional), nats (<= 0)
            rng,
            eps_fn_for(params, batch),
            to_model(batch["x"]),
            schedule,
            num_levels=num_levels,
            timesteps=bound_timesteps,
            variance=m.variance,
            clip_denoised=clip_denoised,
        )

    def sample_eps_fn(params: Params, num_samples: int, cond, guidance_scale):
        """The sampler's eps(x_t, t): guided toward y when conditional."""
        return sampling_predictor(
            "ddpm",
            conditioning,
            plain=lambda: eps_fn_of(params),
            conditional=lambda: conditional_eps_fn_of(params),
            cond=cond,
            num_samples=num_samples,
            guidance_scale=guidance_scale,
            default_scale=default_scale,
        )

    def sample(params: Params, rng: Array, num_samples: int, *, cond=None, guidance_scale=None) -> Array:
        """`[n, *element_shape]`; conditional: y = ``cond`` (default ``arange(n) % K``), guided at
        ``guidance_scale`` (default ``model.guidance_scale``)."""
        eps_fn = sample_eps_fn(params, num_samples, cond, guidance_scale)
        noise_key, chain_key = jax.random.split(rng)
        x_T = jax.random.normal(noise_key, (num_samples, *element_shape))
        if m.sampler == "ddpm":
            x = ddpm_sample(
                chain_key, eps_fn, x_T, schedule, variance=m.variance, clip_denoised=clip_denoised
            )
        else:
            x = ddim_sample(
                chain_key,
                eps_fn,
                x_T,
                schedule,
                num_steps=m.ddim_steps,
                eta=float(m.ddim_eta),
                clip_denoised=clip_denoised,
            )
        return jnp.clip((x + 1.0) / 2.0, 0.0, 1.0) if num_levels else x

    return GenerativeModel(
        init=init,
        losses={"denoiser": loss},
        sample=sample,
        log_prob=log_prob if num_levels else None,
        element_shape=element_shape,
        eval_metrics=eval_metrics,
        convolutional=m.architecture == "unet",
        conditioning=conditioning,
    )
