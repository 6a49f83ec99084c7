"""Samplers as pure functions: whole chains run inside one jitted loop."""

from genjax.samplers.autoregressive import (
    bernoulli_logit_sampler,
    sample_autoregressive,
    sample_autoregressive_incremental,
    sample_binary_autoregressive,
    sample_image_autoregressive,
)
from genjax.samplers.diffusion import (
    DiffusionSchedule,
    beta_schedule,
    cosine_betas,
    ddim_sample,
    ddim_timesteps,
    ddpm_sample,
    linear_betas,
    make_schedule,
    model_log_variance,
    p_mean_variance,
    predict_x0,
    q_posterior,
    q_sample,
)
from genjax.samplers.langevin import annealed_langevin, geometric_sigmas, langevin, mala

__all__ = [
    "DiffusionSchedule",
    "annealed_langevin",
    "bernoulli_logit_sampler",
    "beta_schedule",
    "cosine_betas",
    "ddim_sample",
    "ddim_timesteps",
    "ddpm_sample",
    "geometric_sigmas",
    "langevin",
    "linear_betas",
    "make_schedule",
    "mala",
    "model_log_variance",
    "p_mean_variance",
    "predict_x0",
    "q_posterior",
    "q_sample",
    "sample_autoregressive",
    "sample_autoregressive_incremental",
    "sample_binary_autoregressive",
    "sample_image_autoregressive",
]
