"""Pure objectives: functions of arrays and callables, usable from any JAX code.

One file per family; every public name is re-exported here, e.g.
``genjax.losses.elbo``.
"""

from genjax.losses.fgan import (
    F_DIVERGENCES,
    FDivergence,
    fgan_bound,
    fgan_discriminator_loss,
    fgan_generator_loss,
)
from genjax.losses.flows import (
    dequantized_log_prob,
    flow_log_prob,
    inverse_logit_transform,
    logit_transform,
    uniform_dequantize,
)
from genjax.losses.gan import (
    clip_weights,
    discriminator_loss,
    generator_loss,
    gradient_penalty,
    r1_penalty,
    unrolled_generator_loss,
)
from genjax.losses.vae import elbo, gaussian_kl, iwae_bound, reparameterize

__all__ = [
    "F_DIVERGENCES",
    "FDivergence",
    "clip_weights",
    "dequantized_log_prob",
    "discriminator_loss",
    "elbo",
    "fgan_bound",
    "fgan_discriminator_loss",
    "fgan_generator_loss",
    "flow_log_prob",
    "gaussian_kl",
    "generator_loss",
    "gradient_penalty",
    "inverse_logit_transform",
    "iwae_bound",
    "logit_transform",
    "r1_penalty",
    "reparameterize",
    "uniform_dequantize",
    "unrolled_generator_loss",
]
