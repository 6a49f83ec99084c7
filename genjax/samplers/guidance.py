"""Classifier-free guidance (Ho & Salimans 2022) as a wrapper around a conditional predictor.

One network, trained with label dropout (`genjax.losses.drop_labels`), predicts the noise
both with the label, eps(x, y), and without it, eps(x, null). Guided sampling replaces the
prediction by

    eps_guided = s * eps(x, y) + (1 - s) * eps(x, null),

the ``guidance_scale`` s of the diffusers library; Ho & Salimans write the same thing as
(1 + w) eps(x, y) - w eps(x, null) with w = s - 1. In this form s = 0 gives exactly the
unconditional prediction and s = 1 exactly the conditional one, in floating point, since
0 * a + b = b and a + 0 * b = a for finite a, b.

`classifier_free_guidance` turns ``eps_fn(x_t, t, y)`` into an ordinary
``(x_t, t) -> eps`` that evaluates the network once on the doubled batch [x; x] with labels
[y; null] and combines the halves, so it plugs into `ddpm_sample` and `ddim_sample` (the whole
guided chain stays one ``lax.scan``) and into `annealed_langevin`: a score is -eps / sigma, a
linear map of eps, so guiding the score with the same combine is guiding eps.
"""

from __future__ import annotations

from collections.abc import Callable

import chex
import jax
import jax.numpy as jnp

Array = jax.Array
Scalar = float | Array
ConditionalFn = Callable[[Array, Array, Array], Array]  # (x [N, ...], t [N], y [N, ...]) -> [N, ...]


def guidance_combine(eps_cond: Array, eps_uncond: Array, guidance_scale: Scalar) -> Array:
    """``s * eps_cond + (1 - s) * eps_uncond`` `[N, ...]`, s = ``guidance_scale``.

    Exact at s = 0 (``eps_uncond``) and s = 1 (``eps_cond``) for finite inputs. Equals
    Ho & Salimans' (1 + w) eps_cond - w eps_uncond with w = s - 1.

    Args:
      eps_cond: `[N, ...]` prediction given the labels.
      eps_uncond: `[N, ...]` prediction given the null label.
      guidance_scale: s, a Python float or a (possibly traced) scalar.
    Returns:
      `[N, ...]` in the dtype of ``eps_cond``.
    """
    chex.assert_equal_shape(
        [eps_cond, eps_uncond], custom_message="eps_cond and eps_uncond must have the same shape [N, ...]"
    )
    chex.assert_rank(guidance_scale, 0, custom_message="guidance_scale must be a scalar")
    scale = jnp.asarray(guidance_scale, eps_cond.dtype)
    return scale * eps_cond + (1 - scale) * eps_uncond


def classifier_free_guidance(
    eps_fn: ConditionalFn, cond: Array, null_cond: Array, *, guidance_scale: Scalar
) -> Callable[[Array, Array], Array]:
    """A guided ``(x_t [N, ...], t [N]) -> [N, ...]`` from a conditional ``eps_fn(x_t, t, y)``.

    Each call evaluates ``eps_fn`` once on 2N rows, [x_t; x_t] at [t; t] with labels
    [cond; null_cond], and returns ``guidance_combine`` of the two halves. The same wrapper
    guides a score function ``score_fn(x, sigma, y)``: scores are linear in eps.

    Args:
      eps_fn: `(x [2N, ...], t [2N], y [2N, ...]) -> [2N, ...]`.
      cond: `[N, ...]` labels (or conditioning rows) of the N chains.
      null_cond: `[N, ...]` the "no label" rows, shaped like ``cond`` (e.g. all ``null_label``).
      guidance_scale: s (keyword-only); s = 0 is the unconditional model, s = 1 the conditional.
    Returns:
      ``guided(x_t, t) -> [N, ...]``.
    """
    cond, null_cond = jnp.asarray(cond), jnp.asarray(null_cond)
    chex.assert_equal_shape(
        [cond, null_cond], custom_message="cond and null_cond must have the same shape [N, ...]"
    )
    chex.assert_rank(guidance_scale, 0, custom_message="guidance_scale must be a scalar")
    both = jnp.concatenate([cond, null_cond.astype(cond.dtype)], axis=0)
    num_chains = cond.shape[0]

    def guided(x_t: Array, t: Array) -> Array:
        chex.assert_shape(
            x_t, (num_chains, ...), custom_message="guided eps: x_t must have one row per cond row [N, ...]"
        )
        eps = eps_fn(jnp.concatenate([x_t, x_t], axis=0), jnp.concatenate([t, t], axis=0), both)
        chex.assert_equal_shape(
            [eps[:num_chains], x_t], custom_message="eps_fn(x, t, y) must return [2N, ...] shaped like x"
        )
        return guidance_combine(eps[:num_chains], eps[num_chains:], guidance_scale)

    return guided
