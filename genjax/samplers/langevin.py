"""Langevin samplers for energy-based and score-based models; every chain runs in one ``lax.scan``.

All three use the same update, with ``eps = step_size``:

    x <- x + eps * grad log p(x) + sqrt(2 * eps) * z,    z ~ N(0, I),

the Euler-Maruyama step of the Langevin diffusion dx = grad log p(x) dt + sqrt(2) dW, whose
stationary law is p (the form of the original NCSN code and of blackjax; Song & Ermon's paper
writes the step as alpha = 2 * eps).

* `langevin`: the unadjusted Langevin algorithm (ULA; Roberts & Tweedie, 1996). The
  discretisation biases its stationary law: for a Gaussian with precision eigenvalue lam the
  stationary variance along that eigenvector is 1 / (lam * (1 - eps * lam / 2)), not 1 / lam
  (it solves v = (1 - eps * lam)^2 v + 2 eps). Short-run EBM training (Du & Mordatch, 2019;
  Nijkamp et al., 2019) often shrinks the noise and clips gradients; both are options.
* `mala`: Metropolis-adjusted Langevin (Roberts & Tweedie, 1996): the ULA move is a proposal
  that a Metropolis-Hastings test accepts or rejects, so p is exactly invariant for any step.
* `annealed_langevin`: annealed Langevin dynamics (Song & Ermon, 2019, Algorithm 1): ULA on
  the noised densities p_sigma for decreasing sigma, with step eps_i = step_size * sigma_i^2 /
  sigma_last^2, optionally ending with the Tweedie denoising step x + sigma^2 * score(x, sigma)
  (Jolicoeur-Martineau et al., 2021; Song & Ermon, 2020).
* `geometric_sigmas`: the geometric noise ladder those models are trained and sampled with.
"""

from __future__ import annotations

from collections.abc import Callable

import chex
import jax
import jax.numpy as jnp
import numpy as np

from genjax.reduce import sum_except_batch

Array = jax.Array
Scalar = float | Array


def _expand(per_example: Array, like: Array) -> Array:
    """Reshapes `[N]` to `[N, 1, ...]` so it broadcasts against ``like [N, ...]``."""
    return per_example.reshape(per_example.shape + (1,) * (like.ndim - 1))


def _clip_per_example(grad: Array, max_norm: Scalar) -> Array:
    """Rescales each example's gradient to L2 norm at most ``max_norm`` (direction kept)."""
    norm = jnp.sqrt(sum_except_batch(jnp.square(grad)))
    # The tiny floor only guards 0/0; a zero gradient has scale 1 and stays zero.
    scale = jnp.minimum(1.0, max_norm / jnp.maximum(norm, jnp.finfo(grad.dtype).tiny))
    return grad * _expand(scale.astype(grad.dtype), grad)


def _check_steps(num_steps: int, name: str = "num_steps") -> None:
    if not isinstance(num_steps, (int, np.integer)) or num_steps < 0:
        raise ValueError(f"{name} must be a non-negative int, got {num_steps!r}")


def _check_chains(x0: Array, **scalars: Scalar | None) -> None:
    """x0 is a batch of chains `[N, ...]`; each named option is None or one scalar for all chains."""
    chex.assert_shape(x0, (None, ...), custom_message="x0 must be a batch of chains [N, ...]")
    for name, value in scalars.items():
        if value is not None:
            chex.assert_rank(value, 0, custom_message=f"{name} must be a scalar")


def _check_like(value: Array, x: Array, what: str) -> None:
    chex.assert_equal_shape([value, x], custom_message=f"{what} must return an array shaped like x")


def langevin(
    rng: Array,
    grad_log_prob: Callable[[Array], Array],
    x0: Array,
    *,
    step_size: Scalar,
    num_steps: int,
    noise_scale: Scalar | None = None,
    grad_clip: Scalar | None = None,
) -> Array:
    """Unadjusted Langevin algorithm: ``x <- x + eps * g(x) + sqrt(2 * eps) * z``, eps = step_size.

    With the default noise the chain targets p up to an O(eps) discretisation bias. A number
    for ``noise_scale`` replaces sqrt(2 * step_size) by that standard deviation, as in
    short-run EBM training (Du & Mordatch, 2019; Nijkamp et al., 2019); the chain then no
    longer targets p (with less noise it concentrates near the modes), and is a learned
    sampler rather than an MCMC method.

    Args:
      rng: PRNG key; step i draws its noise from the i-th of ``split(rng, num_steps)``.
      grad_log_prob: `x [N, ...] -> [N, ...]`, the gradient of log p per example (the score,
        or minus the energy gradient).
      x0: `[N, ...]` initial states.
      step_size: eps; a Python float or a (possibly traced) JAX scalar.
      num_steps: number of updates (static).
      noise_scale: None for sqrt(2 * step_size); otherwise the noise standard deviation.
      grad_clip: optional maximum L2 norm of each example's gradient (over all its axes).
    Returns:
      `[N, ...]` final states.
    """
    _check_steps(num_steps)
    x0 = jnp.asarray(x0)
    _check_chains(x0, step_size=step_size, noise_scale=noise_scale, grad_clip=grad_clip)
    eps = jnp.asarray(step_size, x0.dtype)
    noise_std = jnp.sqrt(2.0 * eps) if noise_scale is None else jnp.asarray(noise_scale, x0.dtype)

    def step(x, key):
        grad = grad_log_prob(x)
        _check_like(grad, x, "grad_log_prob(x)")
        if grad_clip is not None:
            grad = _clip_per_example(grad, grad_clip)
        z = jax.random.normal(key, x.shape, x.dtype)
        return x + eps * grad + noise_std * z, None

    x, _ = jax.lax.scan(step, x0, jax.random.split(rng, num_steps))
    return x


