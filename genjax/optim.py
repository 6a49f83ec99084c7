"""Optimizers per player, built from ``config.optim.<player>``, and parameter projections.

Both the train step and the families that unroll an optimiser inside a loss
(the unrolled GAN) build optimizers here, so neither imports the other.

Fields (each optional but ``learning_rate``):
  name            adam | adamw | sgd | rmsprop | lamb          (default adam)
  learning_rate   > 0
  schedule        constant | cosine | warmup_cosine            (default constant)
  warmup_steps    for warmup_cosine                            (default 0)
  b1, b2          Adam moments                                 (default 0.9, 0.999)
  eps_root        adam / adamw: inside the square root; > 0 makes the update
                  differentiable at zero gradients (unrolled GANs)  (default 0)
  weight_decay    adamw / lamb                                 (default 1e-4)
  momentum        sgd                                          (default 0.0)
  grad_clip_norm  clip the global gradient norm, 0 = off       (default 0)
  updates_per_step  updates this player takes per train step, e.g. WGAN's n_critic
  weight_clip     after each update, clip every parameter to [-c, c], 0 = off  (default 0)
                  (the original WGAN's Lipschitz constraint on the critic)
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import optax

from genjax import fields
from genjax.errors import ConfigError

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop", "lamb")
SCHEDULES = ("constant", "cosine", "warmup_cosine")
Params = Any  # a parameter pytree


def _positive_number(value, field: str) -> float:
    return float(fields.check_number(value, field, positive=True))


def updates_per_step(config: ml_collections.ConfigDict, player: str) -> int:
    """How many updates ``player`` takes per train step (``optim.<player>.updates_per_step``, default 1)."""
    value = config.optim[player].get("updates_per_step", 1)
    return fields.check_number(value, f"optim.{player}.updates_per_step", integer=True, positive=True)


def make_schedule(opt: ml_collections.ConfigDict, field: str, total_steps: int) -> optax.Schedule:
    """The learning-rate schedule of one optimizer section over ``total_steps`` updates."""
    learning_rate = _positive_number(opt.get("learning_rate"), f"{field}.learning_rate")
    schedule = opt.get("schedule", "constant")
    if schedule == "constant":
        return optax.constant_schedule(learning_rate)
    if schedule == "cosine":
        return optax.cosine_decay_schedule(learning_rate, max(total_steps, 1))
    if schedule == "warmup_cosine":
        warmup = int(opt.get("warmup_steps", 0))
        return optax.warmup_cosine_decay_schedule(0.0, learning_rate, warmup, max(total_steps, warmup + 1))
    raise ConfigError(f"{field}.schedule: got {schedule!r}; allowed: {', '.join(SCHEDULES)}")


def clip_weights(params: Params, clip: float) -> Params:
    """Every leaf clipped elementwise to [−clip, clip]: the original WGAN's crude Lipschitz constraint."""
    return jax.tree.map(lambda leaf: jnp.clip(leaf, -clip, clip), params)


def clip_params(clip: float) -> optax.GradientTransformation:
    """A projection after the update: parameters land in ``[-clip, clip]`` (WGAN, Arjovsky et al. 2017).

    Written as an update, ``clip(p + u) - p``, so the train step stays the only
    place that applies updates.
    """

    def update(updates, state, params):
        if params is None:
            raise ValueError("clip_params needs the parameters: pass params to update()")
        clipped = clip_weights(optax.apply_updates(params, updates), clip)
        projected = jax.tree.map(lambda new, old: new - old, clipped, params)
        return projected, state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


def player_schedule(
    config: ml_collections.ConfigDict, player: str, *, schedule_steps: int | None = None
) -> optax.Schedule:
    """``player``'s learning rate as a function of its update count.

    Args:
      schedule_steps: the horizon in train steps (default ``train.num_steps``); a
        resumed run passes the horizon stored in its checkpoint.
    """
    field = f"optim.{player}"
    if "optim" not in config or player not in config.optim:
        raise ConfigError(f"{field}: missing; every player needs an optimizer section")
    horizon = config.train.num_steps if schedule_steps is None else schedule_steps
    return make_schedule(config.optim[player], field, horizon * max(updates_per_step(config, player), 1))


def is_constant(config: ml_collections.ConfigDict, player: str) -> bool:
    """True when ``player``'s learning rate does not depend on the schedule horizon."""
    return config.optim[player].get("schedule", "constant") == "constant"


def make_optimizer(
    config: ml_collections.ConfigDict, player: str, *, schedule_steps: int | None = None
) -> optax.GradientTransformation:
    """The optax transformation for one player, validated with one-line errors.

    ``schedule_steps`` is the schedule's horizon in train steps (default ``train.num_steps``).
    """
    schedule = player_schedule(config, player, schedule_steps=schedule_steps)
    field = f"optim.{player}"
    opt = config.optim[player]
    name = opt.get("name", "adam")
    if name == "adam":
        tx = optax.adam(
            schedule, b1=opt.get("b1", 0.9), b2=opt.get("b2", 0.999), eps_root=opt.get("eps_root", 0.0)
        )
    elif name == "adamw":
        tx = optax.adamw(
            schedule,
            b1=opt.get("b1", 0.9),
            b2=opt.get("b2", 0.999),
            eps_root=opt.get("eps_root", 0.0),
            weight_decay=opt.get("weight_decay", 1e-4),
        )
    elif name == "sgd":
        tx = optax.sgd(schedule, momentum=opt.get("momentum", 0.0) or None)
    elif name == "rmsprop":
        tx = optax.rmsprop(schedule)
    elif name == "lamb":
        tx = optax.lamb(schedule, weight_decay=opt.get("weight_decay", 1e-4))
    else:
        raise ConfigError(f"{field}.name: got {name!r}; allowed: {', '.join(OPTIMIZERS)}")
    clip = opt.get("grad_clip_norm", 0.0)
    if clip:
        tx = optax.chain(optax.clip_by_global_norm(_positive_number(clip, f"{field}.grad_clip_norm")), tx)
    weight_clip = opt.get("weight_clip", 0.0)
    if weight_clip:
        tx = optax.chain(tx, clip_params(_positive_number(weight_clip, f"{field}.weight_clip")))
    return tx


def make_optimizers(
    config: ml_collections.ConfigDict, players, *, schedule_steps: int | None = None
) -> dict[str, optax.GradientTransformation]:
    """One optax transformation per player, in the order of ``players``.

    With ``train.grad_accum_steps`` k > 1 each is wrapped in ``optax.MultiSteps``:
    the train step feeds it k micro-batch gradients, it applies their mean once
    (zero updates in between), so its inner count, and the schedule, advance once
    per k micro-batches.
    """
    accum = grad_accum_steps(config)
    optimizers = {player: make_optimizer(config, player, schedule_steps=schedule_steps) for player in players}
    if accum > 1:
        optimizers = {
            player: optax.MultiSteps(tx, every_k_schedule=accum).gradient_transformation()
            for player, tx in optimizers.items()
        }
    return optimizers


def grad_accum_steps(config: ml_collections.ConfigDict) -> int:
    """``train.grad_accum_steps`` (default 1): micro-batches per batch, one update per batch."""
    value = config.train.get("grad_accum_steps", 1)
    return fields.check_number(value, "train.grad_accum_steps", integer=True, positive=True)
