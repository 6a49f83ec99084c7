"""Does the model copy its training set? Nearest training neighbours, and inversion by gradient descent.

`nearest_neighbour_distances` finds each sample's closest training example
(`genjax.visualize.save_nearest_neighbours` draws them side by side): samples
much closer to the training set than held-out data is are memorised.
`inversion_reconstruction_error` asks the converse for a generator: how well
can *some* latent reproduce a given image, min over z of ||G(z) - x||^2
(Metz et al. 2017 and Webster et al. 2019 use it to spot dropped modes and
memorisation: training images reconstructed far better than test images).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import chex
import jax
import jax.numpy as jnp

from genjax.metrics._batches import as_matrix

Array = jax.Array

__all__ = ["inversion_reconstruction_error", "nearest_neighbour_distances"]


def _float_matrix(x) -> Array:
    """`[N, ...]` -> `[N, D]` float32."""
    return as_matrix(x).astype(jnp.float32)


def nearest_neighbour_distances(train, samples, *, chunk_size: int = 1024) -> tuple[Array, Array]:
    """Each sample's Euclidean distance to its nearest training example, and that example's index.

    Args:
      train: `[N, ...]` training examples.
      samples: `[M, ...]` model samples, same trailing shape.
      chunk_size: samples per chunk (memory is `chunk_size x N` distances).
    Returns:
      ``(distances [M], indices [M])``; ``train[indices]`` are the neighbours.
    """
    train_flat, sample_flat = _float_matrix(train), _float_matrix(samples)
    chex.assert_equal_shape_suffix(
        [train_flat, sample_flat], 1, custom_message="train and samples: same features"
    )
    train_sq = jnp.sum(train_flat**2, axis=1)

    @jax.jit
    def nearest(chunk):
        sq = jnp.sum(chunk**2, axis=1, keepdims=True) - 2.0 * chunk @ train_flat.T + train_sq
        index = jnp.argmin(sq, axis=1)
        # The exact distance of the chosen pair, free of the expansion's cancellation.
        return jnp.linalg.norm(chunk - train_flat[index], axis=1), index

    pieces = [nearest(sample_flat[i : i + chunk_size]) for i in range(0, sample_flat.shape[0], chunk_size)]
    return jnp.concatenate([d for d, _ in pieces]), jnp.concatenate([i for _, i in pieces])


def inversion_reconstruction_error(
    rng: Array,
    generator_fn: Callable[[Array], Array],
    x,
    *,
    latent_shape: Sequence[int],
    num_steps: int = 500,
    learning_rate: float = 0.05,
    num_restarts: int = 1,
) -> tuple[Array, Array]:
    """min over z of ||G(z) - x||^2 per example, by Adam on z from N(0, I) starts.

    Args:
      rng: key for the starting latents.
      generator_fn: ``z [B, *latent_shape] -> [B, ...]`` images shaped like ``x``.
      x: `[B, ...]` targets.
      latent_shape: one latent's shape.
      num_steps: Adam steps per restart.
      learning_rate: Adam's step size.
      num_restarts: independent starts; the best per example is kept.
    Returns:
      ``(errors [B], latents [B, *latent_shape])``: the smallest squared error seen
      (summed over pixels) and the latent that reached it.
    """
    x = jnp.asarray(x, jnp.float32)
    chex.assert_shape(x, (None, ...), custom_message="x must be a batch [B, ...]")
    if num_steps < 1 or num_restarts < 1:
        raise ValueError(f"num_steps and num_restarts must be >= 1, got {num_steps}, {num_restarts}")
    batch = x.shape[0]
    import optax  # here, not at the top: importing genjax.metrics stays free of optax

    optimizer = optax.adam(learning_rate)

    def errors_of(z):  # [B]
        generated = generator_fn(z)
        chex.assert_equal_shape([generated, x], custom_message="generator_fn(z) must be shaped like x")
        return jnp.sum((generated - x).reshape(batch, -1) ** 2, axis=1)

    def one_restart(key):
        z0 = jax.random.normal(key, (batch, *latent_shape))

        def step(carry, _):
            z, opt_state, best_err, best_z = carry

            def total(z):
                per_example = errors_of(z)
                return jnp.sum(per_example), per_example

            (_, err), grads = jax.value_and_grad(total, has_aux=True)(z)  # err at z, before the update
            better = err < best_err
            best_z = jnp.where(better.reshape(-1, *([1] * len(latent_shape))), z, best_z)
            best_err = jnp.minimum(err, best_err)
            updates, opt_state = optimizer.update(grads, opt_state, z)
            return (optax.apply_updates(z, updates), opt_state, best_err, best_z), None

        init = (z0, optimizer.init(z0), jnp.full((batch,), jnp.inf), z0)
        (z, _, best_err, best_z), _ = jax.lax.scan(step, init, None, length=num_steps)
        final = errors_of(z)
        better = final < best_err
        return jnp.minimum(final, best_err), jnp.where(
            better.reshape(-1, *([1] * len(latent_shape))), z, best_z
        )

    errors, latents = jax.jit(jax.vmap(one_restart))(
        jax.random.split(rng, num_restarts)
    )  # [R, B], [R, B, ...]
    best = jnp.argmin(errors, axis=0)
    return jnp.min(errors, axis=0), latents[best, jnp.arange(batch)]
