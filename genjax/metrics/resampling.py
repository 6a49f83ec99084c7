"""Nonparametric bootstrap confidence intervals for any metric of arrays (Efron 1979).

Efron's bootstrap ("Bootstrap Methods: Another Look at the Jackknife", Annals
of Statistics 1979) approximates the sampling distribution of a statistic by
recomputing it on datasets drawn with replacement from the observed one. Here
the statistic is any ``metric_fn(*arrays) -> scalar``; each resample draws,
with replacement, as many rows of each array as it has. The interval is the
*percentile* interval: the ``(1 - confidence) / 2`` and ``(1 + confidence) / 2``
quantiles of the resampled values, and ``std`` is their standard deviation
(the bootstrap standard error).

Two ways to resample several arrays:

* ``paired=False`` (the default): each array is resampled on its own, as
  for two independent samples (real features and generated features for FID
  or KID). The arrays may have different numbers of rows.
* ``paired=True``: one set of row indices is drawn and applied to every
  array, so row i of each array stays together (per-example losses of two
  models on the same test points, or inputs with their labels). The arrays
  must have the same number of rows.

The percentile interval is first-order accurate; for strongly biased metrics
(FID is biased upwards at small N) it inherits the metric's bias, since the
bootstrap cannot remove what every resample shares.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

Array = jax.Array


class BootstrapResult(NamedTuple):
    """What `bootstrap` returns (R = ``num_resamples``).

    Attributes:
      estimate: scalar, the metric on the original arrays.
      lower: scalar lower end of the percentile interval.
      upper: scalar upper end of the percentile interval.
      std: scalar standard deviation of the resampled values (bootstrap standard error).
      resamples: `[R]` the metric on each resample.
    """

    estimate: Array
    lower: Array
    upper: Array
    std: Array
    resamples: Array


def _resample_indices(rng: Array, sizes: tuple[int, ...], paired: bool) -> tuple[Array, ...]:
    """One resample: for each array, `[n_i]` row indices drawn with replacement."""
    if paired:
        indices = jax.random.randint(rng, (sizes[0],), 0, sizes[0])
        return tuple(indices for _ in sizes)
    keys = jax.random.split(rng, len(sizes))
    return tuple(jax.random.randint(k, (n,), 0, n) for k, n in zip(keys, sizes, strict=True))


def bootstrap(
    rng: Array,
    metric_fn: Callable[..., ArrayLike],
    *arrays: ArrayLike,
    num_resamples: int = 1000,
    confidence: float = 0.95,
    paired: bool = False,
    batch_size: int | None = None,
    vectorized: bool = True,
) -> BootstrapResult:
    """Percentile bootstrap interval of ``metric_fn(*arrays)``, resampling rows with replacement.

    Each of ``num_resamples`` resamples draws ``len(a)`` rows of every array
    ``a`` with replacement (independently per array, or with shared indices
    when ``paired``; see the module docstring) and evaluates ``metric_fn`` on
    them. With ``vectorized=True`` ``metric_fn`` must be traceable by JAX:
    the resamples are evaluated under ``jax.jit`` with ``lax.map``, ``batch_size``
    of them at a time through ``vmap`` (None: all at once; lower it when one
    evaluation is large), and the whole call can itself be ``vmap``-ed over
    keys and data. With ``vectorized=False`` any Python function of arrays
    works (NumPy, SciPy, a metric that jits itself) and is called once per
    resample.

    Args:
      rng: PRNG key for the resampling.
      metric_fn: ``(*arrays) -> scalar`` metric, each argument `[n_i, ...]`.
      *arrays: `[n_i, ...]` arrays whose leading axis holds the examples.
      num_resamples: R >= 2 bootstrap resamples.
      confidence: coverage of the interval, in (0, 1).
      paired: share the row indices between arrays (all n_i equal).
      batch_size: resamples evaluated together per ``lax.map`` step when vectorized.
      vectorized: evaluate the resamples with JAX transforms (True) or a Python loop.
    Returns:
      a `BootstrapResult`: scalars ``estimate``, ``lower``, ``upper``, ``std`` and
      the `[R]` ``resamples``.
    """
    if not arrays:
        raise ValueError("arrays: got none; bootstrap needs at least one array to resample")
    if not (isinstance(num_resamples, int) and num_resamples >= 2):
        raise ValueError(f"num_resamples: got {num_resamples!r}; must be an int >= 2")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence: got {confidence!r}; must be in (0, 1)")
    if batch_size is not None and not (isinstance(batch_size, int) and batch_size >= 1):
        raise ValueError(f"batch_size: got {batch_size!r}; must be None or an int >= 1")
    arrays = tuple(jnp.asarray(a) for a in arrays)
    if any(a.ndim == 0 for a in arrays):
        raise ValueError("arrays: each must have a leading axis of examples [n, ...]")
    sizes = tuple(a.shape[0] for a in arrays)
    if paired and len(set(sizes)) != 1:
        raise ValueError(f"paired: needs arrays with equal numbers of rows, got {sizes}")
    keys = jax.random.split(rng, num_resamples)
    if vectorized:
        estimate, resamples = _map_resamples(metric_fn, keys, arrays, paired, batch_size or num_resamples)
    else:
        # All indices in one vectorised draw (the same ones the vectorized path uses), then one call each.
        all_indices = [np.asarray(i) for i in _all_indices(keys, sizes, paired)]
        host = [np.asarray(a) for a in arrays]
        resamples = jnp.asarray(
            np.stack(
                [
                    np.asarray(metric_fn(*(a[i[r]] for a, i in zip(host, all_indices, strict=True))))
                    for r in range(num_resamples)
                ]
            )
        )
        estimate = jnp.asarray(metric_fn(*arrays))
    if resamples.shape != (num_resamples,):
        raise ValueError(f"metric_fn: must return a scalar, got shape {resamples.shape[1:]}")
    lower, upper, std = _summarise(resamples, float(confidence))
    return BootstrapResult(estimate=estimate, lower=lower, upper=upper, std=std, resamples=resamples)


@functools.partial(jax.jit, static_argnums=(1,))
def _summarise(resamples: Array, confidence: float) -> tuple[Array, Array, Array]:
    """`[R]` -> scalar percentile-interval ends and standard deviation."""
    tail = (1.0 - confidence) / 2.0
    lower, upper = jnp.quantile(resamples, jnp.asarray([tail, 1.0 - tail]))
    return lower, upper, jnp.std(resamples, ddof=1)


@functools.partial(jax.jit, static_argnums=(1, 2))
def _all_indices(keys: Array, sizes: tuple[int, ...], paired: bool) -> tuple[Array, ...]:
    """`[R]` keys -> per array `[R, n_i]` row indices, the draws `_resample_indices` makes per key."""
    return jax.vmap(lambda k: _resample_indices(k, sizes, paired))(keys)


@functools.partial(jax.jit, static_argnums=(0, 3, 4))
def _map_resamples(
    metric_fn: Callable[..., ArrayLike], keys: Array, arrays: tuple[Array, ...], paired: bool, batch_size: int
) -> tuple[Array, Array]:
    """The scalar metric on ``arrays`` and its `[R]` values on the resamples of the `[R]` keys, jitted.

    ``metric_fn`` is static, so calls with the same function and shapes reuse one compilation.
    """
    sizes = tuple(a.shape[0] for a in arrays)

    def on_resample(key: Array) -> Array:
        indices = _resample_indices(key, sizes, paired)
        return jnp.asarray(metric_fn(*(a[i] for a, i in zip(arrays, indices, strict=True))))

    resamples = jax.lax.map(on_resample, keys, batch_size=batch_size)
    return jnp.asarray(metric_fn(*arrays)), resamples
