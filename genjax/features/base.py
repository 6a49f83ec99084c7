"""What every feature network hands the metrics: a name, an input shape and two callables.

A feature network maps images in [0, 1] to the arrays the sample-quality
metrics read: penultimate features `[N, F]` for FID, KID, precision/recall and
the nearest-neighbour checks, and class logits `[N, C]` (where the data have
labels) for the inception score and its variants. Weights are plain ``.npz``
files of the Flax parameter tree, one array per ``/``-joined path, so they load
without pickle or orbax and ship as package data.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np

WEIGHTS_DIR = Path(__file__).parent / "weights"


class FeatureNetwork(NamedTuple):
    """A frozen feature extractor.

    Attributes:
      name: registry name, e.g. ``"digits_cnn"``.
      input_shape: one image's shape `(H, W, C)` that ``features`` expects.
      features: images `[N, H, W, C]` in [0, 1] -> features `[N, F]` (jittable).
      logits: images -> class logits `[N, K]`, or None when the network has no classes.
      num_features: F.
    """

    name: str
    input_shape: tuple[int, ...]
    features: Callable[[jax.Array], jax.Array]
    logits: Callable[[jax.Array], jax.Array] | None
    num_features: int


def save_params(path: str | os.PathLike, params: Any) -> None:
    """Writes a parameter pytree of nested dicts as ``.npz`` (keys are ``/``-joined paths)."""
    from flax import traverse_util

    flat = traverse_util.flatten_dict(jax.device_get(params), sep="/")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **{key: np.asarray(value) for key, value in flat.items()})


def load_params(path: str | os.PathLike) -> dict[str, Any]:
    """Reads ``save_params``' file back into nested dicts of numpy arrays."""
    from flax import traverse_util

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"feature network weights: no file at {path}")
    with np.load(path) as data:
        flat = {key: np.asarray(data[key]) for key in data.files}
    return traverse_util.unflatten_dict(flat, sep="/")


def extract(
    apply_fn: Callable[[jax.Array], jax.Array], images: np.ndarray, *, batch_size: int = 500
) -> np.ndarray:
    """Applies ``apply_fn`` to `[N, ...]` images in chunks; returns float32 `[N, ...]`.

    The last chunk is padded to ``batch_size`` so one compiled shape serves every
    chunk; padding rows are dropped from the result. ``apply_fn`` is called as
    given: the networks jit their own forward pass with the weights as an
    argument, since jitting a closure over them would bake every weight into
    the compiled program as a constant (95 MB for Inception: slower compiles,
    slower runs, huge cache entries).
    """
    images = np.asarray(images, np.float32)
    num = len(images)
    if num == 0:
        raise ValueError("extract: got no images")
    size = min(batch_size, num)
    outputs = []
    for start in range(0, num, size):
        chunk = images[start : start + size]
        pad = size - len(chunk)
        if pad:
            chunk = np.concatenate([chunk, np.zeros((pad, *chunk.shape[1:]), chunk.dtype)])
        outputs.append(np.asarray(apply_fn(chunk))[: size - pad])
    return np.concatenate(outputs).astype(np.float32)
