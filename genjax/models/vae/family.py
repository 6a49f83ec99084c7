"""Variational autoencoders (Kingma & Welling 2014) with β and IWAE variants.

An encoder gives the Gaussian posterior q(z | x); a decoder gives the parameters
of p(x | z) under one of three likelihoods:

* ``bernoulli``: logits per dimension, for binary data;
* ``gaussian``: a mean per dimension and a learned per-dimension log-variance;
* ``discretized_logistic``: a logistic per dimension discretized onto the data's
  ``num_levels`` values (a proper probability mass for e.g. 17-level digits).

Training maximises the ELBO (``model.objective="elbo"``, optionally β-weighted),
the IWAE bound (``"iwae"``) with ``model.num_train_samples`` samples, or the
InfoVAE objective (``"infovae"``, `genjax.losses.info_vae_objective` with
``model.info_alpha``, ``model.info_lambda`` and the MMD kernel
``model.info_kernel``; α = 0, λ = 1 is the ELBO). The
likelihood reported by ``log_prob`` is the IWAE estimate with
``eval.num_importance_samples`` samples (5000 for the published numbers).

Conditional VAE (Sohn, Lee & Yan 2015; ``model.conditional = True`` on labelled data): the
encoder q(z | x, y) and the decoder p(x | z, y) both see y as plain features (one-hot labels or
the flattened conditioning array, `condition_features`) concatenated to their inputs: to the
flattened x and to z for the MLP; to the conv stack's flattened output (before the posterior's
dense head) and to z (before the decoder's dense stem) for the conv networks. The prior stays
N(0, I), so every bound is on log p(x | y) and ``log_prob`` is its IWAE estimate.
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from genjax import distributions, fields, losses
from genjax.errors import ConfigError
from genjax.models import conditioning as conditioning_lib
from genjax.models import precision
from genjax.models.bundle import Batch, GenerativeModel, Params, masked_mean
from genjax.models.conditioning import Conditioning
from genjax.models.networks.conditioning import condition_features
from genjax.models.networks.layers import MLP, ConvDownsampler, ConvUpsampler
from genjax.spec import DataSpec

Array = jax.Array
LIKELIHOODS = ("bernoulli", "gaussian", "discretized_logistic")
NETWORKS = ("mlp", "conv")
OBJECTIVES = ("elbo", "iwae", "infovae")
MMD_KERNELS = ("gaussian", "imq")


class VAE(nn.Module):
    """Encoder, decoder and the likelihood's free per-dimension scale.

    Attributes:
      element_shape: shape of one example, e.g. (28, 28, 1).
      network: "mlp" or "conv" (conv needs H and W divisible by 2**len(conv_features)).
      conditioning: a conditional VAE's y (both networks then take it); None: p(x), and the
        networks and their parameters are exactly the unconditional ones.
    """

    element_shape: tuple[int, ...]
    latent_dim: int
    network: str = "mlp"
    hidden_sizes: tuple[int, ...] = (500, 500)
    conv_features: tuple[int, ...] = (32, 64)
    activation: str = "relu"
    conditioning: Conditioning | None = None

    def setup(self):
        num_dims = math.prod(self.element_shape)
        if self.network == "mlp":
            self.encoder = MLP(self.hidden_sizes, 2 * self.latent_dim, self.activation)
            self.decoder = MLP(tuple(reversed(self.hidden_sizes)), num_dims, self.activation)
        else:
            height, width, channels = self.element_shape
            factor = 2 ** len(self.conv_features)
            self._bottom = (height // factor, width // factor, self.conv_features[-1])
            self.encoder_convs = ConvDownsampler(self.conv_features, self.activation)
            self.encoder_head = nn.Dense(2 * self.latent_dim)
            self.decoder_stem = nn.Dense(math.prod(self._bottom))
            self.decoder_convs = ConvUpsampler(tuple(reversed(self.conv_features)), channels, self.activation)
        # Per-dimension log-scale of the Gaussian / logistic likelihoods.
        self.log_scale = self.param("log_scale", nn.initializers.zeros, self.element_shape)

    def _with_condition(self, h: Array, y: Array | None) -> Array:
        """`[B, F]` -> `[B, F + C]`: y's features appended (conditional), else ``h`` itself."""
        if self.conditioning is None:
            return h
        return jnp.concatenate([h, condition_features(self.conditioning, y, h.dtype)], axis=-1)

    def encode(self, x: Array, y: Array | None = None) -> tuple[Array, Array]:
        """x `[B, *element_shape]` (and y `[B]` or `[B, *cond_shape]`) -> (mean, log_var), each `[B, L]`."""
        if self.network == "mlp":
            stats = self.encoder(self._with_condition(x.reshape(x.shape[0], -1), y))
        else:
            h = self.encoder_convs(x)
            stats = self.encoder_head(self._with_condition(h.reshape(h.shape[0], -1), y))
        mean, log_var = jnp.split(stats, 2, axis=-1)
        return mean, log_var

    def decode(self, z: Array, y: Array | None = None) -> Array:
        """z `[B, L]` (and y) -> location parameters `[B, *element_shape]` (logits or means)."""
        z = self._with_condition(z, y)
        if self.network == "mlp":
            return self.decoder(z).reshape(z.shape[0], *self.element_shape)
        h = nn.relu(self.decoder_stem(z)).reshape(z.shape[0], *self._bottom)
        return self.decoder_convs(h)

    def __call__(self, x: Array, y: Array | None = None) -> Array:
        mean, _ = self.encode(x, y)
        return self.decode(mean, y)


