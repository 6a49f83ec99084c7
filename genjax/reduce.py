"""Per-example reductions: the one place that turns `[B, ...]` values into `[B]`.

Log-densities, log-determinants, squared norms and losses are all summed over
the event axes of each example; every module calls these instead of its own
reshape. They accept numpy or JAX arrays (the data pipeline calls them on numpy).
"""

from __future__ import annotations

from typing import Any

ArrayLike = Any  # numpy or JAX array: only ``.ndim``, ``.reshape`` and ``.sum`` are used


def sum_except_batch(values: ArrayLike, *, event_ndims: int | None = None) -> ArrayLike:
    """`[B, ...]` -> `[B]`: the sum over the trailing ``event_ndims`` axes (None: all but the first).

    ``event_ndims=0`` returns ``values`` unchanged; other values keep the leading
    ``values.ndim - event_ndims`` axes.
    """
    if event_ndims is None:
        return values.reshape(values.shape[0], -1).sum(axis=1) if values.ndim > 1 else values
    if event_ndims == 0:
        return values
    return values.sum(axis=tuple(range(values.ndim - event_ndims, values.ndim)))


def mean_except_batch(values: ArrayLike) -> ArrayLike:
    """`[B, ...]` -> `[B]`: the mean over every axis but the first."""
    return values.reshape(values.shape[0], -1).mean(axis=1)
