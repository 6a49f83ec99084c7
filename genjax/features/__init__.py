"""Frozen feature networks for the sample-quality metrics, chosen by name or by dataset.

| name | data | features | logits | weights |
|---|---|---|---|---|
| ``digits_cnn`` | scikit-learn's 8x8 digits | `[N, 128]` | 10 classes | shipped |
| ``mnist_encoder`` | binarized MNIST (no labels) | `[N, 128]` | none | shipped |
| ``inception_v3`` | anything else (RGB or grey) | pool3 `[N, 2048]` | 1008 | a local file |

Networks are imported only when asked for, so ``import genjax.features`` is cheap.
"""

from __future__ import annotations

import importlib
import os

from genjax.errors import ConfigError
from genjax.features.base import FeatureNetwork, extract, load_params, save_params

# name -> "module:loader"; each loader takes an optional weights path.
_REGISTRY = {
    "digits_cnn": "genjax.features.digits_cnn:load_digits_cnn",
    "mnist_encoder": "genjax.features.mnist_encoder:load_mnist_encoder",
    "inception_v3": "genjax.features.inception_v3:load_inception_v3",
}
# data.name -> the network that judges it; any other image data takes Inception.
_BY_DATASET = {"digits": "digits_cnn", "binarized_mnist": "mnist_encoder"}


def known_networks() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def load(name: str, *, weights_path: str | os.PathLike | None = None) -> FeatureNetwork:
    """The feature network ``name`` (see the table above)."""
    if name not in _REGISTRY:
        raise ConfigError(f"feature network: got {name!r}; allowed: {', '.join(_REGISTRY)}")
    module, loader = _REGISTRY[name].split(":")
    return getattr(importlib.import_module(module), loader)(weights_path)


def network_for_dataset(data_name: str) -> str:
    """The name of the network that judges samples of ``data.name``."""
    return _BY_DATASET.get(data_name, "inception_v3")


__all__ = [
    "FeatureNetwork",
    "extract",
    "known_networks",
    "load",
    "load_params",
    "network_for_dataset",
    "save_params",
]
