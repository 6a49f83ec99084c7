"""A replay buffer of Markov-chain states, for persistent and replay-buffer contrastive divergence.

Chains that start where earlier chains ended mix over many training steps
(Tieleman 2008, persistent CD; Du & Mordatch 2019, a buffer whose entries are
restarted from noise with a small probability). The buffer is a NamedTuple of
arrays, so it lives in ``TrainState.model_state``, jits and checkpoints; the
functions here are the pure init / sample / update triple.
"""

from __future__ import annotations

from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp

Array = jax.Array


class ReplayBuffer(NamedTuple):
    """Stored chain states, `samples: [N, ...]`; a pytree, so it jits and checkpoints."""

    samples: Array


def replay_buffer_init(initial: Array) -> ReplayBuffer:
    """A buffer holding ``initial`` (`[N, ...]`, typically noise) as its N chains."""
    initial = jnp.asarray(initial)
    chex.assert_shape(initial, (None, ...), custom_message="initial must be a batch of chain states [N, ...]")
    return ReplayBuffer(samples=initial)


def replay_buffer_sample(
    rng: Array,
    buffer: ReplayBuffer,
    batch_size: int,
    fresh: Array,
    *,
    reinit_prob: float = 0.05,
) -> tuple[Array, Array]:
    """Starting points for a batch of chains: stored chain ends, some restarted from noise.

    Indices are uniform and distinct when ``batch_size <= N`` (so writing the
    chain ends back with :func:`replay_buffer_update` is unambiguous); with
    ``batch_size == N`` they are a permutation of the whole buffer. When
    ``batch_size > N`` they are drawn with replacement, and an update keeps
    one of the duplicates' results (which one is unspecified).

    Persistent CD: ``batch_size = N`` and ``reinit_prob = 0``.

    Args:
      rng: PRNG key.
      buffer: N stored states.
      batch_size: static.
      fresh: `[batch_size, ...]` fresh starts (e.g. uniform noise), each used
        instead of the stored state with probability ``reinit_prob``.
      reinit_prob: per-example restart probability.
    Returns:
      ``(x_init [batch_size, ...], indices [batch_size] int32)``; a restarted
      chain still carries its index, so its end replaces that buffer slot.
    """
    num_chains = buffer.samples.shape[0]
    chex.assert_shape(
        fresh,
        (batch_size, *buffer.samples.shape[1:]),
        custom_message="fresh must be [batch_size, ...] like a chain",
    )
    index_rng, reinit_rng = jax.random.split(rng)
    if batch_size <= num_chains:
        indices = jax.random.choice(index_rng, num_chains, (batch_size,), replace=False)
    else:
        indices = jax.random.randint(index_rng, (batch_size,), 0, num_chains)
    restart = jax.random.bernoulli(reinit_rng, reinit_prob, (batch_size,))
    restart = restart.reshape((-1,) + (1,) * (fresh.ndim - 1))
    x_init = jnp.where(restart, fresh.astype(buffer.samples.dtype), buffer.samples[indices])
    return x_init, indices.astype(jnp.int32)


def replay_buffer_update(buffer: ReplayBuffer, indices: Array, new_samples: Array) -> ReplayBuffer:
    """Write chain ends back: ``samples[indices] = new_samples``.

    Args:
      buffer: N stored states.
      indices: `[batch]` from :func:`replay_buffer_sample`.
      new_samples: `[batch, ...]`.
    Returns:
      The updated buffer (a new value; the input is not modified).
    """
    chex.assert_rank(indices, 1, custom_message="indices must be [batch]")
    chex.assert_shape(
        new_samples,
        (indices.shape[0], *buffer.samples.shape[1:]),
        custom_message="new_samples must be [batch, ...], one stored state per index",
    )
    new_samples = jax.lax.stop_gradient(new_samples).astype(buffer.samples.dtype)
    return ReplayBuffer(samples=buffer.samples.at[indices].set(new_samples))
