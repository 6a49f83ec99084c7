"""Sample-quality reports: a family's samples judged by every `genjax.metrics` measure, with intervals.

`quality_report` takes arrays (samples, the real reference set, the training
set) and a `genjax.features.FeatureNetwork`; `evaluate_samples_workdir`
restores a checkpoint, draws the samples and writes the JSON report and the
nearest-neighbour PNG (what ``python -m experiments.evaluate --metrics=...``
runs). Intervals, each at ``confidence``:

* FID: bootstrap with samples and reference resampled independently. Rows
  drawn with replacement repeat, and FID is biased upwards at small N, so the
  resampled values sit above the estimate (often all of them at a few hundred
  rows). The interval therefore takes the percentiles of the resamples
  shifted by their median's offset from the estimate (``bootstrap_bias``,
  reported): the bootstrap's spread, centred on the figure it describes.
* KID and the inception score: the mean and std over subsets or splits, as
  their papers report them.
* precision, recall, density, coverage: a bootstrap of the per-example ball
  terms (`genjax.metrics.ball_indicators`) with the balls of the full sets
  fixed, so resampled duplicates never shrink a radius to 0.
* C2ST accuracy and the birthday test's duplicate rate: Wilson score
  intervals of a binomial proportion; the support size's interval maps the
  duplicate rate's ends through the estimator.
* nearest-neighbour distances: percentile bootstrap of the mean.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from genjax import metrics
from genjax.errors import ConfigError
from genjax.features import FeatureNetwork, extract

METRICS = ("fid", "kid", "is", "precision_recall", "density_coverage", "ndb", "c2st", "birthday", "nn")
_NORMAL_QUANTILE = {0.9: 1.6448536, 0.95: 1.959964, 0.99: 2.5758293}


def parse_metrics(names: Sequence[str]) -> tuple[str, ...]:
    """Validates a ``--metrics`` list; ``all`` expands to every metric."""
    names = tuple(n.strip() for n in names if n.strip())
    if names == ("all",):
        return METRICS
    unknown = [n for n in names if n not in METRICS]
    if unknown or not names:
        raise ConfigError(
            f"--metrics: got {','.join(unknown) or 'nothing'}; allowed: all or {','.join(METRICS)}"
        )
    return names


def wilson_interval(successes: float, trials: int, confidence: float) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (successes of trials)."""
    z = _NORMAL_QUANTILE[confidence]
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return max(0.0, centre - half), min(1.0, centre + half)


def _interval(result: metrics.BootstrapResult) -> dict[str, float]:
    return {
        "value": float(result.estimate),
        "lower": float(result.lower),
        "upper": float(result.upper),
        "std": float(result.std),
    }


def _mean_interval(rng, values, num_bootstrap: int, confidence: float) -> dict[str, float]:
    """Bootstrap interval of the mean of `[N]` per-example values."""
    values = jnp.asarray(values, jnp.float32)
    return _interval(
        metrics.bootstrap(rng, jnp.mean, values, num_resamples=num_bootstrap, confidence=confidence)
    )


def _flat(images: np.ndarray) -> np.ndarray:
    return np.asarray(images, np.float32).reshape(len(images), -1)


