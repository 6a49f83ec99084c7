"""Adversarial objectives: the costs of a two-player game, and the penalties that regularise it.

A GAN is a game between a discriminator (critic) D and a generator G. Each player
minimises *its own* cost; neither minimises a shared loss, so "the GAN loss" is a
pair of functions:

* ``discriminator_loss(real_logits, fake_logits, kind=kind)``: what D minimises;
* ``generator_loss(fake_logits, kind=kind)``: what G minimises.

The inputs are D's raw outputs (logits for the probabilistic kinds, critic values
otherwise), `[B]` or `[B, 1]`; every cost is a mean over the batch.

Kinds, with D = sigmoid(logit) where it is a probability:

* ``minimax`` (Goodfellow et al., 2014): D minimises −E_p log D(x) − E_q log(1 − D(x));
  G minimises E_q log(1 − D(x)), the exact zero-sum game. At the optimal
  D* = p / (p + q) the value is 2·JS(p, q) − log 4, but G's gradient vanishes
  when D confidently rejects its samples (saturation).
* ``non_saturating`` (same paper): same D cost; G minimises −E_q log D(x), which
  has the same fixed point and strong gradients early in training.
* ``wasserstein`` (Arjovsky et al., 2017): critic f minimises E_q f − E_p f, G minimises
  −E_q f. A Wasserstein-1 estimate only if f is 1-Lipschitz: enforce it with
  ``genjax.optim.clip_weights`` (the original WGAN, as an optimiser projection) or
  ``gradient_penalty`` (WGAN-GP, Gulrajani et al., 2017).
* ``hinge`` (Lim & Ye, 2017; Miyato et al., 2018): D minimises E_p relu(1 − f) +
  E_q relu(1 + f); G minimises −E_q f. Usually with spectral normalisation in the
  model, or an R1 penalty.
* ``least_squares`` (LSGAN, Mao et al., 2017, with 0/1 targets): D minimises
  ½E_p (f − 1)² + ½E_q f²; G minimises ½E_q (f − 1)².

Penalties (added to D's cost by the caller): ``gradient_penalty`` pairs with
``wasserstein`` (and works with any kind); ``r1_penalty`` (Mescheder et al., 2018)
pairs with ``non_saturating``/``minimax`` and ``hinge``: it penalises D's gradient
on real data only, which makes the game locally convergent.

``unrolled_generator_loss`` (Metz et al., 2017) gives the generator a look-ahead
cost: its cost after the discriminator has taken k optimiser steps, differentiated
through those steps.

Everything here is a pure function of arrays and callables; no Flax, no optax.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import chex
import jax
import jax.numpy as jnp

Array = jax.Array
Params = Any
OptState = Any

KINDS = ("minimax", "non_saturating", "wasserstein", "hinge", "least_squares")

__all__ = [
    "KINDS",
    "discriminator_loss",
    "generator_loss",
    "gradient_penalty",
    "interpolate",
    "r1_penalty",
    "unrolled_generator_loss",
]


def _as_batch(values: Array, name: str, *, batch: int | None = None) -> Array:
    """`[B]` or `[B, 1]` -> `[B]`; any other shape is a caller bug (e.g. `[B, C]` logits), so it raises.

    ``batch``: the B the values must have (the critic's input batch), when known.
    """
    values = jnp.asarray(values)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    chex.assert_shape(values, (batch,), custom_message=f"{name} must have shape [B] or [B, 1]")
    return values


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown GAN loss kind {kind!r}; expected one of {', '.join(KINDS)}")


def discriminator_loss(real_logits: Array, fake_logits: Array, *, kind: str) -> Array:
    """The cost the discriminator (critic) minimises.

    Args:
      real_logits: `[B]` or `[B, 1]`, D's raw outputs on data.
      fake_logits: `[B']` or `[B', 1]`, D's raw outputs on generated samples.
      kind: one of ``KINDS``.
    Returns:
      scalar.
    """
    _check_kind(kind)
    real = _as_batch(real_logits, "real_logits")
    fake = _as_batch(fake_logits, "fake_logits")
    if kind in ("minimax", "non_saturating"):
        # −log sigmoid(l) = softplus(−l) and −log(1 − sigmoid(l)) = softplus(l): finite for any logit.
        return jnp.mean(jax.nn.softplus(-real)) + jnp.mean(jax.nn.softplus(fake))
    if kind == "wasserstein":
        return jnp.mean(fake) - jnp.mean(real)
    if kind == "hinge":
        return jnp.mean(jax.nn.relu(1.0 - real)) + jnp.mean(jax.nn.relu(1.0 + fake))
    # least_squares
    return 0.5 * jnp.mean(jnp.square(real - 1.0)) + 0.5 * jnp.mean(jnp.square(fake))


def generator_loss(fake_logits: Array, *, kind: str) -> Array:
    """The cost the generator minimises, from D's outputs on its samples.

    Args:
      fake_logits: `[B]` or `[B, 1]`.
      kind: one of ``KINDS``.
    Returns:
      scalar.
    """
    _check_kind(kind)
    fake = _as_batch(fake_logits, "fake_logits")
    if kind == "minimax":
        return -jnp.mean(jax.nn.softplus(fake))  # E log(1 − D)
    if kind == "non_saturating":
        return jnp.mean(jax.nn.softplus(-fake))  # −E log D
    if kind in ("wasserstein", "hinge"):
        return -jnp.mean(fake)
    # least_squares
    return 0.5 * jnp.mean(jnp.square(fake - 1.0))


def _per_example_input_grad(critic_fn: Callable[[Array], Array], x: Array) -> Array:
    """∇_x f(x_i) for every example, `[B, ...]`.

    The gradient of the batch sum equals the per-example gradients as long as
    examples do not interact inside ``critic_fn`` (no batch norm, no minibatch
    statistics); one backward pass instead of a vmap over examples.
    """
    chex.assert_shape(x, (None, ...), custom_message="the critic's input must be a batch [B, ...]")
    per_example = lambda inputs: _as_batch(critic_fn(inputs), "critic_fn output", batch=x.shape[0])
    return jax.grad(lambda inputs: jnp.sum(per_example(inputs)))(x)


def _squared_norm_per_example(grads: Array) -> Array:
    """`[B, ...]` -> `[B]`, the squared L2 norm over all element axes."""
    return jnp.sum(jnp.square(grads).reshape(grads.shape[0], -1), axis=1)


def interpolate(rng: Array, real: Array, fake: Array) -> Array:
    """x̂ = ε·real + (1 − ε)·fake, one ε ~ U[0, 1] per example: WGAN-GP's sampling points.

    Args:
      rng: PRNG key.
      real: `[B, ...]`.
      fake: `[B, ...]`, same shape.
    Returns:
      `[B, ...]`.
    """
    chex.assert_shape(real, (None, ...), custom_message="real must be a batch [B, ...]")
    chex.assert_equal_shape([real, fake], custom_message="real and fake must have the same shape")
    eps = jax.random.uniform(rng, (real.shape[0],) + (1,) * (real.ndim - 1), dtype=real.dtype)
    return eps * real + (1.0 - eps) * fake


def gradient_penalty(
    rng: Array,
    critic_fn: Callable[[Array], Array],
    real: Array,
    fake: Array,
    *,
    target_norm: float = 1.0,
) -> Array:
    """WGAN-GP penalty E_x̂ (||∇_x f(x̂)|| − target_norm)², x̂ on random real–fake segments.

    Gulrajani et al. (2017): the optimal 1-Lipschitz critic has unit gradient norm
    on lines between coupled real and fake points, so the penalty is taken there.
    Multiply by λ (10 in the paper) and add to the critic's cost. It is
    differentiable w.r.t. whatever ``critic_fn`` closes over (double backprop).

    Args:
      critic_fn: `[B, ...]` -> `[B]` (or `[B, 1]`); examples must not interact.
      real: `[B, ...]`.
      fake: `[B, ...]`.
      rng: PRNG key for the interpolation weights (see ``interpolate``).
      target_norm: the norm the gradient is pulled to.
    Returns:
      scalar.
    """
    x_hat = interpolate(rng, real, fake)
    squared = _squared_norm_per_example(_per_example_input_grad(critic_fn, x_hat))
    # sqrt has an infinite derivative at 0 (a constant critic): take the norm's
    # subgradient 0 there instead of letting NaN reach the parameters.
    positive = squared > 0
    norm = jnp.where(positive, jnp.sqrt(jnp.where(positive, squared, 1.0)), 0.0)
    return jnp.mean(jnp.square(norm - target_norm))


def r1_penalty(critic_fn: Callable[[Array], Array], real: Array) -> Array:
    """R1 penalty E_p ||∇_x D(x)||² on real data (Mescheder et al., 2018).

    Take the gradient of the logit. The caller scales by γ/2 and adds it to D's cost.

    Args:
      critic_fn: `[B, ...]` -> `[B]` (or `[B, 1]`); examples must not interact.
      real: `[B, ...]`.
    Returns:
      scalar.
    """
    return jnp.mean(_squared_norm_per_example(_per_example_input_grad(critic_fn, real)))


def unrolled_generator_loss(
    generator_cost: Callable[[Params], Array],
    discriminator_cost: Callable[[Params], Array],
    discriminator_params: Params,
    *,
    init_fn: Callable[[Params], OptState] | None = None,
    update_fn: Callable[[Params, OptState, Params], tuple[Params, OptState]],
    num_steps: int,
    opt_state: OptState | None = None,
) -> Array:
    """The generator's cost after ``num_steps`` look-ahead discriminator updates (Metz et al., 2017).

    With θ_D^0 = ``discriminator_params`` and θ_D^{k+1} = θ_D^k + update(∇ discriminator_cost(θ_D^k)),
    returns ``generator_cost(θ_D^K)``. Nothing is stopped: differentiating the
    result w.r.t. the generator's parameters (closed over by both costs) follows
    the generator's influence through the K discriminator steps, which is what
    discourages mode collapse. The caller still updates the real discriminator
    with its ordinary one-step gradient; the unrolled parameters are discarded.

    ``init_fn``/``update_fn`` have optax's signatures, so ``optimizer.init`` and
    ``optimizer.update`` plug in directly: ``init_fn(params) -> state``,
    ``update_fn(grads, state, params) -> (updates, state)``; updates are added to
    the parameters. (When differentiating through optax Adam, give it
    ``eps_root > 0`` so the square root stays differentiable at zero.)

    Metz et al. unroll from the discriminator's *live* optimiser state: pass it as
    ``opt_state`` (Adam's moments and count, so the look-ahead takes the steps the
    discriminator would really take next, at its scheduled learning rates). A fresh
    ``init_fn(discriminator_params)`` state instead makes Adam's first look-ahead
    step sign-like (±lr per weight), a different surrogate. The state is a constant
    here: nothing is differentiated through it.

    Args:
      generator_cost: θ_D -> scalar, G's cost against discriminator θ_D, closed over G's parameters.
      discriminator_cost: θ_D -> scalar, D's cost on G's *current* samples, closed over G's parameters.
      discriminator_params: θ_D^0, any pytree.
      init_fn: optimiser initialisation, used when ``opt_state`` is None.
      update_fn: optimiser update.
      num_steps: K ≥ 0, static (a Python loop: each step is a second-order graph,
        and K is small, typically ≤ 10). K = 0 is ``generator_cost(discriminator_params)``.
      opt_state: the state to unroll from (the discriminator's live one), shaped as
        ``update_fn`` expects; None starts from ``init_fn(discriminator_params)``.
    Returns:
      scalar.
    """
    if not isinstance(num_steps, int) or num_steps < 0:
        raise ValueError(f"num_steps must be a non-negative int, got {num_steps!r}")
    if num_steps and opt_state is None and init_fn is None:
        raise ValueError("unrolling needs a state: pass opt_state (the live one) or init_fn")
    params = discriminator_params
    if num_steps:
        state = init_fn(params) if opt_state is None else jax.lax.stop_gradient(opt_state)
        grad_fn = jax.grad(discriminator_cost)
        for _ in range(num_steps):
            updates, state = update_fn(grad_fn(params), state, params)
            # Catches update_fn returning (state, updates), or updates of another tree; the
            # structures first, since chex's tree-shape message spans lines on a structure mismatch.
            message = "update_fn must return (updates shaped like params, state)"
            chex.assert_equal(jax.tree.structure(updates), jax.tree.structure(params), custom_message=message)
            chex.assert_trees_all_equal_shapes(params, updates, custom_message=message)
            params = jax.tree.map(jnp.add, params, updates)
    cost = generator_cost(params)
    chex.assert_rank(cost, 0, custom_message="generator_cost must return a scalar")
    return cost
