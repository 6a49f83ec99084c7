"""Shared checks of the ebm, score and ddpm family tests: short runs, every variant, traced sizes."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax import models
from genjax.errors import ConfigError
from genjax.spec import DataSpec
from genjax.train import train_and_evaluate

QUIET = {"print_fn": lambda *_: None}
TOY = DataSpec(name="toy2d:8gaussians", element_shape=(2,), num_levels=None)
DIGITS = DataSpec(name="digits", element_shape=(8, 8, 1), num_levels=17)
# The data each config variant's name ends with: (element shape, levels).
SHAPES = {
    "digits": ((8, 8, 1), 17),
    "binarized_mnist": ((28, 28, 1), 2),
    "tfds_mnist": ((28, 28, 1), 256),
    "tfds_cifar10": ((32, 32, 3), 256),
}


def short(config, num_steps=10):
    """``config`` trained for ``num_steps`` steps, with one log and one checkpoint, no eval or samples."""
    config.train.update(num_steps=num_steps, log_every=num_steps, checkpoint_every=num_steps)
    config.train.update(eval_every=0, sample_every=0)
    return config


def check_smoke_run(module, workdir, metric: str) -> None:
    """``module``'s smoke config trains 10 steps, reports a finite loss and ``metric``, and samples."""
    result = train_and_evaluate(short(module.get_config("smoke")), workdir, **QUIET)
    assert np.isfinite(result["train/loss"]) and np.isfinite(result[metric])
    assert (workdir / "samples" / "step_00000010.png").exists()


def check_bad_field(module, variant: str, field: str, value) -> None:
    """Setting ``model.<field>`` to ``value`` makes the build fail with a message naming the field."""
    config = module.get_config(variant)
    config.model[field] = value
    with pytest.raises(ConfigError, match=f"model.{field}"):
        models.build(config, DIGITS if "digits" in variant else TOY)


def check_every_variant_builds(module) -> None:
    """Every ``module.VARIANTS`` config builds at its data's shape; a foreign variant is refused.

    ``<data>_conditional`` variants get labelled data (``smoke_conditional`` is on digits).
    """
    for variant in module.VARIANTS:
        conditional = variant.endswith("_conditional")
        name = variant.removesuffix("_conditional").replace("smoke", "digits" if conditional else "smoke")
        data = next((data for data in SHAPES if name.endswith(data)), None)
        shape, levels = SHAPES[data] if data else ((2,), None)
        classes = 10 if conditional else None
        spec = DataSpec(name=variant, element_shape=shape, num_levels=levels, num_classes=classes)
        assert models.build(module.get_config(variant), spec).element_shape == shape, variant


def trace_at_size(config, shape, num_levels):
    """Shapes only (jax.eval_shape): init, loss and sample trace end to end; returns the param shapes."""
    model = models.build(config, DataSpec(name="traced", element_shape=shape, num_levels=num_levels))
    batch = {"x": jax.ShapeDtypeStruct((2, *shape), jnp.float32)}
    params = jax.eval_shape(model.init, jax.random.key(0), batch)
    (player,) = model.players
    loss, _ = jax.eval_shape(model.losses[player], params, batch, jax.random.key(1))
    assert loss.shape == ()
    samples = jax.eval_shape(lambda p: model.sample(p, jax.random.key(2), 3), params)
    assert samples.shape == (3, *shape)
    return params


def num_params(params) -> int:
    return int(sum(np.prod(x.shape) for x in jax.tree.leaves(params)))
