"""The ``autoregressive`` family for binary data: FVSBN, NADE and MADE (one mask).

``log_prob`` is the exact log-likelihood ``sum_d log p(x_d | x_<d)`` of the
flattened binary image; ``sample`` draws the whole vector inside one jitted
loop (NADE's incremental O(D H) scan; D network passes for the others).

``model.*`` fields: ``architecture`` (fvsbn | nade | made), ``hidden_size``
(NADE), ``hidden_sizes`` and ``activation`` (MADE).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import ml_collections

from genjax import samplers
from genjax.errors import ConfigError
from genjax.models.autoregressive import FVSBN, NADE, log_prob
from genjax.models.bundle import Batch, GenerativeModel, Params, masked_mean
from genjax.models.flows.made import MADE

Array = jax.Array
ARCHITECTURES = ("fvsbn", "nade", "made")


def _logits_module(m: ml_collections.ConfigDict, num_dims: int):
    if m.architecture == "fvsbn":
        return FVSBN()
    if m.architecture == "nade":
        return NADE(num_dims=num_dims, hidden_size=m.hidden_size)
    return MADE(tuple(m.hidden_sizes), num_params=1, activation=m.activation)


def validate(config: ml_collections.ConfigDict, dataset) -> None:
    m = config.model
    if m.architecture not in ARCHITECTURES:
        raise ConfigError(f"model.architecture: got {m.architecture!r}; allowed: {', '.join(ARCHITECTURES)}")
    binary = dataset.num_levels == 2 or config.data.get("binarize", "none") != "none"
    if not binary or config.data.get("dequantize", False):
        raise ConfigError(
            f"data.binarize: these models are for binary data and {dataset.name} has "
            f"{dataset.num_levels} levels; binarize it (static, dynamic or threshold) or use binary data"
        )
    if m.architecture == "nade" and not (isinstance(m.hidden_size, int) and m.hidden_size > 0):
        raise ConfigError(f"model.hidden_size: got {m.hidden_size!r}; must be a positive integer")


def build(config: ml_collections.ConfigDict, dataset) -> GenerativeModel:
    validate(config, dataset)
    m = config.model
    element_shape = tuple(dataset.element_shape)
    num_dims = math.prod(element_shape)
    module = _logits_module(m, num_dims)

    def logits(variables, x: Array) -> Array:
        out = module.apply(variables, x.reshape(x.shape[0], num_dims))
        return out[..., 0] if m.architecture == "made" else out

    def init(rng: Array, batch: Batch) -> Params:
        return {"model": module.init(rng, batch["x"].reshape(batch["x"].shape[0], num_dims))}

    def model_log_prob(params: Params, batch: Batch, rng: Array | None = None) -> Array:
        x = batch["x"].reshape(batch["x"].shape[0], num_dims)
        return log_prob(logits(params["model"], x), x)

    def loss(params: Params, batch: Batch, rng: Array):
        nll = masked_mean(-model_log_prob(params, batch), batch)
        return nll, {"nll": nll}

    def sample(params: Params, rng: Array, num_samples: int) -> Array:
        if m.architecture == "nade":
            bits = module.apply(params["model"], rng, num_samples, method=NADE.sample)
        else:
            bits = samplers.sample_binary_autoregressive(
                rng, lambda x: logits(params["model"], x), num_samples, num_dims
            )
        return bits.reshape(num_samples, *element_shape)

    return GenerativeModel(
        init=init, losses={"model": loss}, sample=sample, log_prob=model_log_prob, element_shape=element_shape
    )


def exact_kl(model: GenerativeModel, params: Params, dataset) -> float:
    """KL(p_data || model) in nats by enumeration, for toy_binary datasets (at most 2^20 outcomes)."""
    from genjax.data import toy_binary

    outcomes = toy_binary.get(dataset.name.partition(":")[2]).all_outcomes()
    log_q = jax.jit(lambda x: model.log_prob(params, {"x": x}))(jnp.asarray(outcomes))
    log_p = jnp.asarray(dataset.log_density(outcomes), jnp.float32)
    return float(jnp.sum(jnp.exp(log_p) * (log_p - log_q)))
