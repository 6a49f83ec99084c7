"""Evaluation metrics as pure functions of arrays."""

from genjax.metrics.critic import CriticDistance, wasserstein_critic_distance
from genjax.metrics.image_quality import power_spectrum_distance, psnr, radial_power_spectrum, ssim
from genjax.metrics.inception_score import am_score, inception_score, mode_score, modified_inception_score
from genjax.metrics.likelihood import bits_per_dim, perplexity
from genjax.metrics.memorisation import inversion_reconstruction_error, nearest_neighbour_distances
from genjax.metrics.parzen import parzen_log_likelihood, select_parzen_bandwidth
from genjax.metrics.prdc import DensityCoverage, PrecisionRecall, density_coverage, precision_recall
from genjax.metrics.sample_quality import median_bandwidth, mmd, mode_coverage, rbf_kernel

__all__ = [
    "CriticDistance",
    "DensityCoverage",
    "PrecisionRecall",
    "am_score",
    "bits_per_dim",
    "density_coverage",
    "inception_score",
    "inversion_reconstruction_error",
    "median_bandwidth",
    "mmd",
    "mode_coverage",
    "mode_score",
    "modified_inception_score",
    "nearest_neighbour_distances",
    "parzen_log_likelihood",
    "perplexity",
    "power_spectrum_distance",
    "precision_recall",
    "psnr",
    "radial_power_spectrum",
    "rbf_kernel",
    "select_parzen_bandwidth",
    "ssim",
    "wasserstein_critic_distance",
]
