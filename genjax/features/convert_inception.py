"""Converts the PyTorch FID Inception-v3 weights into `genjax.features.inception_v3`'s variables.

The source is the state dict that pytorch-fid (``pt_inception-2015-12-05-6726825d.pth``)
and torch-fidelity (``weights-inception-2015-12-05-6726825d.pth``) ship, both
converted from the 2015-12-05 TensorFlow graph with the same parameter names:
``<layer>.conv.weight`` (OIHW), ``<layer>.bn.{weight,bias,running_mean,running_var}``
and ``fc.{weight,bias}``. The Flax module uses the same layer names, so the
mapping is by name; only the layouts change (OIHW -> HWIO kernels, a transposed
dense kernel). Batch norm is kept, not folded into the convolutions: the
parameters stay one-to-one with the source and the outputs match it to
rounding.

torch is imported only by ``convert_file``; ``convert_state_dict`` takes any
arrays with ``numpy.asarray`` semantics (or torch tensors).
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from genjax.features.base import save_params


def _to_numpy(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor, without importing torch
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=np.float32)


def _target(name: str, array: np.ndarray) -> tuple[str, str, np.ndarray] | None:
    """Maps one state-dict entry to (collection, "/"-joined path, array); None for entries to drop."""
    *layer, leaf = name.split(".")
    path = "/".join(layer)
    if leaf == "num_batches_tracked":  # a training counter, not used at inference
        return None
    if layer and layer[-1] == "conv" and leaf == "weight" and array.ndim == 4:
        return "params", f"{path}/kernel", array.transpose(2, 3, 1, 0)  # OIHW -> HWIO
    if layer and layer[-1] == "bn":
        renamed = {
            "weight": ("params", "scale"),
            "bias": ("params", "bias"),
            "running_mean": ("batch_stats", "mean"),
            "running_var": ("batch_stats", "var"),
        }
        if leaf in renamed:
            collection, flax_leaf = renamed[leaf]
            return collection, f"{path}/{flax_leaf}", array
    if layer == ["fc"] and leaf == "weight" and array.ndim == 2:
        return "params", "fc/kernel", array.T  # [out, in] -> [in, out]
    if layer == ["fc"] and leaf == "bias":
        return "params", "fc/bias", array
    raise ValueError(f"convert_inception: unexpected state-dict entry {name!r} with shape {array.shape}")


def convert_state_dict(state_dict: Mapping[str, Any]) -> dict[str, Any]:
    """PyTorch FID Inception-v3 state dict -> ``{"params": ..., "batch_stats": ...}`` (nested numpy float32).

    Shapes: ``<layer>.conv.weight`` `[O, I, kh, kw]` -> ``.../conv/kernel``
    `[kh, kw, I, O]`; ``fc.weight`` `[1008, 2048]` -> ``fc/kernel`` `[2048, 1008]`;
    batch-norm vectors `[C]` unchanged. Raises ``ValueError`` naming the first
    unexpected, missing or misshapen entry.
    """
    from flax import traverse_util

    from genjax.features.inception_v3 import check_variables

    flat: dict[str, np.ndarray] = {}
    for name, value in state_dict.items():
        target = _target(name, _to_numpy(value))
        if target is not None:
            collection, path, array = target
            flat[f"{collection}/{path}"] = np.ascontiguousarray(array)
    variables = traverse_util.unflatten_dict(flat, sep="/")
    problems = check_variables(variables)
    if problems:
        count = len(problems)
        raise ValueError(
            f"convert_inception: not the FID Inception-v3 state dict ({problems[0]}; {count} problems)"
        )
    return variables


def convert_file(pth_path: str | os.PathLike, npz_path: str | os.PathLike) -> dict[str, Any]:
    """Reads a ``.pth`` state dict (needs torch), converts it, writes ``npz_path``; returns the variables.

    A file torch cannot read as tensors, or that is not this network's state dict, is a ``ValueError``.
    """
    import torch  # only the `benchmark` extra has it; genjax itself never needs torch

    pth_path = Path(pth_path)
    if not pth_path.is_file():
        raise FileNotFoundError(f"convert_inception: no file at {pth_path}")
    try:
        # weights_only: the files are plain dicts of tensors, so no pickled code needs to run.
        state_dict = torch.load(pth_path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, pickle.UnpicklingError) as error:
        reason = f"torch.load: {type(error).__name__}"
        raise ValueError(f"convert_inception: {pth_path} is not a PyTorch tensor file ({reason})") from error
    if not isinstance(state_dict, Mapping):
        raise ValueError(
            f"convert_inception: {pth_path} holds a {type(state_dict).__name__}, not a state dict"
        )
    variables = convert_state_dict(state_dict)
    save_params(npz_path, variables)
    return variables