def likelihood_log_prob_fn(likelihood: str, num_levels: int | None):
    """Returns ``log p(x | location, log_scale) -> [B]`` for the chosen likelihood."""
    if likelihood == "bernoulli":
        return lambda x, location, log_scale: distributions.bernoulli_log_prob(x, location)
    if likelihood == "gaussian":
        return lambda x, location, log_scale: distributions.normal_log_prob(x, location, 2.0 * log_scale)
    return lambda x, location, log_scale: distributions.discretized_logistic_log_prob(
        x, location, log_scale, num_levels=num_levels
    )


def decoder_mean(likelihood: str, location: Array, *, num_levels: int | None) -> Array:
    """The decoder's mean image from its location `[B, ...]`: sigmoid of Bernoulli logits, else
    the location, clipped to [0, 1] on discrete data."""
    if likelihood == "bernoulli":
        return jax.nn.sigmoid(location)
    return jnp.clip(location, 0.0, 1.0) if num_levels else location


def largest_divisor_at_most(n: int, limit: int) -> int:
    return max(d for d in range(1, min(n, limit) + 1) if n % d == 0)


def validate(config: ml_collections.ConfigDict, element_shape: tuple[int, ...], num_levels) -> None:
    m = config.model
    checks = [
        ("model.likelihood", m.likelihood, LIKELIHOODS),
        ("model.network", m.network, NETWORKS),
        ("model.objective", m.objective, OBJECTIVES),
    ]
    for field, value, allowed in checks:
        if value not in allowed:
            raise ConfigError(f"{field}: got {value!r}; allowed: {', '.join(allowed)}")
    for field, value in (
        ("model.latent_dim", m.latent_dim),
        ("model.num_train_samples", m.num_train_samples),
        ("eval.num_importance_samples", config.eval.num_importance_samples),
    ):
        if not isinstance(value, int) or value <= 0:
            raise ConfigError(f"{field}: got {value!r}; must be a positive integer")
    if m.objective == "infovae":
        fields.fraction(m, "info_alpha")
        fields.number(m, "info_lambda", positive=True)
        fields.choice(m, "info_kernel", MMD_KERNELS)
    if m.likelihood == "discretized_logistic" and not num_levels:
        raise ConfigError(
            "model.likelihood: discretized_logistic needs discrete data (a dataset with "
            "num_levels), e.g. digits; use gaussian for continuous data"
        )
    if m.network == "conv":
        factor = 2 ** len(m.conv_features)
        if len(element_shape) != 3 or element_shape[0] % factor or element_shape[1] % factor:
            raise ConfigError(
                f"model.network: conv needs images [H, W, C] with H and W divisible by "
                f"{factor} (2**len(model.conv_features)); data has shape {element_shape}"
            )


