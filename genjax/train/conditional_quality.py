"""Judging a conditional model p(x | y) class by class: does it draw the class it is asked for?

`per_class_quality` asks the model for ``num_per_class`` samples of every class
k (``cond = k``), and measures, on the features and logits of a frozen
`genjax.features.FeatureNetwork` that classifies the data (``digits_cnn`` for
digits):

* **accuracy**: the fraction of class-k samples the classifier labels k
  (argmax of its logits). The classifier's accuracy on the real images of the
  same split is reported beside it (``real_accuracy``): a perfect model scores
  that, not 1.
* **FID, precision and recall per class**: the class-k samples against the
  split's real images of class k (`genjax.metrics.frechet_distance`,
  `genjax.metrics.precision_recall` with k = 3 neighbours).
* **pooled**: all classes' samples (class-balanced: ``num_per_class`` each)
  against all real images of the split: accuracy, FID, precision, recall; and
  the mean of the per-class FIDs.

Per-class FID with few real images is strongly biased upwards (a plug-in
estimate of a 128x128 covariance from a few dozen rows: the digits test split
holds 22 to 42 images per class), so per-class FIDs are comparable only
between models judged on the same split with the same ``num_per_class``; each
class's ``num_real`` is reported with it.

`guidance_curve` repeats the pooled figures over classifier-free guidance
scales (the diffusers-style ``guidance_scale``: 0 unconditional, 1
conditional, above 1 guided).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from genjax import metrics
from genjax.errors import ConfigError
from genjax.features import FeatureNetwork, extract
from genjax.models.bundle import GenerativeModel

# k-NN balls of improved precision/recall (Kynkäänniemi et al. 2019 use 3).
PR_NEIGHBOURS = 3


def check_labelled_model(model: GenerativeModel) -> int:
    """The model's number of classes; ConfigError if it is not conditioned on class labels."""
    conditioning = model.conditioning
    if conditioning is None:
        raise ConfigError(
            "model.conditional: the model is unconditional (model.conditional=False); "
            "per-class judging needs a model trained with model.conditional=True"
        )
    if not conditioning.labels:
        raise ConfigError(
            f"model.conditional: the model is conditioned on arrays of shape {conditioning.cond_shape}, "
            "not class labels; per-class judging needs labels"
        )
    return int(conditioning.num_classes)


def _load_network(feature_network: FeatureNetwork | str) -> FeatureNetwork:
    if isinstance(feature_network, str):
        from genjax import features

        feature_network = features.load(feature_network)
    if feature_network.logits is None:
        raise ConfigError(
            f"feature network: {feature_network.name!r} has no class logits; per-class accuracy needs "
            "a classifier such as digits_cnn"
        )
    return feature_network


def reference_by_class(
    dataset, data_config: Mapping[str, Any] | None = None, *, split: str = "test"
) -> tuple[np.ndarray, np.ndarray]:
    """Every real image of a labelled split at its levels, and its label.

    Args:
      dataset: a loaded `genjax.data.Dataset` with labels.
      data_config: the run's ``data`` section (its binarization is applied, dequantization
        never); None: the images scaled to [0, 1] and nothing else.
      split: ``train``, ``validation`` or ``test``.
    Returns:
      (images `[N, *element_shape]` in [0, 1], labels `[N]` int32).
    """
    from genjax import data as data_lib

    source = dataset.source(split)
    if not source.has_labels:
        raise ConfigError(
            f"data.name: the {split} split of {dataset.name!r} has no labels to judge classes by"
        )
    data_config = dict(data_config.items()) if data_config else {"name": dataset.name, "batch_size": 500}
    data_config["dequantize"] = False  # the real images at their levels, never noised
    images, labels = [], []
    for batch in data_lib.eval_batches(dataset, data_config, split=split, batch_size=500):
        real = np.asarray(batch["mask"]) > 0
        images.append(np.asarray(batch["x"])[real])
        labels.append(np.asarray(batch["label"])[real])
    return np.concatenate(images), np.concatenate(labels).astype(np.int32)


