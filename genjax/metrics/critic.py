"""An independent WGAN-GP critic as a two-sample distance: its value gap on held-out data.

Train a fresh critic f, an MLP, to maximise E_real f - E_fake f - λ GP on half
of each set (the gradient penalty of Gulrajani et al. 2017 keeps f close to
1-Lipschitz); report E_real f - E_fake f on the other halves. By
Kantorovich-Rubinstein duality the held-out gap estimates the Wasserstein-1
distance, and it is not the
generator's own critic, which would have been trained against the samples it
judges (Arjovsky et al. 2017; Danihelka et al. 2017 use such independent
critics to compare generators).

The penalty is soft, so the estimate is biased upward for distant sets: for two
unit Gaussians a distance s apart, the penalised optimum is the linear critic
with slope 1 + s / (2 λ) and the gap is s (1 + s / (2 λ)) (3.45 for s = 3,
λ = 10). Compare figures computed with the same λ, not with W1 itself.
"""

from __future__ import annotations

from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp

Array = jax.Array

__all__ = ["CriticDistance", "wasserstein_critic_distance"]


class CriticDistance(NamedTuple):
    """The held-out value gap (the estimate) and the gap on the critic's own training halves."""

    distance: Array
    train_gap: Array


def _gradient_penalty(key: Array, critic, real: Array, fake: Array) -> Array:
    """E (||grad f(x_hat)|| - 1)^2 on random real-fake segments (Gulrajani et al. 2017).

    Written here rather than imported from `genjax.losses` (the metrics layer only
    imports the foundations); the tiny epsilon keeps the norm's gradient finite at 0.
    """
    eps = jax.random.uniform(key, (real.shape[0], 1))
    x_hat = eps * real + (1.0 - eps) * fake
    grads = jax.grad(lambda x: jnp.sum(critic(x)))(x_hat)  # examples do not interact: per-example grads
    return jnp.mean((jnp.sqrt(jnp.sum(grads**2, axis=1) + 1e-12) - 1.0) ** 2)


def _init_mlp(rng: Array, sizes: list[int]) -> list[tuple[Array, Array]]:
    keys = jax.random.split(rng, len(sizes) - 1)
    return [
        (jax.random.normal(k, (m, n)) * jnp.sqrt(2.0 / m), jnp.zeros(n))
        for k, m, n in zip(keys, sizes[:-1], sizes[1:], strict=True)
    ]


def _mlp(params: list[tuple[Array, Array]], x: Array) -> Array:
    for weights, bias in params[:-1]:
        x = jax.nn.leaky_relu(x @ weights + bias, 0.2)
    weights, bias = params[-1]
    return (x @ weights + bias)[:, 0]


def wasserstein_critic_distance(
    rng: Array,
    real,
    fake,
    *,
    hidden_size: int = 128,
    num_layers: int = 2,
    num_steps: int = 1000,
    batch_size: int = 256,
    learning_rate: float = 1e-3,
    gp_weight: float = 10.0,
    test_fraction: float = 0.5,
) -> CriticDistance:
    """Trains a gradient-penalised critic on part of ``real`` and ``fake``; its gap on the rest.

    Args:
      rng: key for the split, the critic's init, its minibatches and the penalty.
      real: `[N, ...]` data (held out from the generator's training).
      fake: `[M, ...]` model samples, same trailing shape.
      hidden_size, num_layers: the critic MLP (leaky ReLU 0.2).
      num_steps, batch_size, learning_rate: Adam (b1 = 0.5, b2 = 0.9, as WGAN-GP).
      gp_weight: λ of the penalty.
      test_fraction: the share of each set held out for the reported gap.
    Returns:
      `CriticDistance`: ``distance`` (held-out E_real f - E_fake f, >= 0 up to noise)
      and ``train_gap`` (the same on the training halves; a much larger value means
      the critic overfits and the estimate should use more data).
    """
    real = jnp.asarray(real, jnp.float32).reshape(len(real), -1)
    fake = jnp.asarray(fake, jnp.float32).reshape(len(fake), -1)
    chex.assert_equal_shape_suffix([real, fake], 1, custom_message="real and fake: same features")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    split_key, init_key, train_key = jax.random.split(rng, 3)
    real_key, fake_key = jax.random.split(split_key)

    def split(key, x):
        x = jax.random.permutation(key, x)
        num_test = max(1, int(round(test_fraction * len(x))))
        return x[num_test:], x[:num_test]

    (real_train, real_test), (fake_train, fake_test) = split(real_key, real), split(fake_key, fake)
    params = _init_mlp(init_key, [real.shape[1], *([hidden_size] * num_layers), 1])
    import optax  # here, not at the top: importing genjax.metrics stays free of optax

    optimizer = optax.adam(learning_rate, b1=0.5, b2=0.9)

    def critic_loss(params, key):
        real_key, fake_key, gp_key = jax.random.split(key, 3)
        real_batch = real_train[jax.random.randint(real_key, (batch_size,), 0, len(real_train))]
        fake_batch = fake_train[jax.random.randint(fake_key, (batch_size,), 0, len(fake_train))]
        critic = lambda x: _mlp(params, x)  # noqa: E731
        gap = jnp.mean(critic(real_batch)) - jnp.mean(critic(fake_batch))
        return -gap + gp_weight * _gradient_penalty(gp_key, critic, real_batch, fake_batch)

    def step(carry, key):
        params, opt_state = carry
        grads = jax.grad(critic_loss)(params, key)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), None

    @jax.jit
    def train_and_measure(params, key):
        (params, _), _ = jax.lax.scan(
            step, (params, optimizer.init(params)), jax.random.split(key, num_steps)
        )

        def gap(r, f):
            return jnp.mean(_mlp(params, r)) - jnp.mean(_mlp(params, f))

        return CriticDistance(gap(real_test, fake_test), gap(real_train, fake_train))

    return train_and_measure(params, train_key)
