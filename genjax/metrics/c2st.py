"""Classifier two-sample test (C2ST), after Lopez-Paz & Oquab (ICLR 2017).

Lopez-Paz and Oquab ("Revisiting Classifier Two-Sample Tests", ICLR 2017)
turn any binary classifier into a two-sample test: label real samples 1 and
generated samples 0, train on one part of the pooled data and measure the
accuracy on the held-out part. If the two distributions are equal no
classifier beats chance, and the held-out accuracy of ``n_test`` independent
test points is a mean of Bernoulli(1/2) variables, approximately
``N(1/2, 1 / (4 n_test))``. Accuracy well above 1/2 rejects equality; the
accuracy itself is an interpretable effect size (1 means perfectly
separable), and the one-sided p-value is

    p = 1 - Phi((accuracy - 1/2) / sqrt(1 / (4 n_test))).

The classifier here is a one-hidden-layer ReLU MLP trained full-batch with
Adam on the logistic loss, written in plain JAX (no Flax) and jitted as one
``lax.scan``; inputs are standardised with the training split's statistics.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

Array = jax.Array


class C2STResult(NamedTuple):
    """What `classifier_two_sample_test` returns.

    Attributes:
      accuracy: scalar held-out accuracy in [0, 1] (chance is 1/2).
      p_value: scalar one-sided p-value of accuracy > 1/2 under N(1/2, 1 / (4 n_test)).
      num_test: scalar int, the number of held-out points n_test (half real, half fake).
    """

    accuracy: Array
    p_value: Array
    num_test: Array


def _as_matrix(x: ArrayLike) -> Array:
    """`[N, ...]` -> `[N, D]` float32 array."""
    x = jnp.asarray(x)
    chex.assert_rank(x, {2, 3, 4, 5}, custom_message="expected a batch of samples [N, ...]")
    return x.reshape(x.shape[0], -1).astype(jnp.float32)


def _init_mlp(rng: Array, num_inputs: int, hidden_size: int) -> dict[str, Array]:
    """Parameters of ``x -> w2 . relu(W1 x + b1) + b2`` with fan-in scaled normal weights."""
    k1, k2 = jax.random.split(rng)
    return {
        "w1": jax.random.normal(k1, (num_inputs, hidden_size)) * math.sqrt(2.0 / num_inputs),
        "b1": jnp.zeros((hidden_size,)),
        "w2": jax.random.normal(k2, (hidden_size,)) * math.sqrt(1.0 / hidden_size),
        "b2": jnp.zeros(()),
    }


def _logits(params: dict[str, Array], x: Array) -> Array:
    """`[N, D]` -> `[N]` logits of "real"."""
    return jax.nn.relu(x @ params["w1"] + params["b1"]) @ params["w2"] + params["b2"]


@functools.partial(jax.jit, static_argnums=(5, 6, 7))
def _train_and_score(
    rng: Array,
    x_train: Array,
    y_train: Array,
    x_test: Array,
    y_test: Array,
    hidden_size: int,
    num_steps: int,
    learning_rate: float,
) -> Array:
    """Trains the MLP on (x_train `[n, D]`, y_train `[n]` in {0, 1}); scalar accuracy on the test split."""
    mean = jnp.mean(x_train, axis=0)
    std = jnp.std(x_train, axis=0)
    std = jnp.where(std > 0, std, 1.0)
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    params = _init_mlp(rng, x_train.shape[1], hidden_size)
    import optax  # here, not at the top: importing genjax.metrics stays free of optax

    optimizer = optax.adam(learning_rate)

    def loss(params: dict[str, Array]) -> Array:
        return jnp.mean(optax.sigmoid_binary_cross_entropy(_logits(params, x_train), y_train))

    def step(carry, _):
        params, opt_state = carry
        grads = jax.grad(loss)(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), None

    (params, _), _ = jax.lax.scan(step, (params, optimizer.init(params)), None, length=num_steps)
    predictions = (_logits(params, x_test) > 0).astype(y_test.dtype)
    return jnp.mean(predictions == y_test)


def classifier_two_sample_test(
    rng: Array,
    real: ArrayLike,
    fake: ArrayLike,
    *,
    hidden_size: int = 64,
    num_steps: int = 500,
    learning_rate: float = 1e-2,
    test_fraction: float = 0.5,
) -> C2STResult:
    """Held-out accuracy of a classifier telling ``real`` from ``fake``, with its p-value.

    Both sets are shuffled (keyed by ``rng``) and cut to ``n = min(N, M)``
    rows each, so the classes are balanced and chance accuracy is exactly
    1/2. From each class ``round(test_fraction * n)`` rows are held out; the
    MLP (one hidden ReLU layer of ``hidden_size`` units, Adam, full batch,
    ``num_steps`` steps) trains on the rest. Under the null hypothesis that
    the two distributions are equal the held-out accuracy is approximately
    ``N(1/2, 1 / (4 n_test))`` and the returned p-value is the one-sided
    ``P(accuracy >= observed)`` (accuracy below 1/2 is chance, never evidence).

    Args:
      rng: PRNG key for the shuffle, the split and the initialisation.
      real: `[N, ...]` real samples or features (flattened to `[N, D]`).
      fake: `[M, ...]` generated samples, the same D.
      hidden_size: hidden units of the MLP.
      num_steps: full-batch Adam steps.
      learning_rate: Adam step size.
      test_fraction: share of each class held out for the test, in (0, 1).
    Returns:
      a `C2STResult` of scalars: ``accuracy``, ``p_value`` and ``num_test``.
    """
    real, fake = _as_matrix(real), _as_matrix(fake)
    chex.assert_equal_shape_suffix([real, fake], 1, custom_message="real and fake must have the same D")
    for name, value in (("hidden_size", hidden_size), ("num_steps", num_steps)):
        if not (isinstance(value, int) and value >= 1):
            raise ValueError(f"{name}: got {value!r}; must be an int >= 1")
    if not learning_rate > 0:
        raise ValueError(f"learning_rate: got {learning_rate!r}; must be > 0")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction: got {test_fraction!r}; must be in (0, 1)")
    n = min(real.shape[0], fake.shape[0])
    n_test = round(test_fraction * n)
    if not 1 <= n_test < n:
        raise ValueError(
            f"test_fraction: {test_fraction} of {n} rows per class leaves an empty train or test split"
        )
    real_key, fake_key, init_key = jax.random.split(rng, 3)
    real = jax.random.permutation(real_key, real)[:n]
    fake = jax.random.permutation(fake_key, fake)[:n]
    ones, zeros = jnp.ones((n,)), jnp.zeros((n,))
    x_train = jnp.concatenate([real[n_test:], fake[n_test:]])
    y_train = jnp.concatenate([ones[n_test:], zeros[n_test:]])
    x_test = jnp.concatenate([real[:n_test], fake[:n_test]])
    y_test = jnp.concatenate([ones[:n_test], zeros[:n_test]])
    accuracy = _train_and_score(
        init_key, x_train, y_train, x_test, y_test, hidden_size, num_steps, float(learning_rate)
    )
    num_test = 2 * n_test
    z = (accuracy - 0.5) * math.sqrt(4.0 * num_test)
    p_value = 0.5 * jax.scipy.special.erfc(z / math.sqrt(2.0))
    return C2STResult(accuracy=accuracy, p_value=p_value, num_test=jnp.asarray(num_test, jnp.int32))
