"""Samplers as pure functions: whole chains run inside one jitted loop.

The diffusion forward process and schedules they use live in `genjax.diffusion`.
"""

from genjax.samplers.autoregressive import (
    bernoulli_logit_sampler,
    sample_autoregressive,
    sample_autoregressive_incremental,
    sample_binary_autoregressive,
    sample_image_autoregressive,
)
from genjax.samplers.diffusion import ddim_sample, ddim_timesteps, ddpm_sample
from genjax.samplers.guidance import classifier_free_guidance, guidance_combine
from genjax.samplers.langevin import annealed_langevin, geometric_sigmas, langevin, mala
from genjax.samplers.replay_buffer import (
    ReplayBuffer,
    replay_buffer_init,
    replay_buffer_sample,
    replay_buffer_update,
)
from genjax.samplers.tempering import (
    TemperedSMCResult,
    effective_sample_size,
    geometric_betas,
    systematic_resample,
    tempered_smc,
)

__all__ = [
    "ReplayBuffer",
    "TemperedSMCResult",
    "annealed_langevin",
    "bernoulli_logit_sampler",
    "classifier_free_guidance",
    "ddim_sample",
    "ddim_timesteps",
    "ddpm_sample",
    "effective_sample_size",
    "geometric_betas",
    "geometric_sigmas",
    "guidance_combine",
    "langevin",
    "mala",
    "replay_buffer_init",
    "replay_buffer_sample",
    "replay_buffer_update",
    "sample_autoregressive",
    "sample_autoregressive_incremental",
    "sample_binary_autoregressive",
    "sample_image_autoregressive",
    "systematic_resample",
    "tempered_smc",
]
