"""The ``pca`` family: probabilistic PCA trained by SGD on its exact likelihood.

The same model as `genjax.models.pca.fit_ppca` (Tipping & Bishop 1999), with the
parameters ``mean`` `[D]`, ``weights`` `[D, q]` and ``log_noise_variance`` `[]`
learned by gradient descent on the exact negative log-likelihood, so it scales to
data too large for one eigendecomposition. Its optimum is the closed-form fit (any
rotation of ``weights``); ``init`` starts from the first batch's mean and variance.

PPCA is a continuous density. On discrete data (digits, binarized MNIST) it is fitted
to uniformly dequantized values (``data.dequantize=True``) and ``log_prob`` subtracts
``D log L`` (`genjax.losses.dequantized_log_prob`), exactly as the flows do, so its
NLL and bits/dim are figures for the discrete data, comparable with every other
family: the linear-Gaussian baseline a likelihood model must beat.

``model.*`` fields:

========================  ====================================================
``num_components``        q, the latent dimension, ``0 < q < D``
``init_scale``            standard deviation of the initial weights, relative to
                          the first batch's standard deviation
========================  ====================================================

``eval_metrics``: ``reconstruction_error`` (squared error of the posterior-mean
reconstruction ``W E[z|x] + mu``, summed over dimensions), ``explained_variance_ratio``
(of the q components, the same for every example) and ``noise_variance``.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import ml_collections

from genjax import fields, losses, metrics
from genjax.errors import ConfigError
from genjax.models import precision
from genjax.models.bundle import Batch, GenerativeModel, Params, masked_mean
from genjax.models.pca.ppca import (
    PPCAParams,
    explained_variance_ratio,
    ppca_log_prob,
    ppca_sample,
    reconstruct,
)
from genjax.spec import DataSpec

Array = jax.Array


def validate(config: ml_collections.ConfigDict, spec: DataSpec) -> None:
    m = config.model
    num_dims = math.prod(spec.element_shape)
    q = fields.number(m, "num_components", integer=True, positive=True)
    if q >= num_dims:
        raise ConfigError(f"model.num_components: got {q}; must be below the data's dimension {num_dims}.")
    fields.number(m, "init_scale", positive=True, default=0.1)
    if spec.tokens:
        raise ConfigError(f"data.name: {spec.name} holds tokens; PCA needs vectors or images.")
    fields.continuous_density_data(config.data, num_levels=spec.num_levels, dataset=spec.name, model="PPCA")


def to_ppca_params(model_params: dict) -> PPCAParams:
    """The ``model`` player's parameters as `PPCAParams` (for the pure functions)."""
    return PPCAParams(
        mean=model_params["mean"],
        weights=model_params["weights"],
        noise_variance=jnp.exp(model_params["log_noise_variance"]),
    )


def build(config: ml_collections.ConfigDict, spec: DataSpec) -> GenerativeModel:
    """The PPCA bundle: one player ("model") minimising the exact NLL."""
    validate(config, spec)
    m = config.model
    element_shape = spec.element_shape
    num_dims = math.prod(element_shape)
    num_levels = spec.num_levels
    # An exact Gaussian likelihood: no networks, nothing to run in bfloat16.
    precision.policy(config, family="pca", architecture="linear", supported=())

    def init(rng: Array, batch: Batch) -> Params:
        flat = batch["x"].reshape(batch["x"].shape[0], -1).astype(jnp.float32)
        variance = jnp.maximum(flat.var(axis=0).mean(), 1e-6)
        weights = (
            m.get("init_scale", 0.1)
            * jnp.sqrt(variance)
            * jax.random.normal(rng, (num_dims, m.num_components))
        )
        return {
            "model": {
                "mean": flat.mean(axis=0),
                "weights": weights,
                "log_noise_variance": jnp.log(variance),
            }
        }

    def log_prob(params: Params, batch: Batch, rng: Array | None = None) -> Array:
        """`[B]` exact log-likelihood in nats (of the discrete data when dequantized)."""
        log_density = ppca_log_prob(to_ppca_params(params["model"]), batch["x"])
        if num_levels:
            return losses.dequantized_log_prob(log_density, num_dims=num_dims, num_levels=num_levels)
        return log_density

    def loss(params: Params, batch: Batch, rng: Array):
        nll = masked_mean(-log_prob(params, batch), batch)
        return nll, {
            "nll": nll,
            "bits_per_dim": metrics.bits_per_dim(nll, num_dims),
            "noise_variance": jnp.exp(params["model"]["log_noise_variance"]),
        }

    def eval_metrics(params: Params, batch: Batch, rng: Array) -> dict[str, Array]:
        ppca = to_ppca_params(params["model"])
        x = batch["x"]
        error = jnp.sum((reconstruct(ppca, x) - x).reshape(x.shape[0], -1) ** 2, axis=1)
        ones = jnp.ones(x.shape[0], jnp.float32)
        return {
            "reconstruction_error": error,
            "explained_variance_ratio": ones * jnp.sum(explained_variance_ratio(ppca)),
            "noise_variance": ones * ppca.noise_variance,
        }

    def sample(params: Params, rng: Array, num_samples: int) -> Array:
        """`[N, *element_shape]` draws from the model (clipped to [0, 1] on dequantized data)."""
        x = ppca_sample(rng, to_ppca_params(params["model"]), num_samples)
        x = jnp.clip(x, 0.0, 1.0) if num_levels else x
        return x.reshape(num_samples, *element_shape)

    return GenerativeModel(
        init=init,
        losses={"model": loss},
        sample=sample,
        log_prob=log_prob,
        eval_metrics=eval_metrics,
        element_shape=element_shape,
        convolutional=False,
    )
