"""Normalizing flows as a family: NICE, RealNVP, Glow, MAF, IAF, neural spline flows, planar and radial.

``log_prob`` is exact: ``log p(x) = log p_Z(f(x)) + log |det df/dx|`` through
the preprocessing (logit transform or centring, log-det included) and, for
discrete data, the dequantization accounting ``- D log L``
(`genjax.losses.dequantized_log_prob`), so the loop's NLL and bits/dim are
in the original discrete space, comparable with published figures. Sampling
runs the flow backwards from the base distribution, with its standard
deviation scaled by a temperature (Glow's "temperature"; 1 = the model).

``model.*`` fields:

=======================  =====================================================
``architecture``         nice | realnvp | glow | maf | iaf | nsf_coupling |
                         nsf_autoregressive | planar | radial
``num_layers``           couplings (nice, realnvp, nsf_coupling and glow on
                         vectors), MADE layers (maf, iaf, nsf_autoregressive),
                         planar or radial layers
``hidden_sizes``         conditioner widths: dense units, or conv channels
``num_scales``           realnvp / glow on images: levels of the multi-scale model
``steps_per_scale``      glow on images: flow steps per level
``scale_fn``             tanh | sigmoid | exp: bounded log-scale of affine couplings
``lu``                   glow: LU-parameterised invertible 1x1 convolutions
``num_bins``             nsf_*: K, rational-quadratic bins per spline (>= 2)
``tail_bound``           nsf_*: B, the splines cover [-B, B] (identity outside)
``activation``           conditioner activation
``base``                 normal | logistic (NICE's prior)
``preprocess``           none | logit | center: data in [0, 1] -> flow input
``logit_alpha``          squeeze of the logit transform
``temperature``          default sampling temperature
``conditional``          p(x | y): every coupling conditioner (nice, realnvp,
                         glow, nsf_coupling) or MADE (maf, iaf,
                         nsf_autoregressive) also sees y's features
                         (one-hot labels, or the flattened ``"cond"`` array)
=======================  =====================================================

A conditional flow (``model.conditional=True``, labelled data) is a bijection
``x -> z`` for each y, so ``log_prob`` is the exact ``log p(x | y)`` and
``sample(..., cond=y)`` inverts it for the given y (default: a row of every
class). Planar and radial layers have no conditioner network and refuse it.

RealNVP and Glow use convolutional multi-scale models on images; the other
architectures see images as flat vectors.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import ml_collections

from genjax import bijections, distributions, fields, losses, metrics
from genjax.errors import ConfigError
from genjax.models import conditioning as conditioning_lib
from genjax.models import precision
from genjax.models.bundle import Batch, GenerativeModel, Params, masked_mean
from genjax.models.flow.autoregressive import IAF, MAF
from genjax.models.flow.bijector import Bijector, Chain, Flatten, Reverse
from genjax.models.flow.coupling import Coupling, DiagonalScaling
from genjax.models.flow.glow import glow_step
from genjax.models.flow.multiscale import glow_multiscale, realnvp_multiscale
from genjax.models.flow.planar import Planar
from genjax.models.flow.radial import Radial
from genjax.models.flow.spline import SplineAutoregressive, SplineCoupling
from genjax.models.networks.conditioning import condition_features
from genjax.spec import DataSpec

Array = jax.Array
ARCHITECTURES = (
    "nice",
    "realnvp",
    "glow",
    "maf",
    "iaf",
    "nsf_coupling",
    "nsf_autoregressive",
    "planar",
    "radial",
)
BASES = ("normal", "logistic")
PREPROCESSING = ("none", "logit", "center")
SCALE_FNS = ("tanh", "sigmoid", "exp")
MULTISCALE = ("realnvp", "glow")  # convolutional multi-scale models on images
# Those with a conditioner network to see y.
CONDITIONAL = ("nice", "realnvp", "glow", "maf", "iaf", "nsf_coupling", "nsf_autoregressive")
SPLINES = ("nsf_coupling", "nsf_autoregressive")
# Spline fields of configs written before the spline flows existed.
SPLINE_DEFAULTS = {"num_bins": 8, "tail_bound": 3.0}


def _vector_flow(m: ml_collections.ConfigDict) -> list[Bijector]:
    """The layers of a flow on `[B, D]` vectors."""
    hidden = tuple(m.hidden_sizes)
    layers: list[Bijector] = []
    for index in range(m.num_layers):
        parity = index % 2
        if m.architecture == "nice":
            layers.append(Coupling(hidden, affine=False, parity=parity, activation=m.activation))
        elif m.architecture == "realnvp":
            layers.append(Coupling(hidden, parity=parity, scale_fn=m.scale_fn, activation=m.activation))
        elif m.architecture == "glow":
            # The invertible linear layer mixes dimensions, so a fixed parity suffices.
            layers.append(glow_step(hidden, lu=m.lu, scale_fn=m.scale_fn, activation=m.activation))
        elif m.architecture in ("maf", "iaf"):
            if index:
                layers.append(Reverse())
            flow_class = MAF if m.architecture == "maf" else IAF
            layers.append(flow_class(hidden_sizes=hidden, activation=m.activation))
        elif m.architecture == "nsf_coupling":
            spline = _spline_fields(m)
            layers.append(SplineCoupling(hidden, parity=parity, activation=m.activation, **spline))
        elif m.architecture == "nsf_autoregressive":
            if index:
                layers.append(Reverse())
            layers.append(SplineAutoregressive(hidden, activation=m.activation, **_spline_fields(m)))
        elif m.architecture == "planar":
            layers.append(Planar())
        else:
            layers.append(Radial())
    if m.architecture == "nice":
        layers.append(DiagonalScaling())
    return layers


def _spline_fields(m: ml_collections.ConfigDict) -> dict:
    return {field: m.get(field, default) for field, default in SPLINE_DEFAULTS.items()}


def make_flow(m: ml_collections.ConfigDict, element_shape: tuple[int, ...]) -> Bijector:
    """The bijector ``x [B, *element_shape] -> z`` described by ``config.model``."""
    is_image = len(element_shape) == 3
    if is_image and m.architecture == "realnvp":
        return realnvp_multiscale(
            element_shape,
            num_scales=m.num_scales,
            hidden_channels=tuple(m.hidden_sizes),
            scale_fn=m.scale_fn,
            activation=m.activation,
        )
    if is_image and m.architecture == "glow":
        return glow_multiscale(
            element_shape,
            num_levels=m.num_scales,
            steps_per_level=m.steps_per_scale,
            hidden_channels=tuple(m.hidden_sizes),
            lu=m.lu,
            scale_fn=m.scale_fn,
            activation=m.activation,
        )
    layers = _vector_flow(m)
    if len(element_shape) > 1:
        layers = [Flatten(element_shape), *layers]
    return Chain(tuple(layers))


def validate(config: ml_collections.ConfigDict, spec: DataSpec) -> conditioning_lib.Conditioning | None:
    """Checks ``config.model`` against the data; returns the model's y (None when unconditional)."""
    m = config.model
    conditioning = conditioning_lib.from_config(config, spec)
    if conditioning is not None and m.architecture not in CONDITIONAL:
        raise ConfigError(
            f"model.conditional: {m.architecture} layers have no conditioner network to see y; "
            f"conditional flows are {', '.join(CONDITIONAL)}"
        )
    for field, value, allowed in (
        ("model.architecture", m.architecture, ARCHITECTURES),
        ("model.base", m.base, BASES),
        ("model.preprocess", m.preprocess, PREPROCESSING),
        ("model.scale_fn", m.scale_fn, SCALE_FNS),
    ):
        if value not in allowed:
            raise ConfigError(f"{field}: got {value!r}; allowed: {', '.join(allowed)}")
    for field in ("num_layers", "num_scales", "steps_per_scale"):
        value = m[field]
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ConfigError(f"model.{field}: got {value!r}; must be a positive integer")
    if m.architecture in SPLINES:
        spline = _spline_fields(m)
        if not fields.is_int(spline["num_bins"]) or spline["num_bins"] < 2:
            raise ConfigError(f"model.num_bins: got {spline['num_bins']!r}; must be an integer >= 2")
        fields.check_number(spline["tail_bound"], "model.tail_bound", positive=True)
    if not (isinstance(m.temperature, int | float) and m.temperature > 0):
        raise ConfigError(f"model.temperature: got {m.temperature!r}; must be a positive number")
    if not 0 <= m.logit_alpha < 0.5:
        raise ConfigError(f"model.logit_alpha: got {m.logit_alpha!r}; must be in [0, 0.5)")
    fields.continuous_density_data(config.data, num_levels=spec.num_levels, dataset=spec.name, model="a flow")
    if m.preprocess == "logit" and not spec.num_levels:
        raise ConfigError("model.preprocess: 'logit' needs data in [0, 1] (dequantized images); use 'none'")
    try:
        _check_shapes(m, spec.element_shape)
    except ValueError as error:
        # The multi-scale builders name the constraint (e.g. how many squeezes fit).
        raise ConfigError(f"model.num_scales: {error}") from None
    return conditioning


