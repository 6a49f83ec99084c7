"""Pure objectives: functions of arrays and callables, usable from any JAX code.

One file per family; every public name is re-exported here, e.g.
``genjax.losses.elbo``.
"""

from genjax.losses.flows import (
    dequantized_log_prob,
    flow_log_prob,
    inverse_logit_transform,
    logit_transform,
    uniform_dequantize,
)
from genjax.losses.vae import elbo, gaussian_kl, iwae_bound, reparameterize

__all__ = [
    "dequantized_log_prob",
    "elbo",
    "flow_log_prob",
    "gaussian_kl",
    "inverse_logit_transform",
    "iwae_bound",
    "logit_transform",
    "reparameterize",
    "uniform_dequantize",
]
