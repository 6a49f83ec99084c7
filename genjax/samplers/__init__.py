"""Samplers as pure functions: whole chains run inside one jitted loop."""

from genjax.samplers.autoregressive import (
    bernoulli_logit_sampler,
    sample_autoregressive,
    sample_autoregressive_incremental,
    sample_binary_autoregressive,
    sample_image_autoregressive,
)

__all__ = [
    "bernoulli_logit_sampler",
    "sample_autoregressive",
    "sample_autoregressive_incremental",
    "sample_binary_autoregressive",
    "sample_image_autoregressive",
]