def conditional_sampler(model: GenerativeModel, sample_kwargs: Mapping[str, Any] | None = None):
    """``(params, rng, labels [n]) -> samples [n, ...]``, jitted once per batch size.

    ``sample_kwargs`` (e.g. ``guidance_scale``) are baked in as constants, so a
    sampler may branch on them in Python.
    """
    kwargs = dict(sample_kwargs or {})
    for name in kwargs:
        if name not in inspect.signature(model.sample).parameters:
            raise ValueError(f"sample_kwargs: the model's sampler takes no {name!r}")
    return jax.jit(
        lambda params, rng, labels: model.sample(params, rng, labels.shape[0], cond=labels, **kwargs)
    )


def draw_labelled(sampler, params, *, rng: jax.Array, labels: np.ndarray, batch_size: int) -> np.ndarray:
    """Samples `[M, ...]`, row i of class ``labels[i]``, drawn in batches of one compiled size.

    Batch j uses ``fold_in(rng, j)``; the last batch is filled up by repeating its own labels
    (keeping its mix of classes) and the extra rows dropped, so every call has the same shape.
    """
    labels = np.asarray(labels, np.int32)
    size = min(batch_size, len(labels))
    chunks = []
    for index, start in enumerate(range(0, len(labels), size)):
        chunk = labels[start : start + size]
        out = sampler(params, jax.random.fold_in(rng, index), jnp.asarray(np.resize(chunk, size)))
        chunks.append(np.asarray(out)[: len(chunk)])
    return np.concatenate(chunks)


def draw_per_class(
    model: GenerativeModel,
    params,
    *,
    rng: jax.Array,
    num_per_class: int,
    sample_kwargs: Mapping[str, Any] | None = None,
    batch_size: int = 500,
) -> np.ndarray:
    """``num_per_class`` samples of every class: `[K, num_per_class, *element_shape]`.

    The labels cycle through the classes (``arange(K * n) % K``, the default sample labels), so
    every batch mixes the classes as training batches do: a generator that normalises with
    batch statistics (the DCGAN's batch norm) draws differently from a batch of one class.
    """
    num_classes = check_labelled_model(model)
    if num_per_class < 1:
        raise ValueError(f"num_per_class: got {num_per_class}; must be a positive integer")
    sampler = conditional_sampler(model, sample_kwargs)
    labels = np.tile(np.arange(num_classes, dtype=np.int32), num_per_class)
    samples = draw_labelled(sampler, params, rng=rng, labels=labels, batch_size=batch_size)
    return samples.reshape(num_per_class, num_classes, *samples.shape[1:]).swapaxes(0, 1)


def _pr(real: np.ndarray, fake: np.ndarray) -> tuple[float | None, float | None]:
    """Precision and recall, or (None, None) when a set is too small for k-NN balls."""
    if min(len(real), len(fake)) <= PR_NEIGHBOURS:
        return None, None
    result = metrics.precision_recall(real, fake, k=PR_NEIGHBOURS)
    return float(result.precision), float(result.recall)


