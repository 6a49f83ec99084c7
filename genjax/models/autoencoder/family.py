"""The ``autoencoder`` family: undercomplete, sparse, denoising and contractive autoencoders.

An MLP encoder maps x to a code ``h`` `[K]`, an MLP decoder maps ``h`` back; training
minimises the reconstruction error of x plus the kind's regulariser
(`genjax.losses.autoencoder`):

* ``undercomplete``: none; the code is narrower than the data (``code_dim < D``);
* ``sparse``: ``sparsity_weight`` times an L1 penalty on the code (``sparsity="l1"``),
  or the KL divergence from ``target_rate`` to each unit's mean activation
  (``sparsity="kl"``, sigmoid codes);
* ``denoising``: the encoder sees a corrupted x (``corruption`` gaussian | masking |
  salt_and_pepper at ``corruption_level``) and the decoder must give back the clean x;
* ``contractive``: ``contractive_weight`` times the squared Frobenius norm of the
  encoder's Jacobian, ``exact`` or estimated from ``num_projections`` random
  projections (``contractive_estimator="projections"``).

**No likelihood**: ``log_prob`` is None, so the loop reports no NLL; select on
``validation/reconstruction_error``. ``sample`` exists but is a sampler, not a
density: it decodes codes drawn from a Gaussian fitted to the training codes (the
ex-post density estimation of Ghosh et al. 2020), whose mean and second moment are
buffers (``params["code_stats"]``) that ``update_buffers`` keeps as bias-corrected
exponential moving averages over training steps (decay ``code_stats_decay``).

``eval_metrics`` (per example, averaged by the loop): ``reconstruction_error`` (squared
error of the clean reconstruction summed over dimensions, every kind alike),
``code_mean_abs`` (mean of ``|h_j|`` over units), ``code_active_fraction`` (fraction of
units with ``|h_j| > 0.1``), ``code_mean_activation`` (mean of ``h_j``) and
``code_variance`` (mean over units of ``(h_j - m_j)^2``, m the running training mean:
averaged over a split, the mean per-unit variance); contractive models add
``contractive_penalty`` (exact).

Data in [0, 1] (images scaled, binarized or dequantized) get a sigmoid decoder output;
continuous data (toy2d) a linear one.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from genjax import fields, losses
from genjax.errors import ConfigError
from genjax.losses.autoencoder import CORRUPTIONS, SPARSITY_KINDS
from genjax.models import precision
from genjax.models.bundle import Batch, GenerativeModel, Params, masked_mean
from genjax.models.networks.layers import MLP
from genjax.spec import DataSpec

Array = jax.Array
KINDS = ("undercomplete", "sparse", "denoising", "contractive")
CODE_ACTIVATIONS = ("linear", "sigmoid", "tanh", "relu")
RECONSTRUCTIONS = ("squared_error", "cross_entropy")
CONTRACTIVE_ESTIMATORS = ("exact", "projections")
ACTIVE_THRESHOLD = 0.1  # |h_j| above this counts as an active unit in code_active_fraction
BUFFERS = "code_stats"


class Autoencoder(nn.Module):
    """MLP encoder to a ``code_dim`` code and MLP decoder back to ``element_shape``."""

    element_shape: tuple[int, ...]
    code_dim: int
    hidden_sizes: tuple[int, ...] = (256,)
    activation: str = "relu"
    code_activation: str = "linear"

    def setup(self):
        self.encoder = MLP(self.hidden_sizes, self.code_dim, self.activation)
        self.decoder = MLP(tuple(reversed(self.hidden_sizes)), math.prod(self.element_shape), self.activation)

    def encode(self, x: Array) -> Array:
        """x `[B, *element_shape]` -> codes `[B, K]`."""
        h = self.encoder(x)
        if self.code_activation == "sigmoid":
            return jax.nn.sigmoid(h)
        if self.code_activation == "tanh":
            return jnp.tanh(h)
        if self.code_activation == "relu":
            return jax.nn.relu(h)
        return h

    def decode(self, h: Array) -> Array:
        """codes `[B, K]` -> decoder outputs `[B, *element_shape]` (logits for data in [0, 1])."""
        return self.decoder(h).reshape(h.shape[0], *self.element_shape)

    def __call__(self, x: Array) -> Array:
        return self.decode(self.encode(x))


def validate(config: ml_collections.ConfigDict, spec: DataSpec) -> None:
    m = config.model
    num_dims = math.prod(spec.element_shape)
    kind = fields.choice(m, "kind", KINDS)
    fields.choice(m, "code_activation", CODE_ACTIVATIONS)
    fields.choice(m, "reconstruction", RECONSTRUCTIONS)
    fields.widths(m, "hidden_sizes")
    code_dim = fields.number(m, "code_dim", integer=True, positive=True)
    decay = m.get("code_stats_decay")
    if not isinstance(decay, float) or not 0.0 <= decay < 1.0:
        raise ConfigError(f"model.code_stats_decay: got {decay!r}; must be a number in [0, 1).")
    if spec.tokens:
        raise ConfigError(f"data.name: {spec.name} holds tokens; the autoencoder needs vectors or images.")
    if kind == "undercomplete" and code_dim >= num_dims:
        raise ConfigError(f"model.code_dim: got {code_dim}; undercomplete needs fewer than D={num_dims}.")
    if m.reconstruction == "cross_entropy" and not spec.num_levels:
        raise ConfigError("model.reconstruction: cross_entropy needs data in [0, 1]; use squared_error")
    if kind == "sparse":
        sparsity = fields.choice(m, "sparsity", SPARSITY_KINDS)
        fields.number(m, "sparsity_weight", positive=True)
        if sparsity == "kl":
            if m.code_activation != "sigmoid":
                raise ConfigError(
                    f"model.code_activation: got {m.code_activation!r}; sparsity='kl' needs sigmoid codes."
                )
            rate = m.get("target_rate")
            if not isinstance(rate, float) or not 0.0 < rate < 1.0:
                raise ConfigError(f"model.target_rate: got {rate!r}; must be a number in (0, 1).")
    if kind == "denoising":
        corruption = fields.choice(m, "corruption", CORRUPTIONS)
        level = fields.number(m, "corruption_level", positive=True)
        if corruption != "gaussian" and level > 1:
            raise ConfigError(f"model.corruption_level: got {level!r}; {corruption} needs (0, 1].")
        if corruption == "salt_and_pepper" and not spec.num_levels:
            raise ConfigError("model.corruption: salt_and_pepper needs data in [0, 1]; use gaussian")
    if kind == "contractive":
        fields.number(m, "contractive_weight", positive=True)
        estimator = fields.choice(m, "contractive_estimator", CONTRACTIVE_ESTIMATORS)
        if estimator == "projections":
            fields.number(m, "num_projections", integer=True, positive=True)


def build(config: ml_collections.ConfigDict, spec: DataSpec) -> GenerativeModel:
    """The autoencoder bundle: one player ("model"), no likelihood, code-statistics buffers."""
    validate(config, spec)
    m = config.model
    element_shape = spec.element_shape
    unit_range = bool(spec.num_levels)  # data in [0, 1]: sigmoid outputs
    # The contractive penalty differentiates the encoder; everything runs float32.
    precision.policy(config, family="autoencoder", architecture="mlp", supported=())
    module = Autoencoder(
        element_shape=element_shape,
        code_dim=m.code_dim,
        hidden_sizes=tuple(m.hidden_sizes),
        activation=m.activation,
        code_activation=m.code_activation,
    )
    decay = m.code_stats_decay
    num_projections = m.num_projections if m.get("contractive_estimator") == "projections" else None

    def encoder(model_params) -> Callable[[Array], Array]:
        return lambda x: module.apply(model_params, x, method=Autoencoder.encode)

    def reconstruction(model_params, codes: Array) -> Array:
        """Decoded codes on the data's scale `[B, *element_shape]`, and the raw outputs."""
        outputs = module.apply(model_params, codes, method=Autoencoder.decode)
        return (jax.nn.sigmoid(outputs) if unit_range else outputs), outputs

    def squared_error(x: Array, x_hat: Array) -> Array:
        return jnp.sum((x_hat - x).reshape(x.shape[0], -1) ** 2, axis=1)

    def reconstruction_loss(x: Array, x_hat: Array, outputs: Array) -> Array:
        if m.reconstruction == "cross_entropy":
            per_dim = -(x * jax.nn.log_sigmoid(outputs) + (1.0 - x) * jax.nn.log_sigmoid(-outputs))
            return jnp.sum(per_dim.reshape(x.shape[0], -1), axis=1)
        return squared_error(x, x_hat)

    def init(rng: Array, batch: Batch) -> Params:
        return {
            "model": module.init(rng, batch["x"]),
            BUFFERS: {
                "updates": jnp.zeros((), jnp.float32),
                "mean": jnp.zeros((m.code_dim,), jnp.float32),
                "second_moment": jnp.zeros((m.code_dim, m.code_dim), jnp.float32),
            },
        }

    def loss(params: Params, batch: Batch, rng: Array):
        x = batch["x"]
        corrupt_key, penalty_key = jax.random.split(rng)
        encode = encoder(params["model"])
        inputs = x
        if m.kind == "denoising":
            inputs = losses.corrupt(corrupt_key, x, kind=m.corruption, level=m.corruption_level)
        codes = encode(inputs)
        x_hat, outputs = reconstruction(params["model"], codes)
        error = masked_mean(reconstruction_loss(x, x_hat, outputs), batch)
        penalty = jnp.zeros((), jnp.float32)
        if m.kind == "sparse":
            mask = batch.get("mask")
            penalty = m.sparsity_weight * losses.sparsity_penalty(
                codes, kind=m.sparsity, target_rate=m.get("target_rate", 0.05), mask=mask
            )
        elif m.kind == "contractive":
            per_example = losses.contractive_penalty(penalty_key, encode, x, num_projections=num_projections)
            penalty = m.contractive_weight * masked_mean(per_example, batch)
        return error + penalty, {"reconstruction": error, "penalty": penalty}

    def eval_metrics(params: Params, batch: Batch, rng: Array) -> dict[str, Array]:
        x = batch["x"]
        encode = encoder(params["model"])
        codes = encode(x)
        x_hat, _ = reconstruction(params["model"], codes)
        running_mean = _code_moments(params[BUFFERS], decay)[0]
        results = {
            "reconstruction_error": squared_error(x, x_hat),
            "code_mean_abs": jnp.mean(jnp.abs(codes), axis=1),
            "code_active_fraction": jnp.mean((jnp.abs(codes) > ACTIVE_THRESHOLD).astype(jnp.float32), axis=1),
            "code_mean_activation": jnp.mean(codes, axis=1),
            "code_variance": jnp.mean((codes - running_mean) ** 2, axis=1),
        }
        if m.kind == "contractive":
            results["contractive_penalty"] = losses.contractive_penalty(None, encode, x)
        return results

    def update_buffers(params: Params, batch: Batch, rng: Array):
        """EMA of the clean training codes' mean and second moment, with the step's new weights."""
        codes = jax.lax.stop_gradient(encoder(params["model"])(batch["x"]))
        stats = params[BUFFERS]
        new_stats = {
            "updates": stats["updates"] + 1.0,
            "mean": decay * stats["mean"] + (1.0 - decay) * codes.mean(axis=0),
            "second_moment": decay * stats["second_moment"]
            + (1.0 - decay) * (codes.T @ codes) / codes.shape[0],
        }
        return {**params, BUFFERS: new_stats}, {}

    def sample(params: Params, rng: Array, num_samples: int) -> Array:
        """`[N, *element_shape]` decoded draws from the Gaussian fit of the training codes (no density)."""
        mean, covariance = _code_moments(params[BUFFERS], decay)
        chol = jnp.linalg.cholesky(covariance)
        z = mean + jax.random.normal(rng, (num_samples, m.code_dim)) @ chol.T
        return reconstruction(params["model"], z)[0]

    return GenerativeModel(
        init=init,
        losses={"model": loss},
        sample=sample,
        log_prob=None,
        eval_metrics=eval_metrics,
        element_shape=element_shape,
        update_buffers=update_buffers,
        convolutional=False,
    )


def _code_moments(stats: dict, decay: float) -> tuple[Array, Array]:
    """Bias-corrected running mean `[K]` and covariance `[K, K]`; N(0, I) before any update."""
    correction = 1.0 - decay ** stats["updates"]
    seen = stats["updates"] > 0
    safe = jnp.where(seen, correction, 1.0)
    mean = stats["mean"] / safe
    covariance = stats["second_moment"] / safe - jnp.outer(mean, mean)
    covariance = 0.5 * (covariance + covariance.T)
    size = mean.shape[0]
    # A small ridge keeps the Cholesky defined when units are dead (zero variance).
    jitter = 1e-5 * (1.0 + jnp.trace(covariance) / size) * jnp.eye(size)
    covariance = jnp.where(seen, covariance + jitter, jnp.eye(size))
    return jnp.where(seen, mean, 0.0), covariance
