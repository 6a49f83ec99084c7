"""The diffusion process as pure functions: noise schedules, the forward process q, the posterior
q(x_{t-1} | x_t, x_0) and the Gaussian reverse step that the losses and the samplers share.

The forward process (Sohl-Dickstein et al. 2015; Ho et al. 2020, "Denoising
Diffusion Probabilistic Models") adds Gaussian noise in T steps,

    q(x_t | x_{t-1}) = N(sqrt(alpha_t) x_{t-1}, beta_t I),   alpha_t = 1 - beta_t,

so that, with abar_t = prod_{s <= t} alpha_s,

    q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I)
    q(x_{t-1} | x_t, x_0) = N(coef1_t x_0 + coef2_t x_t, beta_tilde_t I),
    beta_tilde_t = beta_t (1 - abar_{t-1}) / (1 - abar_t).

Timesteps are 0-based: t = 0 is the first noising step, x_0 is data and the
``x_t`` at index t is Ho et al.'s x_{t+1}; ``abar_{-1} = 1``. Data live in [-1, 1].
The network is a noise predictor ``eps_fn(x_t [N, ...], t [N] int32) -> eps_hat``:
x_0 is then estimated as (x_t - sqrt(1 - abar_t) eps_hat) / sqrt(abar_t).

The DDPM/DDIM samplers live in `genjax.samplers`, the loss and the bound in
`genjax.losses`; both import this module. Schedules: linear (Ho et
al. 2020) and cosine (Nichol & Dhariwal 2021, "Improved DDPM").
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array
EpsFn = Callable[[Array, Array], Array]  # (x_t [N, ...], t [N] int32) -> eps_hat [N, ...]

VARIANCES = ("beta", "posterior")
SCHEDULES = ("linear", "cosine")


class DiffusionSchedule(NamedTuple):
    """Per-timestep constants of a T-step diffusion, each a float32 array `[T]` (a pytree).

    Fields (0-based t): ``betas``; ``alphas = 1 - betas``; ``alpha_bars`` (cumulative
    product); ``alpha_bars_prev`` (abar_{t-1}, with abar_{-1} = 1);
    ``sqrt_alpha_bars``; ``sqrt_one_minus_alpha_bars``; ``posterior_variance``
    (beta_tilde_t, 0 at t = 0); ``posterior_log_variance_clipped`` (its log with t = 0
    replaced by t = 1's, as Ho et al.: log 0 would be -inf); ``posterior_mean_coef1``,
    ``posterior_mean_coef2`` (the x_0 and x_t weights of the posterior mean).
    """

    betas: Array
    alphas: Array
    alpha_bars: Array
    alpha_bars_prev: Array
    sqrt_alpha_bars: Array
    sqrt_one_minus_alpha_bars: Array
    posterior_variance: Array
    posterior_log_variance_clipped: Array
    posterior_mean_coef1: Array
    posterior_mean_coef2: Array

    @property
    def num_steps(self) -> int:
        """T (static: read from the shape)."""
        return self.betas.shape[0]


def make_schedule(betas: np.ndarray | Array) -> DiffusionSchedule:
    """Builds every schedule constant from ``betas [T]`` in float64 numpy, stored as float32.

    float64 because 1 - abar_t and beta_tilde_t lose most of their digits in
    float32 at small t (beta_0 = 1e-4).
    """
    betas = np.asarray(betas, dtype=np.float64)
    if betas.ndim != 1 or betas.shape[0] < 2:
        raise ValueError(f"betas must be a 1-D array of at least 2 steps, got shape {betas.shape}")
    if not np.all((betas > 0) & (betas < 1)):
        raise ValueError("betas must lie in (0, 1)")
    alphas = 1.0 - betas
    alpha_bars = np.cumprod(alphas)
    alpha_bars_prev = np.concatenate([[1.0], alpha_bars[:-1]])
    posterior_variance = betas * (1.0 - alpha_bars_prev) / (1.0 - alpha_bars)
    fields = dict(
        betas=betas,
        alphas=alphas,
        alpha_bars=alpha_bars,
        alpha_bars_prev=alpha_bars_prev,
        sqrt_alpha_bars=np.sqrt(alpha_bars),
        sqrt_one_minus_alpha_bars=np.sqrt(1.0 - alpha_bars),
        posterior_variance=posterior_variance,
        posterior_log_variance_clipped=np.log(np.append(posterior_variance[1], posterior_variance[1:])),
        posterior_mean_coef1=betas * np.sqrt(alpha_bars_prev) / (1.0 - alpha_bars),
        posterior_mean_coef2=(1.0 - alpha_bars_prev) * np.sqrt(alphas) / (1.0 - alpha_bars),
    )
    return DiffusionSchedule(**{name: jnp.asarray(value, jnp.float32) for name, value in fields.items()})


def linear_betas(
    num_steps: int, *, beta_start: float = 1e-4, beta_end: float = 0.02, rescale: bool = True
) -> np.ndarray:
    """Betas evenly spaced from ``beta_start`` to ``beta_end`` (Ho et al. 2020), float64 `[T]`.

    Ho et al. use exactly 1e-4 .. 0.02 for T = 1000. With ``rescale`` both ends are
    multiplied by 1000 / T (as improved DDPM does), so that another T discretises
    roughly the same continuous process (sum of betas, hence abar_T, about
    unchanged); T = 1000 is unaffected. Raises when a rescaled beta reaches 1
    (T below ~20 with the defaults).
    """
    scale = 1000.0 / num_steps if rescale else 1.0
    start, end = beta_start * scale, beta_end * scale
    if not 0.0 < start <= end < 1.0:
        raise ValueError(
            f"linear betas must satisfy 0 < beta_start <= beta_end < 1 after rescaling by 1000/T, got "
            f"{start:g} .. {end:g} for num_steps={num_steps}; "
            "use more steps, a smaller beta_end or rescale=False"
        )
    return np.linspace(start, end, num_steps, dtype=np.float64)


def cosine_betas(num_steps: int, *, s: float = 0.008, max_beta: float = 0.999) -> np.ndarray:
    """Nichol & Dhariwal's (2021) cosine schedule, float64 `[T]`.

    abar(u) = f(u) / f(0), f(u) = cos^2((u + s) / (1 + s) * pi / 2) on u in [0, 1];
    beta_t = min(1 - abar((t + 1) / T) / abar(t / T), max_beta), so the schedule's
    alpha_bars follow abar((t + 1) / T) until a beta is clipped (at the very end,
    where abar -> 0 would make beta_{T-1} = 1).
    """

    def f(u: np.ndarray) -> np.ndarray:
        return np.cos((u + s) / (1.0 + s) * math.pi / 2.0) ** 2

    grid = np.arange(num_steps + 1, dtype=np.float64) / num_steps
    alpha_bar = f(grid) / f(0.0)
    return np.minimum(1.0 - alpha_bar[1:] / alpha_bar[:-1], max_beta)


def beta_schedule(name: str, num_steps: int) -> np.ndarray:
    """Betas `[T]` by name: "linear" (rescaled to T, see `linear_betas`) or "cosine"."""
    if name == "linear":
        return linear_betas(num_steps)
    if name == "cosine":
        return cosine_betas(num_steps)
    raise ValueError(f"unknown beta schedule {name!r}; allowed: {', '.join(SCHEDULES)}")


def at_timestep(values: Array, t: Array, x: Array) -> Array:
    """values[t] `[N]` reshaped to broadcast against x `[N, ...]`."""
    return values[t].reshape(t.shape + (1,) * (x.ndim - 1))


def _check_timesteps(x: Array, t: Array, name: str = "x_t") -> None:
    """x `[N, ...]` and one timestep per example, t `[N]` (a scalar t would broadcast wrongly)."""
    chex.assert_shape(x, (None, ...), custom_message=f"{name} must be a batch [N, ...]")
    chex.assert_shape(t, (x.shape[0],), custom_message=f"t must be [N], one timestep per example of {name}")


def q_sample(x0: Array, t: Array, noise: Array, schedule: DiffusionSchedule) -> Array:
    """Draws x_t ~ q(x_t | x_0) = sqrt(abar_t) x_0 + sqrt(1 - abar_t) noise.

    Args:
      x0, noise: `[N, ...]`; t: `[N]` int.
    Returns:
      x_t `[N, ...]`.
    """
    _check_timesteps(x0, t, "x0")
    chex.assert_equal_shape([x0, noise], custom_message="x0 and noise must have the same shape")
    return (
        at_timestep(schedule.sqrt_alpha_bars, t, x0) * x0
        + at_timestep(schedule.sqrt_one_minus_alpha_bars, t, x0) * noise
    )


def q_posterior(x0: Array, x_t: Array, t: Array, schedule: DiffusionSchedule) -> tuple[Array, Array, Array]:
    """q(x_{t-1} | x_t, x_0): (mean `[N, ...]`, variance, log_variance broadcastable `[N, 1, ...]`).

    The log-variance is the clipped one (t = 0's equals t = 1's); at t = 0 the
    true posterior is a point mass at x_0 (mean = x_0, variance 0).
    """
    _check_timesteps(x_t, t)
    chex.assert_equal_shape([x0, x_t], custom_message="x0 and x_t must have the same shape")
    mean = (
        at_timestep(schedule.posterior_mean_coef1, t, x_t) * x0
        + at_timestep(schedule.posterior_mean_coef2, t, x_t) * x_t
    )
    variance = at_timestep(schedule.posterior_variance, t, x_t)
    log_variance = at_timestep(schedule.posterior_log_variance_clipped, t, x_t)
    return mean, variance, log_variance


def predict_x0(x_t: Array, t: Array, eps: Array, schedule: DiffusionSchedule) -> Array:
    """Inverts q_sample for x_0 given the noise: (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t), `[N, ...]`."""
    _check_timesteps(x_t, t)
    chex.assert_equal_shape([x_t, eps], custom_message="eps must be shaped like x_t")
    noise_part = at_timestep(schedule.sqrt_one_minus_alpha_bars, t, x_t) * eps
    return (x_t - noise_part) / at_timestep(schedule.sqrt_alpha_bars, t, x_t)


def check_variance(name: str) -> None:
    """Raises ValueError unless ``name`` is ``beta`` or ``posterior`` (a scalar check of an option)."""
    if name not in VARIANCES:
        raise ValueError(f"unknown variance {name!r}; allowed: {', '.join(VARIANCES)}")


def model_log_variance(t: Array, schedule: DiffusionSchedule, *, variance: str = "beta") -> Array:
    """log sigma_t^2 `[N]` of the reverse step p(x_{t-1} | x_t).

    "beta": log beta_t; "posterior": log beta_tilde_t. At t = 0 both use beta_tilde
    at t = 1, as Ho et al.'s code does (there it only sets the decoder's scale:
    samplers add no noise at the last step).
    """
    check_variance(variance)
    if variance == "beta":
        log_var = jnp.log(schedule.betas).at[0].set(schedule.posterior_log_variance_clipped[0])
    else:
        log_var = schedule.posterior_log_variance_clipped
    return log_var[t]


def p_mean_variance(
    eps_fn: EpsFn,
    x_t: Array,
    t: Array,
    schedule: DiffusionSchedule,
    *,
    variance: str = "beta",
    clip_denoised: bool = True,
) -> tuple[Array, Array, Array]:
    """The reverse step p(x_{t-1} | x_t) = N(mean, exp(log_variance)): one network call.

    With ``clip_denoised`` the predicted x_0 is clipped to [-1, 1] and the mean is
    the posterior mean q(x_{t-1} | x_t, x_0_hat) (Ho et al.'s code path); without,
    mean = (x_t - beta_t / sqrt(1 - abar_t) eps_hat) / sqrt(alpha_t), which is the
    same posterior mean written in eps.

    Args:
      x_t: `[N, ...]`; t: `[N]` int32.
    Returns:
      mean `[N, ...]`, log_variance `[N, 1, ...]`, predicted x_0 `[N, ...]` (clipped if asked).
    """
    _check_timesteps(x_t, t)
    eps = eps_fn(x_t, t)
    chex.assert_equal_shape([eps, x_t], custom_message="eps_fn(x_t, t) must return an array shaped like x_t")
    x0 = predict_x0(x_t, t, eps, schedule)
    if clip_denoised:
        x0 = jnp.clip(x0, -1.0, 1.0)
        mean = q_posterior(x0, x_t, t, schedule)[0]
    else:
        noise_coef = at_timestep(schedule.betas / schedule.sqrt_one_minus_alpha_bars, t, x_t)
        mean = (x_t - noise_coef * eps) / at_timestep(jnp.sqrt(schedule.alphas), t, x_t)
    log_var = model_log_variance(t, schedule, variance=variance)
    return mean, log_var.reshape(t.shape + (1,) * (x_t.ndim - 1)), x0