def _check_shapes(m, element_shape: tuple[int, ...]) -> None:
    """Builds the flow's shapes abstractly, so an impossible multi-scale layout fails at start-up."""
    flow = make_flow(m, element_shape)
    jax.eval_shape(
        lambda x: flow.init(jax.random.key(0), x, method="forward"),
        jax.ShapeDtypeStruct((2, *element_shape), jnp.float32),
    )


def build(config: ml_collections.ConfigDict, spec: DataSpec) -> GenerativeModel:
    """The flow bundle: one player ("model") minimising the exact NLL (of x given y when conditional)."""
    conditioning = validate(config, spec)
    m = config.model
    element_shape = spec.element_shape
    num_dims = math.prod(element_shape)
    num_levels = spec.num_levels if config.data.dequantize else None
    flow = make_flow(m, element_shape)
    # Exact likelihoods: the change of variables needs the inverse and log-det at float32, so no
    # architecture runs bfloat16 (an approximate inverse would make sample and log_prob disagree).
    precision.policy(config, family="flow", architecture=m.architecture, supported=())

    def base_log_prob(z: Array) -> Array:
        if m.base == "logistic":
            return distributions.standard_logistic_log_prob(z)
        return distributions.standard_normal_log_prob(z)

    def preprocess(x: Array) -> tuple[Array, Array]:
        """Data -> flow input and the log-det of that map, `[B]`."""
        if m.preprocess == "logit":
            return bijections.logit_transform(x, alpha=m.logit_alpha)
        if m.preprocess == "center":
            return x - 0.5, jnp.zeros(x.shape[0], x.dtype)
        return x, jnp.zeros(x.shape[0], x.dtype)

    def postprocess(y: Array) -> Array:
        if m.preprocess == "logit":
            y = bijections.inverse_logit_transform(y, alpha=m.logit_alpha)[0]
        elif m.preprocess == "center":
            y = y + 0.5
        return jnp.clip(y, 0.0, 1.0) if num_levels else y

    def context(y: Array) -> Array | None:
        """y's features `[B, C]` for the conditioners; None for an unconditional flow."""
        return None if conditioning is None else condition_features(conditioning, y)

    def batch_context(batch: Batch) -> Array | None:
        return (
            None if conditioning is None else context(conditioning_lib.batch_condition(conditioning, batch))
        )

    def init(rng: Array, batch: Batch) -> Params:
        # Through forward on real data, so ActNorm's data-dependent init sees the data.
        return {"model": flow.init(rng, preprocess(batch["x"])[0], batch_context(batch), method="forward")}

    def log_prob(params: Params, batch: Batch, rng: Array | None = None) -> Array:
        """`[B]` exact log-likelihood in nats (of the discrete data when dequantized); a conditional
        flow's is log p(x | y), y from the batch."""
        y, preprocess_log_det = preprocess(batch["x"])
        z, log_det = flow.apply(params["model"], y, batch_context(batch), method="forward")
        log_density = losses.flow_log_prob(z, log_det + preprocess_log_det, base_log_prob=base_log_prob)
        if num_levels:
            return losses.dequantized_log_prob(log_density, num_dims=num_dims, num_levels=num_levels)
        return log_density

    def loss(params: Params, batch: Batch, rng: Array):
        nll = masked_mean(-log_prob(params, batch), batch)
        return nll, {"nll": nll, "bits_per_dim": metrics.bits_per_dim(nll, num_dims)}

    def sample(
        params: Params,
        rng: Array,
        num_samples: int,
        temperature: float | None = None,
        *,
        cond: Array | None = None,
    ) -> Array:
        """`[N, *element_shape]` samples; the base's scale is multiplied by ``temperature``.

        A conditional flow samples x ~ p(x | y) for ``cond`` (labels `[N]` or arrays
        `[N, *cond_shape]`; default ``arange(N) % num_classes``).
        """
        if conditioning is None:
            conditioning_lib.no_condition(cond, "flow")
            sample_context = None
        else:
            sample_context = context(conditioning_lib.sample_condition(conditioning, cond, num_samples))
        temperature = m.temperature if temperature is None else temperature
        shape = (num_samples, num_dims)
        if m.base == "logistic":
            z = jax.random.logistic(rng, shape)
        else:
            z = jax.random.normal(rng, shape)
        latent_shape = _latent_shape(flow, params, element_shape, num_samples, sample_context)
        z = (temperature * z).reshape(latent_shape)
        y, _ = flow.apply(params["model"], z, sample_context, method="inverse")
        return postprocess(y).reshape(num_samples, *element_shape)

    return GenerativeModel(
        init=init,
        losses={"model": loss},
        sample=sample,
        log_prob=log_prob,
        element_shape=element_shape,
        # Multi-scale RealNVP and Glow run convolutional conditioners on images.
        convolutional=m.architecture in MULTISCALE and len(element_shape) == 3,
        conditioning=conditioning,
    )


def _latent_shape(flow, params, element_shape, num_samples, context) -> tuple[int, ...]:
    """The shape ``forward`` gives a batch of ``num_samples`` (flat for multi-scale models)."""
    out = jax.eval_shape(
        lambda x: flow.apply(params["model"], x, context, method="forward")[0],
        jax.ShapeDtypeStruct((num_samples, *element_shape), jnp.float32),
    )
    return out.shape
