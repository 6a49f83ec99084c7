"""Evaluation metrics as pure functions of arrays."""

from genjax.metrics.birthday import BirthdayResult, birthday_paradox_support
from genjax.metrics.c2st import C2STResult, classifier_two_sample_test
from genjax.metrics.critic import CriticDistance, wasserstein_critic_distance
from genjax.metrics.frechet import (
    feature_statistics,
    frechet_distance,
    frechet_distance_from_stats,
    load_statistics,
    save_statistics,
)
from genjax.metrics.image_quality import power_spectrum_distance, psnr, radial_power_spectrum, ssim
from genjax.metrics.inception import am_score, inception_score, mode_score, modified_inception_score
from genjax.metrics.kid import kernel_inception_distance, kid_subset_indices, polynomial_kernel
from genjax.metrics.likelihood import bits_per_dim, perplexity
from genjax.metrics.memorisation import inversion_reconstruction_error, nearest_neighbour_distances
from genjax.metrics.ndb import NDBResult, number_of_different_bins
from genjax.metrics.parzen import gaussian_kde_log_prob, parzen_log_likelihood, select_parzen_bandwidth
from genjax.metrics.prdc import (
    BallIndicators,
    DensityCoverage,
    PrecisionRecall,
    ball_indicators,
    density_coverage,
    precision_recall,
)
from genjax.metrics.resampling import BootstrapResult, bootstrap
from genjax.metrics.sample_quality import median_bandwidth, mmd, mode_coverage, rbf_kernel

__all__ = [
    "BallIndicators",
    "ball_indicators",
    "BirthdayResult",
    "BootstrapResult",
    "C2STResult",
    "NDBResult",
    "birthday_paradox_support",
    "bootstrap",
    "classifier_two_sample_test",
    "number_of_different_bins",
    "CriticDistance",
    "DensityCoverage",
    "PrecisionRecall",
    "am_score",
    "bits_per_dim",
    "feature_statistics",
    "frechet_distance",
    "frechet_distance_from_stats",
    "kernel_inception_distance",
    "kid_subset_indices",
    "load_statistics",
    "polynomial_kernel",
    "save_statistics",
    "density_coverage",
    "inception_score",
    "inversion_reconstruction_error",
    "median_bandwidth",
    "mmd",
    "mode_coverage",
    "mode_score",
    "modified_inception_score",
    "nearest_neighbour_distances",
    "gaussian_kde_log_prob",
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
