"""What the stability study of the MNIST encoder measures: CKA, FID under degradations, retrieval."""

from __future__ import annotations

import json

NUM_TRAIN_SUBSET = 10_000
# The degradations of the test split, named (kind, amount): flip rates, and shifts in pixels.
DEGRADATIONS = (("flip", 0.02), ("flip", 0.05), ("flip", 0.10), ("shift", 2), ("shift", 4))


def degrade(images, kind: str, amount: float, rng):
    """Test images `[N, 28, 28, 1]` in {0, 1} -> degraded float32 copies (flips, or a down-right shift)."""
    import numpy as np

    images = np.asarray(images, np.float32)
    if kind == "flip":
        return np.abs(images - (rng.random(images.shape) < amount))
    shift = int(amount)  # zero fill, not np.roll: nothing wraps round from the far edge
    out = np.zeros_like(images)
    out[:, shift:, shift:] = images[:, : 28 - shift, : 28 - shift]
    return out


def linear_cka(x, y) -> float:
    """Linear CKA (Kornblith et al. 2019) of features `[N, F1]`, `[N, F2]`; 1 when equal up to rotation."""
    import numpy as np

    x = np.asarray(x, np.float64) - np.mean(x, axis=0)
    y = np.asarray(y, np.float64) - np.mean(y, axis=0)
    cross = np.linalg.norm(y.T @ x) ** 2
    return float(cross / (np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y)))


def retrieval_top1(features_fn, images, seed: int = 0) -> float:
    """Share of augmented views `[N]` whose nearest original (Euclidean, in features) is their own."""
    import jax
    import numpy as np

    from genjax.features.base import extract
    from genjax.features.mnist_encoder import augment

    originals = np.asarray(images, np.float32)
    views = np.asarray(augment(jax.random.key(seed), originals))
    a, b = extract(features_fn, views), extract(features_fn, originals)
    distances = np.sum(a**2, 1)[:, None] - 2 * a @ b.T + np.sum(b**2, 1)[None]
    return float(np.mean(np.argmin(distances, axis=1) == np.arange(len(a))))


def kendall_tau(a, b) -> float:
    """Kendall's tau-a of two score vectors `[K]` (no ties expected): 1 for the same order."""
    import itertools

    pairs = list(itertools.combinations(range(len(a)), 2))
    return sum(1 if (a[i] - a[j]) * (b[i] - b[j]) > 0 else -1 for i, j in pairs) / len(pairs)


def stability_study(
    splits: dict, seeds: list[int], num_steps: int, batch_size: int, temperature: float
) -> dict:
    """Trains one encoder per seed and compares their features (see the module docstring)."""
    import numpy as np

    from experiments.benchmarks.reports import report_header
    from genjax.features.base import extract
    from genjax.features.mnist_encoder import encoder_apply, train_mnist_encoder
    from genjax.metrics import frechet_distance

    # One train subset and one draw of every degradation, shared by all seeds: only the encoder varies.
    subset = splits["train"][
        np.random.default_rng(0).choice(len(splits["train"]), NUM_TRAIN_SUBSET, replace=False)
    ]
    test = splits["test"].astype(np.float32)
    degraded = {f"{k}_{a}": degrade(test, k, a, np.random.default_rng(1)) for k, a in DEGRADATIONS}
    runs, test_features = {}, {}
    for seed in seeds:
        params, history = train_mnist_encoder(
            seed, splits["train"], num_steps=num_steps, batch_size=batch_size, temperature=temperature
        )
        encoder = params["encoder"]

        def features(images, encoder=encoder):
            return encoder_apply(encoder, images)

        train_feats = extract(features, subset.astype(np.float32))
        test_features[seed] = extract(features, test)
        fids = {
            name: frechet_distance(extract(features, images), train_feats)
            for name, images in degraded.items()
        }
        floor = frechet_distance(train_feats, test_features[seed])
        runs[seed] = {
            "train_seconds": round(history["train_seconds"], 1),
            "final_loss": round(history["final_loss"], 4),
            "fid_floor": floor,
            "fid": fids,
            "ranking": sorted(fids, key=fids.get),
            "floor_below_all": all(floor < value for value in fids.values()),
            "retrieval_top1": retrieval_top1(features, test[:500]),
        }
        print(f"seed {seed}: {json.dumps(runs[seed])}", flush=True)
    names = list(degraded)
    taus = [
        kendall_tau([runs[s]["fid"][n] for n in names], [runs[t]["fid"][n] for n in names])
        for i, s in enumerate(seeds)
        for t in seeds[i + 1 :]
    ]
    return {
        **report_header("mnist_encoder_stability"),
        "num_steps": num_steps,
        "batch_size": batch_size,
        "temperature": temperature,
        "num_train_subset": NUM_TRAIN_SUBSET,
        "num_test": len(test),
        "seeds": seeds,
        "cka_test_features": [
            [round(linear_cka(test_features[s], test_features[t]), 4) for t in seeds] for s in seeds
        ],
        "runs": {str(seed): run for seed, run in runs.items()},
        "same_ranking_all_seeds": all(runs[s]["ranking"] == runs[seeds[0]]["ranking"] for s in seeds),
        "min_pairwise_kendall_tau": min(taus) if taus else 1.0,
    }