def judge_per_class(
    samples: np.ndarray,
    reference: np.ndarray,
    reference_labels: np.ndarray,
    *,
    feature_network: FeatureNetwork | str,
) -> dict[str, Any]:
    """Per-class and pooled accuracy, FID, precision and recall of samples drawn class by class.

    Args:
      samples: `[K, n, *S]` in [0, 1], ``samples[k]`` drawn with cond = k, n >= 2.
      reference: `[N, *S]` real images in [0, 1].
      reference_labels: `[N]` their classes in ``0..K-1``; every class needs >= 2 images.
      feature_network: a classifier's `FeatureNetwork` (or its registry name), input S.
    Returns:
      ``accuracy``, ``fid``, ``precision``, ``recall`` (pooled), ``mean_class_fid``,
      ``real_accuracy`` (the classifier on ``reference``), and ``per_class``: one dict per class
      with ``label``, ``accuracy``, ``fid``, ``precision``, ``recall``, ``num_real``,
      ``real_accuracy``. Accuracies are fractions in [0, 1]; FIDs are squared distances in
      feature units; precision/recall are None for a class with at most 3 rows on a side.
    """
    network = _load_network(feature_network)
    samples = np.asarray(samples, np.float32)
    num_classes, num_per_class = samples.shape[:2]
    if num_per_class < 2:
        raise ValueError(f"num_per_class: got {num_per_class}; FID needs at least 2 samples per class")
    reference_labels = np.asarray(reference_labels)
    counts = np.bincount(reference_labels, minlength=num_classes)
    if len(counts) > num_classes or counts.min() < 2:
        raise ValueError(
            f"reference labels: need >= 2 real images of each of {num_classes} classes; got {counts}"
        )
    flat = samples.reshape(num_classes * num_per_class, *samples.shape[2:])
    asked = np.repeat(np.arange(num_classes), num_per_class)
    fake_feats = extract(network.features, flat)
    fake_hits = np.argmax(extract(network.logits, flat), axis=1) == asked
    real_feats = extract(network.features, reference)
    real_hits = np.argmax(extract(network.logits, reference), axis=1) == reference_labels
    per_class = []
    for k in range(num_classes):
        fake_k, real_k = fake_feats[asked == k], real_feats[reference_labels == k]
        precision, recall = _pr(real_k, fake_k)
        per_class.append(
            {
                "label": k,
                "accuracy": float(np.mean(fake_hits[asked == k])),
                "fid": metrics.frechet_distance(fake_k, real_k),
                "precision": precision,
                "recall": recall,
                "num_real": int(counts[k]),
                "real_accuracy": float(np.mean(real_hits[reference_labels == k])),
            }
        )
    precision, recall = _pr(real_feats, fake_feats)
    return {
        "feature_network": network.name,
        "num_classes": int(num_classes),
        "num_per_class": int(num_per_class),
        "num_real": int(len(reference)),
        "accuracy": float(np.mean(fake_hits)),
        "fid": metrics.frechet_distance(fake_feats, real_feats),
        "precision": precision,
        "recall": recall,
        "mean_class_fid": float(np.mean([c["fid"] for c in per_class])),
        "real_accuracy": float(np.mean(real_hits)),
        "per_class": per_class,
    }


def on_pixel_levels(samples: np.ndarray, dataset, data_config: Mapping[str, Any] | None) -> np.ndarray:
    """Image samples `[..., H, W, C]` onto the data's pixel levels, as the sample-quality report puts them.

    ``data_config["dequantize"]`` says whether the model samples dequantized values (level + u) / L;
    vectors and continuous data pass through.
    """
    from genjax.train.quality_report import to_pixel_levels

    if samples.ndim < 4 or not dataset.num_levels:
        return samples
    dequantized = bool((data_config or {}).get("dequantize", False))
    return to_pixel_levels(samples, dataset.num_levels, dequantized=dequantized)


