"""Kernel density estimation: a Gaussian KDE, centres from the training stream, bandwidth fitted.

Variants (the part after the colon):

* ``digits`` (default): 1280 centres (the first 10 batches of 128, one epoch of
  the 1350 training digits), dequantized 17-level data, bandwidth fitted by the
  leave-one-out NLL of the training batches, checkpoint selected on the
  validation NLL; under a minute on 2 CPU cores::

    python -m experiments.train --config=experiments/configs/kde.py:digits --workdir=/tmp/kde_digits

* ``smoke``: the digits KDE for a handful of steps (tests, CI)::

    python -m experiments.train --config=experiments/configs/kde.py:smoke --workdir=/tmp/kde_smoke

* ``two_moons`` (and every other toy2d density by name, e.g. ``8gaussians``):
  2048 centres drawn fresh from the density::

    python -m experiments.train --config=experiments/configs/kde.py:two_moons --workdir=/tmp/kde_moons

The BENCHMARKS.md figure picks the bandwidth on the validation split by grid
(`genjax.models.kde.fit_kde`), see experiments/benchmarks/kde_digits.py.
"""

from __future__ import annotations

import ml_collections

from experiments.configs.common import TOY2D, adam, base_config

VARIANTS = ("digits", "smoke", *TOY2D)


def get_config(variant: str | None = None) -> ml_collections.ConfigDict:
    variant = variant or "digits"
    if variant not in VARIANTS:
        raise ValueError(f"config variant: got {variant!r}; allowed: {', '.join(VARIANTS)}")
    config = base_config("kde")
    config.model.update(num_centres=1280, init_bandwidth=0.3)
    config.data.update(name="digits", batch_size=128, binarize="none", dequantize=True)
    config.train.update(
        num_steps=400,
        steps_per_call=20,
        log_every=100,
        eval_every=100,
        checkpoint_every=100,
        sample_every=400,
    )
    # One scalar parameter: a large step reaches the leave-one-out optimum in a few hundred steps.
    config.optim.model = adam(0.03)
    if variant == "smoke":
        config.model.num_centres = 256
        config.train.update(
            num_steps=20, steps_per_call=5, log_every=10, eval_every=10, checkpoint_every=10, sample_every=10
        )
        config.eval.update(num_batches=1)
    elif variant in TOY2D:
        config.model.update(num_centres=2048, init_bandwidth=0.5)
        config.data.update(name=f"toy2d:{variant}", dequantize=False)
        config.train.update(num_steps=400)
    return config
