"""Test-split evaluation of any family.

Per-example metrics (NLL, bounds) are exact masked averages over the whole
split; sample-quality metrics (MMD, mode coverage) compare model samples with
the test split, for families without a likelihood (GANs) or on request.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh

from genjax.metrics import bits_per_dim, perplexity
from genjax.models.bundle import Batch, GenerativeModel
from genjax.train.step import PURPOSE_EVAL, PURPOSE_QUALITY, batch_sharding, replicated, step_key


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


def first_examples(batches, num: int | None = None) -> np.ndarray:
    """The first ``num`` (all when None) real, unmasked examples `[<=num, ...]` of host eval batches."""
    rows, total = [], 0
    for batch in batches:
        real = np.asarray(batch["x"])[np.asarray(batch["mask"]) > 0]
        rows.append(real if num is None else real[: num - total])
        total += len(rows[-1])
        if num is not None and total >= num:
            break
    return np.concatenate(rows)


def sample_quality(
    model: GenerativeModel, params, test_x: np.ndarray, *, seed: int, step: int, num_samples: int, modes=None
) -> dict[str, float]:
    """Sample-based metrics of ``model.sample`` against test examples.

    Args:
      test_x: [M, ...] test examples in the model's data space.
      num_samples: samples to draw (VEEGAN's protocol uses 2500 on its toys).
      modes: a `genjax.data.toy2d.Modes` for Gaussian-mixture data, else None.
    Returns:
      ``mmd``: the unbiased squared MMD with an RBF kernel whose bandwidth is
      the median heuristic on the test examples alone, so it is the same for
      every model evaluated on a dataset; with ``modes`` also
      ``modes_captured``, ``high_quality_fraction`` (VEEGAN) and, when a mode is
      captured, ``mode_kl`` (KL of the modes' histogram to uniform).
    """
    from genjax import metrics

    key = step_key(seed, step, PURPOSE_QUALITY)
    samples = np.asarray(jax.device_get(jax.jit(model.sample, static_argnums=2)(params, key, num_samples)))
    flat_samples = jnp.asarray(samples.reshape(num_samples, -1), jnp.float32)
    flat_test = jnp.asarray(test_x.reshape(len(test_x), -1), jnp.float32)
    bandwidth = metrics.median_bandwidth(flat_test, flat_test)
    kernel = lambda x, y: metrics.rbf_kernel(x, y, bandwidth=bandwidth)
    results = {"mmd": float(metrics.mmd(flat_samples, flat_test, kernel=kernel))}
    if modes is not None:
        coverage = metrics.mode_coverage(samples, modes.centers, modes.std)
        results.update(
            modes_captured=int(coverage["modes_captured"]),
            high_quality_fraction=float(coverage["high_quality_fraction"]),
        )
        if coverage["modes_captured"]:  # undefined without a single high-quality sample
            results["mode_kl"] = float(coverage["mode_kl"])
    return results
