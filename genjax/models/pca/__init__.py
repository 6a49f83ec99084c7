"""PCA and probabilistic PCA: closed-form fits and exact likelihoods (`ppca`), and the ``pca`` family."""

from genjax.models.pca.ppca import (
    PPCAParams,
    explained_variance,
    explained_variance_ratio,
    fit_ppca,
    posterior_mean,
    ppca_log_prob,
    ppca_sample,
    reconstruct,
)

__all__ = [
    "PPCAParams",
    "explained_variance",
    "explained_variance_ratio",
    "fit_ppca",
    "posterior_mean",
    "ppca_log_prob",
    "ppca_sample",
    "reconstruct",
]