def quality_report(
    rng: jax.Array,
    samples: np.ndarray,
    reference: np.ndarray,
    train: np.ndarray,
    *,
    network: FeatureNetwork,
    metric_names: Sequence[str] = METRICS,
    num_bootstrap: int = 200,
    confidence: float = 0.95,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Judges ``samples`` against real images; returns (report, arrays for pictures).

    Args:
      rng: key for every random choice (KID subsets, NDB's k-means, C2ST, bootstrap).
      samples: `[M, *S]` model samples in the data's [0, 1] space.
      reference: `[N, *S]` real held-out images (FID, KID, PR/DC and C2ST compare with them).
      train: `[T, *S]` training images (NDB's bins, the memorisation check, AM score).
      network: the feature network; its ``input_shape`` must equal S.
      metric_names: a subset of `METRICS`.
      num_bootstrap: resamples per bootstrap interval.
      confidence: 0.9, 0.95 or 0.99.
    Returns:
      (the JSON-ready report, ``{"nn_indices": [M], "nn_distances": [M]}`` when ``nn`` ran).
    """
    if confidence not in _NORMAL_QUANTILE:
        raise ConfigError(f"confidence: got {confidence}; allowed: {', '.join(map(str, _NORMAL_QUANTILE))}")
    shape = tuple(np.shape(samples)[1:])
    if shape != tuple(network.input_shape) and network.name != "inception_v3":
        raise ConfigError(
            f"feature network {network.name!r} reads images {tuple(network.input_shape)}; samples are {shape}"
        )
    keys = dict(zip(METRICS, jax.random.split(rng, len(METRICS)), strict=True))
    fake = extract(network.features, samples)
    real = extract(network.features, reference)
    train_feats = extract(network.features, train) if {"ndb", "birthday"} & set(metric_names) else None
    report: dict[str, Any] = {
        "feature_network": network.name,
        "num_samples": len(fake),
        "num_reference": len(real),
        "num_train": len(train),
        "confidence": confidence,
        "num_bootstrap": num_bootstrap,
    }
    extras: dict[str, np.ndarray] = {}
    k_boot = lambda name: jax.random.fold_in(keys[name], 1)
    if "fid" in metric_names:
        result = metrics.bootstrap(
            k_boot("fid"),
            metrics.frechet_distance,
            real,
            fake,
            num_resamples=num_bootstrap,
            confidence=confidence,
            vectorized=False,
        )
        bias = float(jnp.median(result.resamples)) - float(result.estimate)
        tail = (1.0 - confidence) / 2.0
        lower, upper = np.quantile(np.asarray(result.resamples) - bias, [tail, 1.0 - tail])
        report["fid"] = _interval(result._replace(lower=lower, upper=upper)) | {"bootstrap_bias": bias}
    if "kid" in metric_names:
        subset_size = min(1000, len(real), len(fake))
        mean, std = metrics.kernel_inception_distance(keys["kid"], fake, real, subset_size=subset_size)
        report["kid"] = {"value": float(mean), "std": float(std), "subset_size": subset_size}
    if "is" in metric_names:
        if network.logits is None:
            report["is"] = {"skipped": f"the {network.name} network has no classes"}
        else:
            probs = jax.nn.softmax(extract(network.logits, samples))
            real_probs = jax.nn.softmax(extract(network.logits, reference))
            train_probs = jax.nn.softmax(extract(network.logits, train))
            mean, std = metrics.inception_score(probs)
            modified, modified_std = metrics.modified_inception_score(probs)
            report["is"] = {
                "value": float(mean),
                "std": float(std),
                "modified": float(modified),
                "modified_std": float(modified_std),
                "mode_score": float(metrics.mode_score(probs, real_probs)),
                "am_score": float(metrics.am_score(probs, train_probs)),
            }
    if {"precision_recall", "density_coverage"} & set(metric_names):
        for name, k in (("precision_recall", 3), ("density_coverage", 5)):
            if name not in metric_names:
                continue
            terms = metrics.ball_indicators(real, fake, k=k)
            first, second = ("precision", "recall") if k == 3 else ("density", "coverage")
            per_fake = terms.fake_in_real if k == 3 else terms.real_balls_per_fake / k
            per_real = terms.real_in_fake if k == 3 else terms.real_covered
            report[first] = _mean_interval(k_boot(name), per_fake, num_bootstrap, confidence) | {"k": k}
            report[second] = _mean_interval(keys[name], per_real, num_bootstrap, confidence) | {"k": k}
    if "ndb" in metric_names:
        # R&W's 100 bins assume tens of thousands of images; keep >= 10 expected per bin of the smaller set.
        num_bins = int(max(2, min(100, min(len(train_feats), len(fake)) // 10)))
        result = metrics.number_of_different_bins(keys["ndb"], train_feats, fake, num_bins=num_bins)
        report["ndb"] = {
            "value": int(result.num_different_bins),
            "num_bins": num_bins,
            "expected_under_null": 0.05 * num_bins,
            "js_divergence": float(result.js_divergence),
        }
    if "c2st" in metric_names:
        result = metrics.classifier_two_sample_test(keys["c2st"], real, fake)
        num_test = int(result.num_test)
        lower, upper = wilson_interval(float(result.accuracy) * num_test, num_test, confidence)
        report["c2st"] = {
            "value": float(result.accuracy),
            "lower": lower,
            "upper": upper,
            "p_value": float(result.p_value),
            "num_test": num_test,
        }
    if "birthday" in metric_names:
        report["birthday"] = _birthday(keys["birthday"], fake, train_feats, confidence)
    if "nn" in metric_names:
        distances, indices = metrics.nearest_neighbour_distances(_flat(train), _flat(samples))
        held_out, _ = metrics.nearest_neighbour_distances(_flat(train), _flat(reference))
        report["nn"] = _mean_interval(keys["nn"], distances, num_bootstrap, confidence) | {
            "median": float(jnp.median(distances)),
            "reference_mean": float(jnp.mean(held_out)),
            "ratio_to_reference": float(jnp.mean(distances) / jnp.mean(held_out)),
            "space": "pixels",
        }
        extras = {"nn_indices": np.asarray(indices), "nn_distances": np.asarray(distances)}
    return report, extras


def _birthday(rng, fake: np.ndarray, train_feats: np.ndarray, confidence: float) -> dict[str, Any]:
    """The birthday test in feature space, duplicates judged against the training set's own spacing.

    A pair of samples counts as a duplicate when it is closer than the 1st
    percentile of the training images' nearest-neighbour distances: nearer than
    all but 1% of real digits are to their closest real neighbour.
    """
    spacing = _second_nearest(train_feats)
    threshold = float(np.quantile(spacing, 0.01))
    batch_size = int(min(100, len(fake) // 2))
    result = metrics.birthday_paradox_support(rng, fake, batch_size=batch_size, threshold=threshold)
    num_batches = 100
    count = int(result.num_duplicate_batches)
    lower, upper = wilson_interval(count, num_batches, confidence)
    pairs = batch_size * (batch_size - 1) / 2
    support = lambda p: math.inf if p <= 0 else (0.0 if p >= 1 else pairs / -math.log1p(-p))
    return {
        "duplicate_probability": float(result.duplicate_probability),
        "duplicate_probability_interval": [lower, upper],
        "support_size": support(count / num_batches),
        "support_size_interval": [support(upper), support(lower)],
        "batch_size": batch_size,
        "threshold": threshold,
    }


def _second_nearest(feats: np.ndarray, chunk: int = 1024) -> np.ndarray:
    """`[N, D]` -> `[N]` distance of each row to its nearest *other* row."""
    feats = jnp.asarray(feats, jnp.float32)
    sq = jnp.sum(feats**2, axis=1)

    @jax.jit
    def block(rows, ids):
        d2 = jnp.sum(rows**2, axis=1, keepdims=True) - 2.0 * rows @ feats.T + sq[None, :]
        d2 = jnp.where(ids[:, None] == jnp.arange(feats.shape[0])[None, :], jnp.inf, d2)
        return jnp.sqrt(jnp.maximum(jnp.min(d2, axis=1), 0.0))

    ids = np.arange(len(feats))
    return np.concatenate([np.asarray(block(feats[i : i + chunk], ids[i : i + chunk])) for i in ids[::chunk]])


def to_pixel_levels(images: np.ndarray, num_levels: int | None, *, dequantized: bool) -> np.ndarray:
    """Samples in [0, 1] onto the data's pixel levels, as saving them as images would.

    Dequantized families sample (level + u) / L, so a level is ``floor(x L)``;
    the rest emit level / (L - 1) up to noise, so a level is ``round(x (L - 1))``.
    Either way the result is level / (L - 1), the scale of the real images.
    Continuous data (``num_levels`` None) pass through.
    """
    images = np.clip(np.asarray(images, np.float32), 0.0, 1.0)
    if not num_levels:
        return images
    top = num_levels - 1
    levels = np.minimum(np.floor(images * num_levels), top) if dequantized else np.rint(images * top)
    return (levels / top).astype(np.float32)


def evaluate_samples_workdir(
    config,
    workdir: str,
    *,
    metric_names: Sequence[str],
    num_samples: int,
    split: str = "test",
    checkpoint: str | int = "best",
    seed: int = 0,
    num_bootstrap: int = 200,
    feature_network: str | None = None,
    weights_path: str | None = None,
    sample_batch_size: int = 1000,
) -> dict[str, Any]:
    """Draws ``num_samples`` from a checkpoint and writes ``<workdir>/quality_<split>_<step>.json``.

    Also writes ``<workdir>/nearest_neighbours_<step>.png`` (16 samples, each
    beside its nearest training image) when ``nn`` is asked for. The feature
    network is ``feature_network`` or the one `genjax.features.network_for_dataset`
    names; 2-D and other vector data are judged on the raw coordinates.
    """
    from pathlib import Path

    from genjax import data as data_lib
    from genjax import features, visualize
    from genjax.train.checkpoint import load_config
    from genjax.train.evaluation import first_examples
    from genjax.train.restore import restore_from_workdir

    metric_names = parse_metrics(metric_names)
    if split not in data_lib.SPLITS:
        raise ConfigError(f"--split: got {split!r}; allowed: {', '.join(data_lib.SPLITS)}")
    if num_samples < 20:
        raise ConfigError(f"--num_samples: got {num_samples}; the sample metrics need at least 20")
    config = config or load_config(workdir)
    model, dataset, state, _ = restore_from_workdir(config, workdir, checkpoint=checkpoint)
    step = int(jax.device_get(state.step))
    data_config = config.data.copy_and_resolve_references()
    with data_config.unlocked():
        data_config.dequantize = False  # the real images at their levels, never noised

    def images(name: str) -> np.ndarray:
        return first_examples(data_lib.eval_batches(dataset, data_config, split=name, batch_size=500))

    reference = images(split)
    if dataset.train.num_examples is None:  # a procedural toy: a fixed draw as large as the samples
        train = np.asarray(dataset.train.sample(np.random.default_rng(seed), num_samples)["x"], np.float32)
    else:
        train = images("train")
    sample_fn = jax.jit(model.sample, static_argnums=2)
    params = state.eval_params()
    chunks = []
    for index, start in enumerate(range(0, num_samples, sample_batch_size)):
        size = min(sample_batch_size, num_samples - start)
        chunks.append(np.asarray(sample_fn(params, jax.random.fold_in(jax.random.key(seed), index), size)))
    samples = np.concatenate(chunks)
    if len(model.element_shape) == 1:  # vector data: the coordinates are the features
        dim = int(model.element_shape[0])
        network = FeatureNetwork("identity", tuple(model.element_shape), lambda x: x, None, dim)
    else:
        samples = to_pixel_levels(samples, dataset.num_levels, dequantized=bool(config.data.dequantize))
        name = feature_network or features.network_for_dataset(config.data.name)
        network = features.load(name, weights_path=weights_path)
    report, extras = quality_report(
        jax.random.key(seed + 1),
        samples,
        reference,
        train,
        network=network,
        metric_names=metric_names,
        num_bootstrap=num_bootstrap,
    )
    report = {
        "step": step,
        "split": split,
        "checkpoint": str(checkpoint),
        "model": config.model.name,
        "data": config.data.name,
        "seed": seed,
        **report,
    }
    if jax.process_index() == 0:
        if "nn_indices" in extras and len(model.element_shape) == 3:
            shown = min(16, len(samples))
            upscale = max(1, 64 // int(model.element_shape[0]))
            path = Path(workdir) / f"nearest_neighbours_{step}.png"
            visualize.save_nearest_neighbours(
                path, samples[:shown], train[extras["nn_indices"][:shown]], upscale=upscale
            )
            report["nearest_neighbours_png"] = str(path)
        path = Path(workdir) / f"quality_{split}_{step}.json"
        path.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    return report
