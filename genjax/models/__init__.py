"""Model families and the registry that maps ``config.model.name`` to one.

``build(config)`` returns a `GenerativeModel` bundle. Families are registered by
import path so importing genjax stays cheap and a family's code is only loaded
when a config asks for it (score_sde-style registry by config string).
"""

from __future__ import annotations

import importlib

import ml_collections

from genjax.errors import ConfigError
from genjax.models.bundle import GenerativeModel, LossFn, masked_mean
from genjax.spec import DataSpec

# config.model.name -> "module:function"; the function takes (config, spec: DataSpec).
_REGISTRY: dict[str, str] = {
    "autoencoder": "genjax.models.autoencoder.family:build",
    "autoregressive": "genjax.models.autoregressive.family:build",
    "ddpm": "genjax.models.ddpm.family:build",
    "ebm": "genjax.models.ebm.family:build",
    "flow": "genjax.models.flow.family:build",
    "gan": "genjax.models.gan.family:build",
    "hvae": "genjax.models.hvae.family:build",
    "kde": "genjax.models.kde.family:build",
    "pca": "genjax.models.pca.family:build",
    "score": "genjax.models.score.family:build",
    "vae": "genjax.models.vae.family:build",
    "vqvae": "genjax.models.vqvae.family:build",
}

__all__ = ["GenerativeModel", "LossFn", "build", "known_models", "masked_mean"]


def known_models() -> tuple[str, ...]:
    """The registered ``model.name`` values, sorted."""
    return tuple(sorted(_REGISTRY))


def build(config: ml_collections.ConfigDict, dataset=None) -> GenerativeModel:
    """Builds the family named by ``config.model.name``.

    Args:
      config: a full experiment config (see docs/architecture.md, "Config schema").
      dataset: the `genjax.spec.DataSpec` that sizes the model (element shape,
        levels, tokens, classes), or a loaded `genjax.data.Dataset`, whose
        ``.spec`` is used; loaded from ``config.data`` when None.
    """
    from genjax.data.dataset import Dataset  # the record only, never the pipeline

    name = config.model.name
    if name not in _REGISTRY:
        raise ConfigError(f"model.name: unknown model {name!r}; known: {', '.join(known_models())}")
    if dataset is None:
        from genjax.data import load_dataset

        dataset = load_dataset(config.data)
    spec = dataset.spec if isinstance(dataset, Dataset) else dataset
    if not isinstance(spec, DataSpec):
        raise TypeError(
            f"models.build: dataset must be a DataSpec or a Dataset, got {type(dataset).__name__}"
        )
    module_name, function_name = _REGISTRY[name].split(":")
    builder = getattr(importlib.import_module(module_name), function_name)
    return builder(config, spec)
