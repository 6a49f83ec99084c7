"""The family bundle: the few pure functions every model family builds.

The training loop, checkpointing, evaluation and sampling binaries only ever see
this bundle, so one loop serves VAEs, flows, GANs, autoregressive, energy-based
and diffusion models alike.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp

Array = jax.Array
Params = dict[str, Any]  # {player_name: parameter pytree}, plus any buffers (see update_buffers)
Batch = Mapping[str, Array]  # {"x": [B, ...], optional "label": [B], "cond": [B, ...], "mask": [B]}
LossFn = Callable[[Params, Batch, Array], tuple[Array, dict[str, Array]]]
OptStates = Mapping[str, Any]  # {player_name: that player's current optax state}


@dataclasses.dataclass(frozen=True)
class GenerativeModel:
    """What a family's ``build(config)`` returns.

    Attributes:
      init: ``(rng, batch) -> params``, a dict with one parameter pytree per player.
      losses: per player, in update order: ``(params, batch, rng) -> (scalar, metrics)``.
        Each player minimises its own loss over ``params[player]`` only; the
        train step is the only place that turns losses into updates.
      sample: ``(params, rng, num_samples) -> [N, *element_shape]``. Conditional models
        also take ``cond=`` (labels `[N]` or a conditioning array `[N, ...]`; default: a row
        of every class in turn), and guided samplers ``guidance_scale=``.
      log_prob: ``(params, batch, rng) -> [B]`` nats, exact or a stated bound or
        estimate; None for families without a likelihood (GANs). Conditional models
        return log p(x | y) with y from ``batch["label"]`` or ``batch["cond"]``.
      eval_metrics: optional ``(params, batch, rng) -> {name: [B]}``: extra
        per-example test metrics (e.g. the ELBO beside the IWAE estimate). The
        loop averages them over the test split, honouring ``batch["mask"]``.
      element_shape: shape of one example, e.g. ``(8, 8, 1)`` or ``(2,)``.
      init_model_state: optional ``(rng, batch) -> model_state``: arrays the model
        carries between steps without differentiating them, e.g. persistent
        Langevin chains or a replay buffer for contrastive divergence. They live in
        ``TrainState.model_state``, so checkpoints hold them and resume is exact.
      advance_model_state: optional ``(params, model_state, batch, rng) ->
        (model_state, batch)``, run at the start of every train step before any
        loss: it may advance the chains with the current parameters and add
        entries to the batch (e.g. ``"x_model"``) that the losses read.
      update_buffers: optional ``(params, batch, rng) -> (params, metrics)``, run at
        the end of every train step, after every player's gradient update, with
        that step's fresh parameters. Buffers are entries of ``params`` under keys
        that are not players (no loss differentiates them and no optimizer sees
        them): EMA codebooks, running code statistics, a KDE's kernel centres. It
        may also re-initialise rows of a player's parameters (dead-code restarts).
        Its scalar metrics join the step's metrics under their own names.
      convolutional: the losses run XLA convolution ops (``conv_general_dilated``);
        layers built from shifted slices and matmuls (the masked PixelCNN layers,
        WaveNet) do not count. A record of the program, checked against the loss's
        jaxpr by a test; the train step no longer reads it: since issue 18 every
        family's K steps run in one ``lax.scan`` (docs/decisions.md).
      conditioning: a conditional model p(x | y) (``model.conditional``): what y is (a
        `genjax.models.conditioning.Conditioning`); None for p(x). Its losses, ``log_prob``
        and ``eval_metrics`` read y from the batch.
      losses_read_opt_state: the players whose loss also takes the optimizer states,
        called ``(params, batch, rng, opt_state=states)`` with ``states`` the current
        ``{player: optax state}`` of every player (as the step holds them when that
        player's update starts; constants, never differentiated). For a loss that
        looks ahead through another player's real optimizer: the unrolled GAN's
        generator unrolls the critic from its live Adam moments and count. Every
        other loss keeps the three-argument call.
    """

    init: Callable[[Array, Batch], Params]
    losses: Mapping[str, LossFn]
    sample: Callable[[Params, Array, int], Array]
    log_prob: Callable[[Params, Batch, Array], Array] | None
    element_shape: tuple[int, ...]
    eval_metrics: Callable[[Params, Batch, Array], dict[str, Array]] | None = None
    init_model_state: Callable[[Array, Batch], Any] | None = None
    advance_model_state: Callable[[Params, Any, Batch, Array], tuple[Any, Batch]] | None = None
    update_buffers: Callable[[Params, Batch, Array], tuple[Params, dict[str, Array]]] | None = None
    convolutional: bool = False
    conditioning: Any = None
    losses_read_opt_state: tuple[str, ...] = ()

    @property
    def players(self) -> tuple[str, ...]:
        """The keys of ``losses``; any other key of ``params`` is a buffer."""
        return tuple(self.losses)


def masked_mean(values: Array, batch: Batch) -> Array:
    """Mean of per-example ``values`` `[B]` over the rows ``batch["mask"]`` marks as real.

    Evaluation pads its last batch; padded rows carry mask 0 and must not count.
    """
    mask = batch.get("mask")
    if mask is None:
        return jnp.mean(values)
    return jnp.sum(values * mask) / jnp.maximum(jnp.sum(mask), 1.0)
