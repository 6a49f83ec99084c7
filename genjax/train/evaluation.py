"""Evaluation of any family on a split (validation during training, test once at the end).

Per-example metrics (NLL, bounds) are exact masked averages over the whole
split; sample-quality metrics (MMD, mode coverage) compare model samples with
the split's examples, for families without a likelihood (GANs) or on request.
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


def metric_names(
    model: GenerativeModel, abstract_params, example_batch: Batch, *, sample_metrics: bool, has_modes: bool
) -> set[str]:
    """The names `evaluate` (and, with ``sample_metrics``, `sample_quality`) report; computes nothing.

    Args:
      abstract_params: the evaluation parameters' shapes (``jax.ShapeDtypeStruct`` leaves).
      example_batch: one training batch (its "x" shapes the evaluation batch).
    """
    names = set()
    if model.log_prob is not None:
        names |= {"nll", "bits_per_dim"}
    if model.eval_metrics is not None:
        batch = {"x": example_batch["x"], "mask": np.ones(len(example_batch["x"]), np.float32)}
        for key in ("label", "cond"):
            if key in example_batch:
                batch[key] = example_batch[key]
        shapes = jax.eval_shape(model.eval_metrics, abstract_params, batch, jax.random.key(0))
        names |= set(shapes)
        if "nll_per_token" in names:
            names.add("perplexity")
    if sample_metrics:
        names.add("mmd")
        if has_modes:
            names |= {"modes_captured", "high_quality_fraction", "mode_kl"}
    return names


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


class SplitEvaluator:
    """Evaluates parameters on one split of an experiment, with its eval settings.

    ``eval.sample_metrics`` (default: True for families without ``log_prob``)
    adds `sample_quality` against the split's first ``eval.num_quality_samples``
    examples (default 2500).

    Args:
      experiment: a `genjax.train.experiment.Experiment`.
      split: ``"validation"`` or ``"test"``.
      eval_step: a shared `make_eval_step` (one compilation for several splits).
    """

    def __init__(self, experiment, split: str, *, eval_step=None):
        self.experiment, self.split = experiment, split
        model, config = experiment.model, experiment.config
        eval_cfg = config.get("eval", {})
        self.sample_metrics = bool(eval_cfg.get("sample_metrics", model.log_prob is None))
        self.num_quality_samples = int(eval_cfg.get("num_quality_samples", 2_500))
        self.eval_step = eval_step or make_eval_step(model, experiment.mesh)
        self._quality_examples: np.ndarray | None = None

    def batches(self, *, process_local: bool = True):
        from genjax import data as data_lib

        experiment = self.experiment
        shard = {"process_index": jax.process_index(), "process_count": jax.process_count()}
        return data_lib.eval_batches(
            experiment.dataset, experiment.config.data, split=self.split, **(shard if process_local else {})
        )

    def quality_examples(self) -> np.ndarray:
        """The split's first examples (the whole batches, on every process) for sample metrics."""
        if self._quality_examples is None:
            self._quality_examples = first_examples(
                self.batches(process_local=False), self.num_quality_samples
            )
        return self._quality_examples

    def metric_names(self) -> set[str]:
        """What `evaluate` reports (without the split prefix); computes nothing."""
        experiment = self.experiment
        return metric_names(
            experiment.model,
            experiment.abstract_state().eval_params(),
            experiment.train_batches[0],
            sample_metrics=self.sample_metrics,
            has_modes=experiment.dataset.modes is not None,
        ) | {"num_examples"}

    def evaluate(self, params, *, step: int, max_batches: int | None = None) -> dict[str, float]:
        """Every metric of ``params`` on the split, with the keys of ``step``."""
        experiment = self.experiment
        results = evaluate(
            experiment.model,
            params,
            self.batches(),
            seed=experiment.config.seed,
            step=step,
            mesh=experiment.mesh,
            eval_step=self.eval_step,
            max_batches=max_batches,
        )
        if self.sample_metrics:
            results.update(
                sample_quality(
                    experiment.model,
                    params,
                    self.quality_examples(),
                    seed=experiment.config.seed,
                    step=step,
                    num_samples=self.num_quality_samples,
                    modes=experiment.dataset.modes,
                )
            )
        return results
