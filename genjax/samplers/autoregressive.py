"""Sequential sampling of autoregressive models, the whole sequence inside one jitted loop.

Pure: models are callables from any library.

* `sample_autoregressive`: for networks that score every dimension in one
  pass (FVSBN, MADE, PixelCNN): D passes in one ``lax.fori_loop``, pass i
  filling the i-th dimension of the ordering (which earlier outputs never read).
* `sample_autoregressive_incremental`: for networks with a recurrent state
  (NADE's running sum, an LSTM, a Transformer's key/value cache, WaveNet's
  queues): one ``lax.scan`` of O(1)-in-D steps.
* `sample_image_autoregressive`: the first for convolutional image models
  (PixelCNN), optionally running each pass on only the rows the current
  pixel can see.
* `sample_binary_autoregressive`: the Bernoulli special case of the first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import chex
import jax
import jax.numpy as jnp

Array = jax.Array
# (key, params [N, P]) -> values [N]; e.g. a Bernoulli or categorical draw.
DimensionSampler = Callable[[Array, Array], Array]


def _draw(sample_fn: DimensionSampler, key: Array, params: Array) -> Array:
    """``sample_fn(key, params [N, P])``, checked to give one value per sample `[N]`."""
    values = sample_fn(key, params)
    chex.assert_shape(
        values, (params.shape[0],), custom_message="sample_fn(rng, params [N, P]) must return [N]"
    )
    return values


def sample_autoregressive(
    rng: Array,
    params_fn: Callable[[Array], Array],
    sample_fn: DimensionSampler,
    initial: Array,
    *,
    ordering: Array | None = None,
) -> Array:
    """Fills ``initial [N, D]`` dimension by dimension from an autoregressive network.

    Args:
      rng: PRNG key; step i uses ``fold_in(rng, i)``.
      params_fn: `x [N, D] -> [N, D, P]`; row d depends only on the dimensions
        before d in the ordering.
      sample_fn: draws the values `[N]` of one dimension from its parameters `[N, P]`.
      initial: `[N, D]` starting values (their content is overwritten; sets the dtype).
      ordering: generation order, `[D]` shared or `[N, D]` per sample; None: natural order.
    Returns:
      `[N, D]` samples.
    """
    chex.assert_rank(initial, 2, custom_message="initial must be [N, D]")
    num_samples, num_dims = initial.shape
    rows = jnp.arange(num_samples)
    if ordering is None:
        ordering = jnp.arange(num_dims)
    ordering = jnp.asarray(ordering)  # a list would read as several inputs to chex
    chex.assert_shape(ordering, (..., num_dims), custom_message="ordering must be [D] or [N, D]")
    ordering = jnp.broadcast_to(ordering, (num_samples, num_dims))

    def fill(i, x):
        dims = ordering[:, i]
        all_params = params_fn(x)
        chex.assert_shape(
            all_params, (num_samples, num_dims, None), custom_message="params_fn must return [N, D, P]"
        )
        params = all_params[rows, dims]  # [N, P]
        values = _draw(sample_fn, jax.random.fold_in(rng, i), params)
        return x.at[rows, dims].set(values.astype(x.dtype))

    return jax.lax.fori_loop(0, num_dims, fill, initial)


def sample_image_autoregressive(
    rng: Array,
    params_fn: Callable[[Array], Array],
    sample_fn: DimensionSampler,
    initial: Array,
    *,
    context_rows: int | None = None,
) -> Array:
    """Fills images ``initial [N, H, W, C]`` in raster order, channels fastest, in one ``fori_loop``.

    Step d fills the same dimension as `sample_autoregressive` on the flattened
    image, with the same key ``fold_in(rng, d)``.

    Args:
      params_fn: `[N, h, W, C] -> [N, h, W, C, P]` for any height h (a convolutional net).
      sample_fn: as in `sample_autoregressive`.
      context_rows: R such that outputs in row i read input rows i-R..i only (the
        network's receptive height). Each step then runs ``params_fn`` on R+1 rows
        ending at the current one (at the top, the first R+1 rows), about
        H / (R+1) times less work, with the same result: the window's top edge only
        disturbs features the current row never reads. None: whole images.
    Returns:
      `[N, H, W, C]` samples.
    """
    chex.assert_rank(initial, 4, custom_message="initial must be [N, H, W, C]")
    num_samples, height, width, channels = initial.shape
    rows = height if context_rows is None else min(context_rows + 1, height)

    def fill(d, x):
        row, rest = d // (width * channels), d % (width * channels)
        col, channel = rest // channels, rest % channels
        start = jnp.clip(row - rows + 1, 0, height - rows)
        window = jax.lax.dynamic_slice(x, (0, start, 0, 0), (num_samples, rows, width, channels))
        window_params = params_fn(window)
        chex.assert_shape(
            window_params, (*window.shape, None), custom_message="params_fn must return [N, h, W, C, P]"
        )
        params = window_params[:, row - start, col, channel]  # [N, P]
        values = _draw(sample_fn, jax.random.fold_in(rng, d), params)
        return x.at[:, row, col, channel].set(values.astype(x.dtype))

    return jax.lax.fori_loop(0, height * width * channels, fill, initial)


def sample_autoregressive_incremental(
    rng: Array,
    step_fn: Callable[[Any, Array, Array], tuple[Any, Array]],
    sample_fn: DimensionSampler,
    state: Any,
    initial: Array,
) -> Array:
    """Samples `[N, T]` in natural order with one ``lax.scan`` over ``step_fn``.

    Args:
      step_fn: ``(state, x_prev [N], t) -> (state, params_t [N, P])``; at t = 0
        ``x_prev`` is ignored (a start token).
      sample_fn: as in `sample_autoregressive`.
      state: the network's initial recurrent state or cache.
      initial: `[N, T]` array fixing the shape and dtype of the result.
    """
    chex.assert_rank(initial, 2, custom_message="initial must be [N, T]")
    num_samples, num_steps = initial.shape

    def step(carry, t):
        state, previous = carry
        state, params = step_fn(state, previous, t)
        chex.assert_shape(params, (num_samples, None), custom_message="step_fn must return (state, [N, P])")
        value = _draw(sample_fn, jax.random.fold_in(rng, t), params).astype(initial.dtype)
        return (state, value), value

    start = jnp.zeros((num_samples,), initial.dtype)
    _, values = jax.lax.scan(step, (state, start), jnp.arange(num_steps))
    return values.T


def bernoulli_logit_sampler(rng: Array, logits: Array) -> Array:
    """`[N, 1]` logits -> `[N]` float 0/1 draws."""
    chex.assert_shape(logits, (None, 1), custom_message="logits must be [N, 1]")
    return jax.random.bernoulli(rng, jax.nn.sigmoid(logits[:, 0])).astype(jnp.float32)


def sample_binary_autoregressive(
    rng: Array, logits_fn: Callable[[Array], Array], num_samples: int, num_dims: int
) -> Array:
    """Draws ``x ~ prod_d Bernoulli(sigmoid(logits_fn(x)_d))`` in natural order.

    Args:
      logits_fn: `[N, D] -> [N, D]` autoregressive logits.
    Returns:
      `[num_samples, num_dims]` float32 0/1.
    """
    return sample_autoregressive(
        rng,
        lambda x: logits_fn(x)[..., None],
        bernoulli_logit_sampler,
        jnp.zeros((num_samples, num_dims), jnp.float32),
    )
