"""Energy-based models: contrastive divergence and NCE.

An energy ``E_θ(x)`` defines ``p_θ(x) = exp(-E_θ(x)) / Z_θ``. Since
``∇_θ log Z_θ = -E_{p_θ}[∇_θ E_θ]``, the negative log-likelihood gradient is

    ∇_θ E_data[-log p_θ(x)] = E_data[∇_θ E_θ(x)] - E_{p_θ}[∇_θ E_θ(x)],

which :func:`contrastive_divergence` estimates with samples from an MCMC
sampler ("model samples"). How those chains are started names the method:

* CD-k (Hinton, 2002): chains start at the data batch.
* Persistent CD (Tieleman, 2008): chains continue from where the last step
  left them; here a replay buffer (`genjax.samplers.replay_buffer`) with ``batch_size == N`` and
  ``reinit_prob = 0``, so every chain is drawn (as a permutation) and advanced.
* Replay buffer (Du & Mordatch, 2019): a random subset of stored chain ends,
  each replaced by fresh noise with probability ``reinit_prob`` (5%).
* Short-run CD (Nijkamp et al., 2019): chains from noise at each step, no
  buffer; the sampler alone suffices.

Noise-contrastive estimation (Gutmann & Hyvärinen, 2010) instead fits an
unnormalised model and its log-normaliser by classifying data against samples
of a known noise density; see :func:`nce_loss`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import chex
import jax
import jax.numpy as jnp

Array = jax.Array

__all__ = [
    "contrastive_divergence",
    "nce_loss",
]


def _check_samples(x_data: Array, x_other: Array, name: str) -> None:
    """Both batches `[N, ...]` with the same event shape (their sizes may differ)."""
    chex.assert_shape(x_data, (None, ...), custom_message="x_data must be a batch [N, ...]")
    chex.assert_shape(
        x_other,
        (None, *x_data.shape[1:]),
        custom_message=f"{name} must be [N', ...] with x_data's event shape",
    )


def _per_example(fn: Callable[[Array], Array], x: Array, name: str) -> Array:
    """``fn(x)``, checked to be one value per example `[N]` (an `[N, 1]` output would broadcast)."""
    values = fn(x)
    chex.assert_shape(values, (x.shape[0],), custom_message=f"{name}(x) must return [N] for x [N, ...]")
    return values


def contrastive_divergence(
    energy_fn: Callable[[Array], Array],
    x_data: Array,
    x_model: Array,
    *,
    energy_l2: float = 0.0,
) -> Array:
    """``mean E(x_data) - mean E(x_model)`` (+ Du & Mordatch's energy magnitude penalty).

    Sign convention: p ∝ exp(-E), so low energy = high density. Minimising this
    lowers the energy of data and raises that of model samples; its gradient
    with respect to the energy's parameters is the maximum-likelihood gradient
    ``∇_θ E_data[-log p_θ]`` when ``x_model ~ p_θ``. ``x_model`` goes through
    ``stop_gradient``: no gradient flows into the sampler that produced it.
    The value itself is not a log-likelihood (log Z is missing) and may be
    negative.

    Args:
      energy_fn: ``x [N, ...] -> [N]``.
      x_data: `[N_data, ...]`.
      x_model: `[N_model, ...]`; the two batch sizes may differ.
      energy_l2: α of ``α (mean E_data² + mean E_model²)`` (Du & Mordatch, 2019),
        which keeps energies near zero so that they do not drift.
    Returns:
      A scalar.
    """
    _check_samples(x_data, x_model, "x_model")
    energy_data = _per_example(energy_fn, x_data, "energy_fn")
    energy_model = _per_example(energy_fn, jax.lax.stop_gradient(x_model), "energy_fn")
    loss = jnp.mean(energy_data) - jnp.mean(energy_model)
    if energy_l2:
        loss = loss + energy_l2 * (jnp.mean(energy_data**2) + jnp.mean(energy_model**2))
    return loss


def nce_loss(
    log_unnormalized: Callable[[Array], Array],
    noise_log_prob: Callable[[Array], Array],
    x_data: Array,
    x_noise: Array,
    log_normalizer: Array | float,
) -> Array:
    """Noise-contrastive estimation (Gutmann & Hyvärinen, 2010), to be minimised.

    With ``log p_model(x) = f(x) - c`` (c = ``log_normalizer``, learned like any
    parameter) and ν = N_noise / N_data, a logistic classifier with logit

        G(x) = log p_model(x) - log ν - log p_noise(x)

    tells data from noise; the loss is its negative log-likelihood per data point,

        mean_data softplus(-G) + ν · mean_noise softplus(G)

    (``softplus(-G) = -log σ(G)``, stable for large |G|). If the model family
    contains the data density, the minimiser (as samples grow) is that density
    with c the true log Z: the normaliser is learned, not assumed. The noise
    density should be normalised, easy to sample and cover the data.

    Args:
      log_unnormalized: ``x [N, ...] -> [N]``, the model's f(x).
      noise_log_prob: ``x [N, ...] -> [N]``, the normalised noise log-density.
      x_data: `[N_data, ...]`.
      x_noise: `[N_noise, ...]` samples of the noise.
      log_normalizer: scalar c.
    Returns:
      A scalar.
    """
    _check_samples(x_data, x_noise, "x_noise")
    chex.assert_rank(log_normalizer, 0, custom_message="log_normalizer must be a scalar")
    nu = x_noise.shape[0] / x_data.shape[0]
    log_nu = math.log(nu)

    def logit(x: Array) -> Array:
        model = _per_example(log_unnormalized, x, "log_unnormalized")
        return model - log_normalizer - log_nu - _per_example(noise_log_prob, x, "noise_log_prob")

    return jnp.mean(jax.nn.softplus(-logit(x_data))) + nu * jnp.mean(jax.nn.softplus(logit(x_noise)))
