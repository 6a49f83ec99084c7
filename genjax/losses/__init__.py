"""Pure objectives: functions of arrays and callables, usable from any JAX code.

One file per family; every public name is re-exported here, e.g.
``genjax.losses.elbo``.
"""

from genjax.losses.vae import elbo, gaussian_kl, iwae_bound, reparameterize

__all__ = ["elbo", "gaussian_kl", "iwae_bound", "reparameterize"]
