"""Real images judged as samples: the floor every model row is read against (no flags: importable)."""

from __future__ import annotations

# dataset -> (feature network, training images standing in for samples)
FLOORS = {"digits": ("digits_cnn", 1000), "binarized_mnist": ("mnist_encoder", 10_000)}


def _splits(dataset: str):
    import numpy as np

    from experiments.features.splits import digits_splits, mnist_splits

    if dataset == "digits":
        splits = digits_splits()
        return splits["train"][0], splits["test"][0]
    splits = mnist_splits(None)
    return (np.asarray(splits[name], np.float32) for name in ("train", "test"))


def floor_row(dataset: str, num_samples: int | None = None, num_bootstrap: int = 200) -> dict:
    """Training images against the test split, judged as samples.

    ``num_samples`` training images stand in for a perfect model's samples
    (the models' N, so FID's small-N bias is the same). Their
    nearest-neighbour distances would be 0 by construction and their NDB bins
    are their own, so ``nn`` and ``ndb`` judge the test images against the
    training set instead (digits: 297 images, hence 29 bins): what a model
    that does not memorise scores.
    """
    import jax
    import numpy as np

    from genjax import features
    from genjax.train.quality_report import METRICS, quality_report

    name, default_num = FLOORS[dataset]
    network = features.load(name)
    train, test = _splits(dataset)
    chosen = np.random.default_rng(0).permutation(len(train))[: num_samples or default_num]
    names = tuple(m for m in METRICS if m != "nn")
    report, _ = quality_report(
        jax.random.key(1),
        train[chosen],
        test,
        train,
        network=network,
        metric_names=names,
        num_bootstrap=num_bootstrap,
    )
    held_out, _ = quality_report(
        jax.random.key(1),
        test,
        test,
        train,
        network=network,
        metric_names=("nn", "ndb"),
        num_bootstrap=num_bootstrap,
    )
    report["nn"], report["ndb"] = held_out["nn"], held_out["ndb"]
    return {"data": dataset, **report}
