"""Test-split evaluation of any family: exact masked averages over the whole split."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh

from genjax.metrics import bits_per_dim, perplexity
from genjax.models.bundle import Batch, GenerativeModel
from genjax.train.step import PURPOSE_EVAL, batch_sharding, replicated, step_key


def make_eval_step(model: GenerativeModel, mesh: Mesh):
    """Jitted ``(params, batch, rng) -> {name: masked sum over the batch}``, plus "count"."""

    def eval_step(params, batch: Batch, rng):
        mask = batch["mask"]
        sums = {"count": jnp.sum(mask)}
        if model.log_prob is not None:
            sums["nll"] = jnp.sum(-model.log_prob(params, batch, rng) * mask)
        if model.eval_metrics is not None:
            for name, values in model.eval_metrics(params, batch, jax.random.fold_in(rng, 1)).items():
                sums[name] = jnp.sum(values * mask)
        return sums

    return jax.jit(
        eval_step,
        in_shardings=(replicated(mesh), batch_sharding(mesh, stacked=False), replicated(mesh)),
        out_shardings=replicated(mesh),
    )


def evaluate(
    model: GenerativeModel,
    params,
    batches,
    *,
    seed: int,
    step: int,
    mesh: Mesh,
    eval_step=None,
    max_batches: int | None = None,
) -> dict[str, float]:
    """Averages the model's per-example metrics over ``batches`` (mask-aware).

    Args:
      batches: iterable of host batches with "x" and "mask" (see
        `genjax.data.eval_batches`); each is sharded over the mesh.
      max_batches: evaluate only the first this many batches (None: all).
    Returns:
      ``{"nll", "bits_per_dim", <eval_metrics>..., "num_examples"}``; nll and
      bits/dim only for families with a ``log_prob``; ``perplexity`` too when the
      model reports ``nll_per_token`` (token data).
    """
    eval_step = eval_step or make_eval_step(model, mesh)
    sharding = batch_sharding(mesh, stacked=False)
    base_key = step_key(seed, step, PURPOSE_EVAL)
    totals: dict[str, float] = {}
    for index, host_batch in enumerate(batches):
        if max_batches is not None and index >= max_batches:
            break
        batch = {
            k: jax.make_array_from_process_local_data(sharding, np.asarray(v)) for k, v in host_batch.items()
        }
        sums = jax.device_get(eval_step(params, batch, jax.random.fold_in(base_key, index)))
        for name, value in sums.items():
            totals[name] = totals.get(name, 0.0) + float(value)
    count = totals.pop("count", 0.0)
    if count == 0:
        return {}
    results = {name: total / count for name, total in totals.items()}
    if "nll" in results:
        results["bits_per_dim"] = float(bits_per_dim(results["nll"], math.prod(model.element_shape)))
    if "nll_per_token" in results:  # token models: perplexity of the whole split, exp(mean NLL per token)
        results["perplexity"] = float(perplexity(results["nll_per_token"], 1))
    results["num_examples"] = int(count)
    return results