def _log_prob_and_grad(log_prob: Callable[[Array], Array], x: Array) -> tuple[Array, Array]:
    """Per-example log p `[N]` and its gradient `[N, ...]` in one backward pass.

    Examples are independent, so the gradient of the sum is the per-example gradient.
    """

    def total(y):
        values = log_prob(y)
        chex.assert_shape(values, (y.shape[0],), custom_message="log_prob(x) must return [N], one per chain")
        return jnp.sum(values), values

    (_, values), grad = jax.value_and_grad(total, has_aux=True)(x)
    return values, grad


def _log_proposal(to: Array, frm: Array, grad_frm: Array, eps: Array) -> Array:
    """log q(to | frm) up to a constant, `[N]`: q = N(frm + eps * grad(frm), 2 * eps * I).

    The normalising constant is the same in both directions, so it cancels in the MH ratio.
    """
    return -sum_except_batch(jnp.square(to - frm - eps * grad_frm)) / (4.0 * eps)


def mala(
    rng: Array,
    log_prob: Callable[[Array], Array],
    x0: Array,
    *,
    step_size: Scalar,
    num_steps: int,
    return_acceptance: bool = False,
) -> Array | tuple[Array, Array]:
    """Metropolis-adjusted Langevin: a ULA proposal accepted with the Metropolis-Hastings test.

    Each chain proposes y = x + eps * g(x) + sqrt(2 * eps) * z (eps = step_size, g = grad log p)
    and moves to y with probability

        min(1, p(y) q(x | y) / (p(x) q(y | x))),    q(b | a) = N(b; a + eps * g(a), 2 * eps * I),

    computed in log space. The proposal is not symmetric, so both q terms are needed; with
    them p is exactly invariant whatever the step size. The log density and gradient at the
    current state are carried through the scan, so each step costs one value-and-gradient.
    A proposal whose log density is NaN is rejected.

    Args:
      rng: PRNG key.
      log_prob: `x [N, ...] -> [N]` unnormalised log density per example (independent chains).
      x0: `[N, ...]` initial states.
      step_size: eps; a Python float or a (possibly traced) JAX scalar.
      num_steps: number of proposals (static).
      return_acceptance: also return each chain's mean acceptance probability.
    Returns:
      `[N, ...]` final states, and with ``return_acceptance`` also `[N]`: the mean over steps of
      the acceptance probability min(1, ratio) (the Rao-Blackwellised acceptance rate, the same
      in expectation as the fraction of accepted moves but less noisy); zeros if num_steps is 0.
    """
    _check_steps(num_steps)
    x0 = jnp.asarray(x0)
    _check_chains(x0, step_size=step_size)
    eps = jnp.asarray(step_size, x0.dtype)
    noise_std = jnp.sqrt(2.0 * eps)

    def step(carry, key):
        x, lp_x, grad_x, accept_sum = carry
        noise_key, accept_key = jax.random.split(key)
        y = x + eps * grad_x + noise_std * jax.random.normal(noise_key, x.shape, x.dtype)
        lp_y, grad_y = _log_prob_and_grad(log_prob, y)
        log_ratio = lp_y - lp_x + _log_proposal(x, y, grad_y, eps) - _log_proposal(y, x, grad_x, eps)
        log_ratio = jnp.where(jnp.isnan(log_ratio), -jnp.inf, log_ratio)
        log_u = jnp.log(jax.random.uniform(accept_key, lp_x.shape, lp_x.dtype))
        accept = log_u < log_ratio  # [N]
        x = jnp.where(_expand(accept, x), y, x)
        lp_x = jnp.where(accept, lp_y, lp_x)
        grad_x = jnp.where(_expand(accept, grad_x), grad_y, grad_x)
        accept_sum = accept_sum + jnp.exp(jnp.minimum(log_ratio, 0.0))
        return (x, lp_x, grad_x, accept_sum), None

    lp0, grad0 = _log_prob_and_grad(log_prob, x0)
    init = (x0, lp0, grad0, jnp.zeros_like(lp0))
    (x, _, _, accept_sum), _ = jax.lax.scan(step, init, jax.random.split(rng, num_steps))
    if return_acceptance:
        return x, accept_sum / max(num_steps, 1)
    return x


