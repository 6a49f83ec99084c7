"""Kernel density estimation: the non-parametric baseline, a Gaussian KDE with an exact likelihood.

    p(x) = (1 / N) sum_i N(x; c_i, h^2 I)

over N kernel centres c_i (training examples) with one bandwidth h. ``log_prob``
is the exact log-density of that mixture (normalised, nats), computed by
`genjax.metrics.parzen.gaussian_kde_log_prob`, the same kernel code as the
evaluation suite's Parzen log-likelihood.

What "training" means here, so that one loop serves this family too:

* the centres are a buffer (``params["centres"]``, no optimizer sees it), filled by
  ``update_buffers`` from the training stream: the first ``ceil(num_centres / B)``
  steps' batches, rows in order, then frozen;
* the bandwidth is the one player's parameter, ``params["model"]["log_bandwidth"]``,
  fitted by gradient descent on the leave-one-out NLL of the training batches
  under the current centres (each batch row excludes its own centre: on
  dequantized data the centres within one grey level in every dimension, i.e. the
  same discrete example; on continuous data an exact repeat);
* the loop's model selection on the validation NLL then picks the checkpoint.

The figures in BENCHMARKS.md use `fit_kde` instead: every training example is a
centre and the bandwidth is the grid point with the best validation NLL
(`genjax.metrics.select_parzen_bandwidth`): chosen on validation data, literally.
`kde_params` turns that fit into this family's params, so both go through the
same ``log_prob``.

On discrete data (digits) the KDE is a continuous density, so the data must be
dequantized, and ``log_prob`` subtracts ``D log L``
(`genjax.losses.dequantized_log_prob`) exactly as the flow family does; its
bits/dim then compare with every other family's. Samples: a uniformly chosen
centre plus kernel noise (Box–Muller normals), clipped to [0, 1] on images.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from genjax import distributions, fields, losses, metrics
from genjax.errors import ConfigError
from genjax.metrics.parzen import gaussian_kde_log_prob
from genjax.models.bundle import Batch, GenerativeModel, Params
from genjax.spec import DataSpec

Array = jax.Array


class KDEFit(NamedTuple):
    """What `fit_kde` returns: ``centres`` `[N, D]`, the chosen ``bandwidth`` and every candidate's
    mean validation log-likelihood ``{bandwidth: nats}``."""

    centres: Array
    bandwidth: float
    validation_scores: dict[float, float]


def fit_kde(x_train, x_valid, *, bandwidths: Sequence[float] | None = None) -> KDEFit:
    """A Gaussian KDE on every row of ``x_train`` `[N, ...]`, bandwidth chosen on ``x_valid`` `[M, ...]`.

    The bandwidth is the candidate with the highest mean validation log-likelihood
    (`genjax.metrics.select_parzen_bandwidth`; default grid: 20 values log-spaced
    over [0.01, 10] times the mean per-feature standard deviation). Never pass test data.
    """
    centres = jnp.asarray(np.asarray(x_train, np.float32).reshape(len(x_train), -1))
    bandwidth, scores = metrics.select_parzen_bandwidth(centres, x_valid, bandwidths=bandwidths)
    return KDEFit(centres=centres, bandwidth=bandwidth, validation_scores=scores)


def kde_params(centres: Array, bandwidth: float) -> Params:
    """The family's params for fixed ``centres`` `[N, D]` (all filled) and ``bandwidth``."""
    centres = jnp.asarray(centres, jnp.float32)
    return {
        "model": {"log_bandwidth": jnp.log(jnp.float32(bandwidth))},
        "centres": {"values": centres, "num_filled": jnp.array(centres.shape[0], jnp.int32)},
    }


def validate(config: ml_collections.ConfigDict, spec: DataSpec) -> None:
    m = config.model
    fields.number(m, "num_centres", integer=True, positive=True)
    fields.number(m, "init_bandwidth", positive=True)
    if spec.tokens:
        raise ConfigError(f"data.name: {spec.name} holds token ids; a KDE needs real-valued data")
    fields.continuous_density_data(config.data, num_levels=spec.num_levels, dataset=spec.name, model="a KDE")