def build(config: ml_collections.ConfigDict, spec: DataSpec) -> GenerativeModel:
    """Builds the VAE bundle from ``config.model`` and the dataset's shape."""
    element_shape = spec.element_shape
    validate(config, element_shape, spec.num_levels)
    conditioning = conditioning_lib.from_config(config, spec)
    m = config.model
    # Both networks run bfloat16; the bounds, the KL and the likelihood stay float32.
    train_precision = precision.policy(config, family="vae", architecture=m.network, supported=NETWORKS)
    module = VAE(
        element_shape=element_shape,
        latent_dim=m.latent_dim,
        network=m.network,
        hidden_sizes=tuple(m.hidden_sizes),
        conv_features=tuple(m.conv_features),
        activation=m.activation,
        conditioning=conditioning,
    )
    likelihood_log_prob = likelihood_log_prob_fn(m.likelihood, spec.num_levels)
    num_eval_samples = config.eval.num_importance_samples
    eval_chunk = largest_divisor_at_most(num_eval_samples, config.eval.get("importance_chunk_size", 100))

    def condition(batch: Batch) -> tuple[Array, ...]:
        """The networks' extra inputs: (y,) for a conditional VAE, () for p(x)."""
        return () if conditioning is None else (conditioning_lib.batch_condition(conditioning, batch),)

    def networks(vae_params, y: tuple[Array, ...] = (), policy: precision.Precision = precision.FLOAT32):
        """(encode, decode_log_prob) given y (``condition(batch)``), run under ``policy`` (float32
        outside training)."""

        def encode(x: Array) -> tuple[Array, Array]:
            return policy.apply(module.apply, vae_params, x, *y, method=VAE.encode)

        def decode_log_prob(z: Array, x: Array) -> Array:
            location = policy.apply(module.apply, vae_params, z, *y, method=VAE.decode)
            return likelihood_log_prob(x, location, vae_params["params"]["log_scale"])

        return encode, decode_log_prob

    def init(rng: Array, batch: Batch) -> Params:
        # Only shapes matter here, so a batch without y initialises a conditional VAE with label 0.
        if conditioning is not None and conditioning.labels and "label" not in batch:
            batch = {**batch, "label": jnp.zeros(batch["x"].shape[:1], jnp.int32)}
        return {"model": module.init(rng, batch["x"], *condition(batch))}

    def encoded_once(params: Params, batch: Batch, policy: precision.Precision = precision.FLOAT32):
        """The networks, with the encoder's output for ``batch["x"]`` computed once and reused.

        The bounds call ``encode(x)`` themselves and the KL metric needs the same
        posterior, so both read this one result.
        """
        encode, decode_log_prob = networks(params["model"], condition(batch), policy)
        posterior = encode(batch["x"])
        return (lambda _: posterior), decode_log_prob, posterior

    def loss(params: Params, batch: Batch, rng: Array):
        x = batch["x"]
        encode, decode_log_prob, posterior = encoded_once(params, batch, train_precision)
        if m.objective == "iwae":
            bound = losses.iwae_bound(rng, encode, decode_log_prob, x, num_samples=m.num_train_samples)
        elif m.objective == "infovae":
            bound = losses.info_vae_objective(
                rng,
                encode,
                decode_log_prob,
                x,
                alpha=m.info_alpha,
                lambda_=m.info_lambda,
                num_samples=m.num_train_samples,
                kernel=m.info_kernel,
            )
        else:
            bound = losses.elbo(rng, encode, decode_log_prob, x, num_samples=m.num_train_samples, beta=m.beta)
        kl = losses.gaussian_kl(*posterior)
        objective = masked_mean(bound, batch)
        return -objective, {"bound": objective, "kl": masked_mean(kl, batch)}

    def log_prob(params: Params, batch: Batch, rng: Array) -> Array:
        """IWAE estimate of log p(x) `[B]`, or of log p(x | y) for a conditional VAE."""
        encode, decode_log_prob = networks(params["model"], condition(batch))
        return losses.iwae_bound(
            rng,
            encode,
            decode_log_prob,
            batch["x"],
            num_samples=num_eval_samples,
            chunk_size=eval_chunk,
        )

    def eval_metrics(params: Params, batch: Batch, rng: Array) -> dict[str, Array]:
        x = batch["x"]
        encode, decode_log_prob, posterior = encoded_once(params, batch)
        return {
            "elbo": losses.elbo(rng, encode, decode_log_prob, x),
            "kl": losses.gaussian_kl(*posterior),
        }

    def sample(params: Params, rng: Array, num_samples: int, *, cond: Array | None = None) -> Array:
        """Decoder means (sigmoid of logits for Bernoulli) at z ~ N(0, I), `[n, *element_shape]`.

        A conditional VAE decodes each z with its y: ``cond`` labels `[n]` or arrays `[n, ...]`
        (default: labels ``arange(n) % num_classes``); an unconditional one takes no ``cond``.
        """
        if conditioning is None:
            conditioning_lib.no_condition(cond, "vae")
            y = ()
        else:
            y = (conditioning_lib.sample_condition(conditioning, cond, num_samples),)
        z = jax.random.normal(rng, (num_samples, m.latent_dim))
        location = module.apply(params["model"], z, *y, method=VAE.decode)
        return decoder_mean(m.likelihood, location, num_levels=spec.num_levels)

    return GenerativeModel(
        init=init,
        losses={"model": loss},
        sample=sample,
        log_prob=log_prob,
        eval_metrics=eval_metrics,
        element_shape=element_shape,
        convolutional=m.network == "conv",
        conditioning=conditioning,
    )
