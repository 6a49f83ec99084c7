"""The score family (NCSN, Song & Ermon 2019): one network s(x, sigma) for many noise levels.

Training matches the score of the data perturbed by N(0, sigma^2 I), for sigma
drawn from a decreasing geometric list sigma_1 > ... > sigma_L, with the
sigma^2 weighting that makes every level's loss O(1); sampling is annealed
Langevin dynamics down the same list (`genjax.samplers.annealed_langevin`).

Config (``model.*``, with ``model.name = "score"``):

=====================  ==========================================================
``objective``          ``dsm`` (denoising score matching) | ``ssm`` / ``ssm_vr``
                       (sliced score matching, plain or variance-reduced, on the
                       perturbed data)
``sigma_max``,         the geometric noise list: sigma_max should be about the
``sigma_min``,         largest distance between training examples (Song & Ermon
``num_sigmas``         2020, technique 1), sigma_min below the data's resolution
``weighting``          lambda(sigma) = sigma^weighting (2: Song & Ermon)
``num_projections``    sliced objectives: projections per example
``scale_by_sigma``     s(x, sigma) = net(x, log sigma) / sigma (NCSNv2 technique 3)
``step_size``,         annealed Langevin: eps at the last level and steps per level;
``steps_per_sigma``    the step at level i is eps * sigma_i^2 / sigma_L^2
``final_denoise``      finish with one Tweedie step x + sigma_L^2 s(x, sigma_L)
``init``               chain starts: ``uniform`` on [init_low, init_high] |
                       ``gaussian`` N(0, sigma_max^2 I)
architecture fields    see `genjax.models.networks.denoiser`
``conditional``        learn the scores of p(x | y) (labels or a conditioning array from
                       the data); ``label_dropout``, ``guidance_scale``: `genjax.models.guidance`
=====================  ==========================================================

A conditional NCSN adds a label embedding to the noise-level embedding, trains with label
dropout, and samples by annealed Langevin on the guided score
s * score(x, sigma, y) + (1 - s) * score(x, sigma, null) (classifier-free guidance on
scores: a score is -eps / sigma, so this is eps guidance).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections

from genjax import fields
from genjax.errors import ConfigError
from genjax.losses.score import denoising_score_matching, sliced_score_matching
from genjax.models import precision
from genjax.models.bundle import Batch, GenerativeModel, Params, masked_mean
from genjax.models.conditioning import batch_condition, from_config
from genjax.models.guidance import guidance_options, sampling_predictor, training_condition
from genjax.models.networks.denoiser import ARCHITECTURES, make_network
from genjax.samplers.langevin import annealed_langevin, geometric_sigmas
from genjax.spec import DataSpec

Array = jax.Array
OBJECTIVES = ("dsm", "ssm", "ssm_vr")
INITS = ("uniform", "gaussian")


def validate(m: ml_collections.ConfigDict) -> None:
    fields.choice(m, "objective", OBJECTIVES)
    fields.choice(m, "init", INITS)
    sigma_max = fields.number(m, "sigma_max", positive=True)
    sigma_min = fields.number(m, "sigma_min", positive=True)
    if sigma_min >= sigma_max:
        raise ConfigError(f"model.sigma_min: got {sigma_min}; must be below sigma_max ({sigma_max})")
    fields.number(m, "num_sigmas", integer=True, positive=True)
    fields.number(m, "weighting")
    fields.number(m, "num_projections", integer=True, positive=True)
    fields.number(m, "step_size", positive=True)
    fields.number(m, "steps_per_sigma", integer=True, positive=True)


def per_example(values: Array, x: Array) -> Array:
    """`[N]` -> `[N, 1, ...]`, broadcastable against ``x`` `[N, ...]`."""
    return values.reshape(-1, *([1] * (x.ndim - 1)))


def score_function(
    network,
    variables,
    *,
    scale_by_sigma: bool,
    rng: Array | None = None,
    policy: precision.Precision = precision.FLOAT32,
    conditional: bool = False,
):
    """``score_fn(x [N, ...], sigma [N]) -> [N, ...]`` from the noise-conditional network, or with
    ``conditional`` ``score_fn(x, sigma, y [N, ...]) -> [N, ...]`` (labels stay integers).

    With ``scale_by_sigma`` the network's output is divided by sigma (Song and
    Ermon 2020's technique 3): the true score of data noised at sigma scales as
    1/sigma, so the network only has to learn a unit-scale direction. Under a
    bfloat16 ``policy`` the network computes in bfloat16 (log sigma stays float32)
    and the score comes back float32.
    """
    variables = policy.cast(variables)

    def score_fn(x: Array, sigma: Array) -> Array:
        out = policy.output(network.apply(variables, policy.cast(x), jnp.log(sigma), rng))
        return out / per_example(sigma, x) if scale_by_sigma else out

    def conditional_score_fn(x: Array, sigma: Array, y: Array) -> Array:
        out = network.apply(variables, policy.cast(x), jnp.log(sigma), rng, policy.cast(y))
        out = policy.output(out)
        return out / per_example(sigma, x) if scale_by_sigma else out

    return conditional_score_fn if conditional else score_fn


def build(config: ml_collections.ConfigDict, spec: DataSpec) -> GenerativeModel:
    """The NCSN bundle: one player, ``score``."""
    m = config.model
    validate(m)
    conditioning = from_config(config, spec)
    # Unconditional models never read the guidance options; (0, 1) is their meaning there.
    label_dropout, default_scale = (0.0, 1.0) if conditioning is None else guidance_options(m, conditioning)
    element_shape = spec.element_shape
    images = spec.num_levels is not None  # pixel data are scaled to [0, 1]
    network = make_network(m, element_shape, conditioning)
    # The score network runs bfloat16 in training; the objectives, evaluation and sampling stay float32.
    train_precision = precision.policy(
        config, family="score", architecture=m.architecture, supported=ARCHITECTURES
    )
    sigmas = geometric_sigmas(float(m.sigma_max), float(m.sigma_min), int(m.num_sigmas))

    def score_fn_of(
        params: Params, rng: Array | None = None, policy: precision.Precision = precision.FLOAT32
    ):
        return score_function(
            network, params["score"], scale_by_sigma=m.scale_by_sigma, rng=rng, policy=policy
        )

    def score_fn_for(params: Params, batch: Batch, rng=None, policy=precision.FLOAT32, drop_key=None):
        """s(x, sigma) of the batch: given its y (dropped with ``drop_key``) when conditional."""
        if conditioning is None:
            return score_fn_of(params, rng, policy)
        y = batch_condition(conditioning, batch)
        if drop_key is not None:
            y = training_condition(drop_key, conditioning, y, label_dropout)
        score_fn = score_function(
            network,
            params["score"],
            scale_by_sigma=m.scale_by_sigma,
            rng=rng,
            policy=policy,
            conditional=True,
        )
        return lambda x, sigma: score_fn(x, sigma, y)

    def init(rng: Array, batch: Batch) -> Params:
        x = batch["x"]
        if conditioning is None:
            return {"score": network.init(rng, x, jnp.zeros(x.shape[:1]))}
        return {"score": network.init(rng, x, jnp.zeros(x.shape[:1]), batch_condition(conditioning, batch))}

    def objective(params: Params, batch: Batch, rng: Array) -> Array:
        """Per-example loss `[B]` at noise levels drawn uniformly from ``sigmas``."""
        x = batch["x"]
        if conditioning is None:
            net_key, loss_key = jax.random.split(rng)
            score_fn = score_fn_of(params, net_key, train_precision)
        else:
            net_key, loss_key, drop_key = jax.random.split(rng, 3)
            score_fn = score_fn_for(params, batch, net_key, train_precision, drop_key)
        if m.objective == "dsm":
            return denoising_score_matching(loss_key, score_fn, x, sigmas, weighting=m.weighting)
        level_key, noise_key, projection_key = jax.random.split(loss_key, 3)
        sigma = sigmas[jax.random.randint(level_key, x.shape[:1], 0, len(sigmas))]
        noised = x + per_example(sigma, x) * jax.random.normal(noise_key, x.shape)
        values = sliced_score_matching(
            projection_key,
            score_fn,
            noised,
            num_projections=m.num_projections,
            variance_reduced=m.objective == "ssm_vr",
            sigma=sigma,
        )
        return values * sigma**m.weighting

    def loss(params: Params, batch: Batch, rng: Array):
        return masked_mean(objective(params, batch, rng), batch), {}

    def eval_metrics(params: Params, batch: Batch, rng: Array) -> dict[str, Array]:
        # The sigma^2-weighted DSM loss on test data: comparable across objectives and runs.
        score_fn = score_fn_for(params, batch)
        return {"dsm": denoising_score_matching(rng, score_fn, batch["x"], sigmas, weighting=2.0)}

    def sample_score_fn(params: Params, num_samples: int, cond, guidance_scale):
        """The chain's s(x, sigma): guided toward y when conditional."""
        return sampling_predictor(
            "score",
            conditioning,
            plain=lambda: score_fn_of(params),
            conditional=lambda: score_function(
                network, params["score"], scale_by_sigma=m.scale_by_sigma, conditional=True
            ),
            cond=cond,
            num_samples=num_samples,
            guidance_scale=guidance_scale,
            default_scale=default_scale,
        )

    def sample(params: Params, rng: Array, num_samples: int, *, cond=None, guidance_scale=None) -> Array:
        """`[n, *element_shape]`; conditional: y = ``cond`` (default ``arange(n) % K``), guided at
        ``guidance_scale`` (default ``model.guidance_scale``)."""
        score_fn = sample_score_fn(params, num_samples, cond, guidance_scale)
        init_key, chain_key = jax.random.split(rng)
        shape = (num_samples, *element_shape)
        if m.init == "uniform":
            x0 = jax.random.uniform(init_key, shape, minval=m.init_low, maxval=m.init_high)
        else:
            x0 = sigmas[0] * jax.random.normal(init_key, shape)
        x = annealed_langevin(
            chain_key,
            score_fn,
            x0,
            sigmas,
            step_size=m.step_size,
            steps_per_sigma=m.steps_per_sigma,
            final_denoise=bool(m.final_denoise),
        )
        return jnp.clip(x, 0.0, 1.0) if images else x

    return GenerativeModel(
        init=init,
        losses={"score": loss},
        sample=sample,
        log_prob=None,
        element_shape=element_shape,
        eval_metrics=eval_metrics,
        convolutional=m.architecture == "unet",
        conditioning=conditioning,
    )