def per_class_quality(
    model: GenerativeModel,
    params,
    dataset,
    *,
    rng: jax.Array,
    num_per_class: int,
    feature_network: FeatureNetwork | str,
    sample_kwargs: Mapping[str, Any] | None = None,
    batch_size: int = 500,
    split: str = "test",
    data_config: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Draws ``num_per_class`` samples of each class and judges them (see `judge_per_class`).

    Args:
      model: a label-conditional bundle (``model.conditioning.labels``).
      params: its (evaluation) parameters.
      dataset: the loaded `genjax.data.Dataset`; the real images are its ``split``'s.
      rng: sampling key (batch j of the mixed-class draws uses ``fold_in(rng, j)``).
      num_per_class: samples per class, >= 2 (precision/recall need >= 4).
      feature_network: a classifier `FeatureNetwork` or its name (``digits_cnn``).
      sample_kwargs: extra sampler options, e.g. ``{"guidance_scale": 3.0}``.
      batch_size: samples per sampler call (one compiled shape).
      data_config: the run's ``data`` section: its binarization is applied to the real images
        and its ``dequantize`` says how samples snap onto pixel levels; None: plain scaling.
    Returns:
      `judge_per_class`'s dict plus ``split`` and ``sample_kwargs``.
    Raises:
      ConfigError: an unconditional or array-conditioned model, a network without logits, or a
        split without labels.
    """
    check_labelled_model(model)
    network = _load_network(feature_network)
    reference, labels = reference_by_class(dataset, data_config, split=split)
    samples = draw_per_class(
        model,
        params,
        rng=rng,
        num_per_class=num_per_class,
        sample_kwargs=sample_kwargs,
        batch_size=batch_size,
    )
    samples = on_pixel_levels(samples, dataset, data_config)
    report = judge_per_class(samples, reference, labels, feature_network=network)
    return {"split": split, "sample_kwargs": dict(sample_kwargs or {}), **report}


def takes_guidance(model: GenerativeModel) -> bool:
    """The model's sampler accepts ``guidance_scale`` (classifier-free guidance)."""
    return "guidance_scale" in inspect.signature(model.sample).parameters


def guidance_curve(
    model: GenerativeModel,
    params,
    dataset,
    *,
    rng: jax.Array,
    scales: Sequence[float],
    num_per_class: int,
    feature_network: FeatureNetwork | str,
    batch_size: int = 500,
    split: str = "test",
    data_config: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """The guidance trade-off: pooled accuracy, FID, precision and recall per guidance scale.

    Every scale draws with the same ``rng`` (common random numbers), so the
    curve's steps reflect the scale, not sampling noise.

    Returns:
      one dict per scale, in order: ``guidance_scale``, ``accuracy``, ``fid``, ``precision``,
      ``recall``, ``mean_class_fid`` and the per-class accuracies ``class_accuracy`` `[K]`.
    Raises:
      ValueError: the sampler takes no ``guidance_scale``, or no scales are given.
    """
    if not takes_guidance(model):
        raise ValueError("guidance_curve: the model's sampler takes no guidance_scale")
    if not scales:
        raise ValueError("guidance_curve: scales is empty")
    feature_network = _load_network(feature_network)  # loaded once: its compiled forward pass is reused
    quality = functools.partial(
        per_class_quality,
        model,
        params,
        dataset,
        rng=rng,
        num_per_class=num_per_class,
        feature_network=feature_network,
        batch_size=batch_size,
        split=split,
        data_config=data_config,
    )
    curve = []
    for scale in scales:
        report = quality(sample_kwargs={"guidance_scale": float(scale)})
        curve.append(
            {
                "guidance_scale": float(scale),
                **{
                    name: report[name]
                    for name in ("accuracy", "fid", "precision", "recall", "mean_class_fid")
                },
                "class_accuracy": [c["accuracy"] for c in report["per_class"]],
            }
        )
    return curve


def per_class_workdir(
    config,
    workdir: str,
    *,
    split: str = "test",
    checkpoint: str | int = "best",
    seed: int = 0,
    num_per_class: int = 100,
    feature_network: str | None = None,
    weights_path: str | None = None,
) -> dict[str, Any]:
    """`per_class_quality` of a workdir's checkpoint (what ``experiments.evaluate --per_class`` runs).

    ``config`` None reads the workdir's; the feature network defaults to the one
    `genjax.features.network_for_dataset` names. Returns the report plus ``step``,
    ``checkpoint`` and ``seed``.
    """
    from genjax import features
    from genjax.train.checkpoint import load_config
    from genjax.train.restore import restore_from_workdir

    if num_per_class < PR_NEIGHBOURS + 1:
        raise ConfigError(
            f"--num_per_class: got {num_per_class}; must be at least {PR_NEIGHBOURS + 1} "
            f"(precision/recall use {PR_NEIGHBOURS} neighbours)"
        )
    config = config or load_config(workdir)
    model, dataset, state, _ = restore_from_workdir(config, workdir, checkpoint=checkpoint)
    if model.conditioning is None:
        raise ConfigError(
            f"--per_class: the {config.model.name!r} model is unconditional (model.conditional=False)"
        )
    name = feature_network or features.network_for_dataset(config.data.name)
    report = per_class_quality(
        model,
        state.eval_params(),
        dataset,
        rng=jax.random.key(seed),
        num_per_class=num_per_class,
        feature_network=features.load(name, weights_path=weights_path),
        split=split,
        data_config=config.data,
    )
    return {"step": int(jax.device_get(state.step)), "checkpoint": str(checkpoint), "seed": seed, **report}


__all__ = [
    "draw_per_class",
    "guidance_curve",
    "judge_per_class",
    "per_class_quality",
    "per_class_workdir",
    "reference_by_class",
    "takes_guidance",
]
