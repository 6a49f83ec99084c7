"""Pure objectives: functions of arrays and callables, usable from any JAX code.

One file per family; every public name is re-exported here, e.g.
``genjax.losses.elbo``.
"""

from genjax.losses.autoencoder import (
    contractive_penalty,
    corrupt,
    sparsity_penalty,
)
from genjax.losses.conditioning import drop_labels
from genjax.losses.diffusion import (
    ddpm_bound_terms,
    ddpm_loss,
    ddpm_variational_bound,
)
from genjax.losses.ebm import (
    contrastive_divergence,
    nce_loss,
)
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
    uniform_dequantize,
)
from genjax.losses.gan import (
    discriminator_loss,
    generator_loss,
    gradient_penalty,
    r1_penalty,
    unrolled_generator_loss,
)
from genjax.losses.hierarchical import (
    HierarchicalTerms,
    elbo_from_log_weights,
    hierarchical_elbo,
    hierarchical_iwae_bound,
    hierarchical_terms,
    iwae_from_log_weights,
    precision_weighted_merge,
)
from genjax.losses.infovae import info_vae_objective, mmd_penalty
from genjax.losses.score import (
    denoising_score_matching,
    dsm_target,
    exact_score_matching,
    sliced_score_matching,
    sliced_score_matching_from_projections,
)
from genjax.losses.vae import elbo, gaussian_kl, iwae_bound, reparameterize
from genjax.losses.vq import (
    VQEMAState,
    VQOutput,
    ema_codebook_init,
    ema_codebook_update,
    vector_quantize,
)

__all__ = [
    "FDivergence",
    "F_DIVERGENCES",
    "HierarchicalTerms",
    "VQEMAState",
    "VQOutput",
    "contractive_penalty",
    "contrastive_divergence",
    "corrupt",
    "ddpm_bound_terms",
    "ddpm_loss",
    "ddpm_variational_bound",
    "denoising_score_matching",
    "dequantized_log_prob",
    "discriminator_loss",
    "drop_labels",
    "dsm_target",
    "elbo",
    "elbo_from_log_weights",
    "ema_codebook_init",
    "ema_codebook_update",
    "exact_score_matching",
    "fgan_bound",
    "fgan_discriminator_loss",
    "fgan_generator_loss",
    "flow_log_prob",
    "gaussian_kl",
    "generator_loss",
    "gradient_penalty",
    "hierarchical_elbo",
    "hierarchical_iwae_bound",
    "hierarchical_terms",
    "info_vae_objective",
    "iwae_bound",
    "iwae_from_log_weights",
    "mmd_penalty",
    "nce_loss",
    "precision_weighted_merge",
    "r1_penalty",
    "reparameterize",
    "sliced_score_matching",
    "sliced_score_matching_from_projections",
    "sparsity_penalty",
    "uniform_dequantize",
    "unrolled_generator_loss",
    "vector_quantize",
]