def build(config: ml_collections.ConfigDict, spec: DataSpec) -> GenerativeModel:
    """The KDE bundle: one player ("model", the log-bandwidth) and one buffer ("centres")."""
    validate(config, spec)
    m = config.model
    element_shape = spec.element_shape
    num_dims = math.prod(element_shape)
    num_centres = m.num_centres
    num_levels = spec.num_levels if config.data.get("dequantize", False) else None
    # Two rows are the same example when every coordinate is within one dequantization bin.
    same_example_radius = 1.0 / num_levels if num_levels else 1e-6

    def flat(x: Array) -> Array:
        return x.reshape(x.shape[0], num_dims).astype(jnp.float32)

    def init(rng: Array, batch: Batch) -> Params:
        return {
            "model": {"log_bandwidth": jnp.log(jnp.float32(m.init_bandwidth))},
            "centres": {
                "values": jnp.zeros((num_centres, num_dims), jnp.float32),
                "num_filled": jnp.zeros((), jnp.int32),
            },
        }

    def density(params: Params, x: Array, mask: Array | None = None) -> Array:
        """`[B]` log-density of the (dequantized) points, over the filled centres only."""
        centres = params["centres"]
        filled = jnp.arange(num_centres) < centres["num_filled"]
        mask = filled if mask is None else mask & filled
        bandwidth = jnp.exp(params["model"]["log_bandwidth"])
        return gaussian_kde_log_prob(centres["values"], x, bandwidth=bandwidth, mask=mask)

    def log_prob(params: Params, batch: Batch, rng: Array | None = None) -> Array:
        """`[B]` exact log-likelihood in nats (of the discrete data when dequantized)."""
        log_density = density(params, flat(batch["x"]))
        if num_levels:
            return losses.dequantized_log_prob(log_density, num_dims=num_dims, num_levels=num_levels)
        return log_density

    def loss(params: Params, batch: Batch, rng: Array):
        """Leave-one-out NLL of the batch; rows with no other filled centre are skipped."""
        x = flat(batch["x"])
        centres = params["centres"]["values"]
        # Chebyshev distance to every centre `[B, N]`, 16 rows at a time: memory 16 x N x D, not B x N x D.
        distance = jax.lax.map(lambda row: jnp.max(jnp.abs(row - centres), axis=-1), x, batch_size=16)
        log_density = density(params, x, mask=distance >= same_example_radius)
        if num_levels:
            log_density = losses.dequantized_log_prob(log_density, num_dims=num_dims, num_levels=num_levels)
        scored = jnp.isfinite(log_density)
        if "mask" in batch:
            scored = scored & (batch["mask"] > 0)
        nll = -jnp.sum(jnp.where(scored, log_density, 0.0)) / jnp.maximum(jnp.sum(scored), 1)
        return nll, {
            "loo_nll": nll,
            "loo_bits_per_dim": metrics.bits_per_dim(nll, num_dims),
            "bandwidth": jnp.exp(params["model"]["log_bandwidth"]),
        }

    def update_buffers(params: Params, batch: Batch, rng: Array) -> tuple[Params, dict[str, Array]]:
        """Copies the batch's rows into the next free centres until all ``num_centres`` are filled."""
        x = flat(batch["x"])
        count = params["centres"]["num_filled"]
        rows = count + jnp.arange(x.shape[0])
        values = params["centres"]["values"].at[rows].set(x, mode="drop")  # rows >= N are dropped
        num_filled = jnp.minimum(count + x.shape[0], num_centres).astype(jnp.int32)
        centres = {"values": values, "num_filled": num_filled}
        return {**params, "centres": centres}, {"num_centres_filled": num_filled.astype(jnp.float32)}

    def sample(params: Params, rng: Array, num_samples: int) -> Array:
        """`[N, *element_shape]`: a uniformly chosen filled centre plus N(0, h^2 I) noise."""
        pick_rng, noise_rng = jax.random.split(rng)
        count = jnp.maximum(params["centres"]["num_filled"], 1)
        index = jax.random.randint(pick_rng, (num_samples,), 0, count)
        bandwidth = jnp.exp(params["model"]["log_bandwidth"])
        x = params["centres"]["values"][index] + bandwidth * distributions.box_muller(
            noise_rng, (num_samples, num_dims)
        )
        x = x.reshape(num_samples, *element_shape)
        return jnp.clip(x, 0.0, 1.0) if num_levels else x

    def eval_metrics(params: Params, batch: Batch, rng: Array) -> dict[str, Array]:
        bandwidth = jnp.exp(params["model"]["log_bandwidth"])
        return {"bandwidth": jnp.full(batch["x"].shape[:1], bandwidth)}

    return GenerativeModel(
        init=init,
        losses={"model": loss},
        sample=sample,
        log_prob=log_prob,
        eval_metrics=eval_metrics,
        element_shape=element_shape,
        update_buffers=update_buffers,
    )
