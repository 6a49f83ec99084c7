"""Probabilistic PCA trained by SGD on its exact likelihood (the linear-Gaussian baseline).

The closed-form fit is `genjax.models.pca.fit_ppca` (see experiments/benchmarks/ppca_nll.py);
these configs train the same model with Adam, for data too large for one
eigendecomposition. On discrete data the model is fitted to dequantized values and its
NLL accounts for it (``- D log L``), so bits/dim compare with every other family.

Variants (the part after the colon):

* ``digits`` (default): q = 16 on scikit-learn's 8x8 digits (17 levels, dequantized);
  well under a minute on 2 CPU cores::

    python -m experiments.train --config=experiments/configs/pca.py:digits --workdir=/tmp/pca_digits

* ``smoke``: the digits model for a handful of steps (tests, CI)::

    python -m experiments.train --config=experiments/configs/pca.py:smoke --workdir=/tmp/pca_smoke

* ``binarized_mnist``: q = 64 on the shared static binarized MNIST file (2 levels,
  dequantized), ../shared/data or $GENJAX_SHARED_DATA::

    python -m experiments.train --config=experiments/configs/pca.py:binarized_mnist --workdir=/tmp/pca_mnist

* ``toy2d``: q = 1 on the two-moons density, a line plus isotropic noise::

    python -m experiments.train --config=experiments/configs/pca.py:toy2d --workdir=/tmp/pca_toy2d
"""

from __future__ import annotations

import ml_collections

from experiments.configs.common import adam, base_config, shared_data_path

VARIANTS = ("digits", "smoke", "binarized_mnist", "toy2d")


def get_config(variant: str | None = None) -> ml_collections.ConfigDict:
    variant = variant or "digits"
    if variant not in VARIANTS:
        raise ValueError(f"config variant: got {variant!r}; allowed: {', '.join(VARIANTS)}")
    config = base_config("pca")
    config.model.update(num_components=16, init_scale=0.1)
    config.data.update(name="digits", dequantize=True, batch_size=128, eval_batch_size=500)
    config.train.update(
        num_steps=3_000, steps_per_call=100, log_every=500, eval_every=500, checkpoint_every=1_000
    )
    config.optim.model = adam(1e-2, schedule="cosine")

    if variant == "smoke":
        config.train.update(num_steps=20, steps_per_call=5, log_every=10, eval_every=10, checkpoint_every=10)
        config.eval.num_batches = 1
    elif variant == "binarized_mnist":
        config.model.num_components = 64
        config.data.update(
            name="npz:" + shared_data_path("binarized_mnist.npz"), validation_split="valid", batch_size=256
        )
        config.train.update(num_steps=10_000, log_every=1_000, eval_every=2_000, checkpoint_every=2_000)
    elif variant == "toy2d":
        config.model.num_components = 1
        config.data.update(name="toy2d:two_moons", dequantize=False, num_test=10_000, eval_batch_size=5_000)
        config.train.update(num_steps=2_000)
    return config