def annealed_langevin(
    rng: Array,
    score_fn: Callable[[Array, Array], Array],
    x0: Array,
    sigmas: Array,
    *,
    step_size: Scalar,
    steps_per_sigma: int,
    final_denoise: bool = False,
    noise_scale: Scalar | None = None,
) -> Array:
    """Annealed Langevin dynamics (Song & Ermon, 2019, Algorithm 1) in one ``lax.scan``.

    For each noise level sigma_i (decreasing), ``steps_per_sigma`` ULA steps on p_{sigma_i}:

        x <- x + eps_i * s(x, sigma_i) + sqrt(2 * eps_i) * z,   eps_i = step_size * sigma_i^2 / sigma_last^2,

    (the paper's alpha_i is 2 * eps_i). Scaling the step with sigma_i^2 keeps the
    signal-to-noise ratio of the update the same at every level. The per-step sigma and eps
    are precomputed, so all levels share one scan of ``len(sigmas) * steps_per_sigma`` steps.

    Args:
      rng: PRNG key.
      score_fn: `(x [N, ...], sigma [N]) -> [N, ...]`, the score of the sigma-noised data.
      x0: `[N, ...]` initial states (e.g. uniform noise).
      sigmas: `[L]` decreasing noise levels.
      step_size: eps at the last level; a Python float or a (possibly traced) JAX scalar.
      steps_per_sigma: ULA steps per level (static).
      final_denoise: end with one noise-free Tweedie step x + sigma_last^2 * s(x, sigma_last),
        the posterior mean E[x_clean | x] (Jolicoeur-Martineau et al., 2021; Song & Ermon, 2020).
      noise_scale: None for the exact sqrt(2 * eps_i); a number is the noise standard deviation
        at the last level, scaled by sigma_i / sigma_last at level i (as sqrt(2 * eps_i) is).
        The chain then no longer targets p_sigma.
    Returns:
      `[N, ...]` final samples.
    """
    _check_steps(steps_per_sigma, "steps_per_sigma")
    x0 = jnp.asarray(x0)
    _check_chains(x0, step_size=step_size, noise_scale=noise_scale)
    sigmas = jnp.asarray(sigmas, x0.dtype)
    chex.assert_rank(sigmas, 1, custom_message="sigmas must have shape [L] with L >= 1")
    chex.assert_axis_dimension_gteq(sigmas, 0, 1, custom_message="sigmas must have shape [L] with L >= 1")
    num_examples = x0.shape[0]
    sigma_last = sigmas[-1]
    level_eps = jnp.asarray(step_size, x0.dtype) * jnp.square(sigmas / sigma_last)
    if noise_scale is None:
        level_noise = jnp.sqrt(2.0 * level_eps)
    else:
        level_noise = jnp.asarray(noise_scale, x0.dtype) * sigmas / sigma_last
    # One entry per step: level i repeated steps_per_sigma times.
    step_sigma, step_eps, step_noise = (
        jnp.repeat(a, steps_per_sigma) for a in (sigmas, level_eps, level_noise)
    )
    keys = jax.random.split(rng, step_sigma.shape[0])

    def step(x, inputs):
        key, sigma, eps, noise_std = inputs
        score = score_fn(x, jnp.full((num_examples,), sigma, x.dtype))
        _check_like(score, x, "score_fn(x, sigma)")
        z = jax.random.normal(key, x.shape, x.dtype)
        return x + eps * score + noise_std * z, None

    x, _ = jax.lax.scan(step, x0, (keys, step_sigma, step_eps, step_noise))
    if final_denoise:
        last = jnp.full((num_examples,), sigma_last, x.dtype)
        x = x + jnp.square(sigma_last) * score_fn(x, last)
    return x


def geometric_sigmas(sigma_max: float, sigma_min: float, num: int) -> Array:
    """`[num]` float32 noise levels from ``sigma_max`` down to ``sigma_min``, constant ratio.

    Consecutive levels have ratio (sigma_min / sigma_max)^(1 / (num - 1)); both endpoints are
    included (``num == 1`` gives ``[sigma_max]``).
    """
    if not isinstance(num, (int, np.integer)) or num < 1:
        raise ValueError(f"num must be a positive int, got {num!r}")
    if not 0 < sigma_min <= sigma_max:
        raise ValueError(f"need 0 < sigma_min <= sigma_max, got sigma_min={sigma_min}, sigma_max={sigma_max}")
    # In float64 first, so the float32 endpoints are the rounded inputs exactly.
    return jnp.asarray(np.geomspace(sigma_max, sigma_min, num), jnp.float32)
