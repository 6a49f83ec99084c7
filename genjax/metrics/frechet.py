"""The Fréchet distance between Gaussian fits of two feature sets (the "FID" of Heusel et al. 2017).

Heusel et al. ("GANs Trained by a Two Time-Scale Update Rule Converge to a
Local Nash Equilibrium", NeurIPS 2017) compare generated and real images by
fitting one Gaussian to each set of network features and taking the squared
2-Wasserstein (Fréchet) distance between the two Gaussians:

    FD = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2)).

With Inception-v3 pool3 features this is FID; the functions here take any
features ``[N, D]``.

**The trace term without a general matrix square root.** ``S1 S2`` is not
symmetric, and the usual ``scipy.linalg.sqrtm`` of it is slow, can return
complex values and loses accuracy when the covariances are rank deficient
(fewer samples than features). Instead, with ``R = S1^(1/2)`` from a symmetric
eigendecomposition of S1, ``S1 S2 = R (R S2)`` has the same eigenvalues as
``R S2 R``, which is symmetric positive semi-definite, so

    tr((S1 S2)^(1/2)) = sum_i sqrt(max(lambda_i(R S2 R), 0)),

two ``eigh`` calls on symmetric matrices. Eigenvalues that rounding pushes
below zero are clipped to zero (both for R and for the trace term).

**Precision: numpy float64, by choice.** JAX runs in float32 unless
``jax_enable_x64`` is set, and a library should not flip that global flag.
The Fréchet distance of two close feature sets is a small difference of
large traces (about 1e2 to 1e3 for Inception features), so float32 would lose
most of its digits. Every function here therefore converts its inputs to
numpy float64 on the host: `feature_statistics` pulls ``chunk_size`` rows at a
time (a JAX array is sliced on its device, only the chunk is copied and
upcast) and merges the per-chunk means and centred scatter matrices exactly
(the pairwise update of Chan, Golub and LeVeque), so 50k x 2048 float32
features need only the input itself, one float64 chunk and two ``[D, D]``
float64 accumulators, and a large common offset in the features does not
cancel away the covariance. The eigen step is ``numpy.linalg.eigh`` in
float64. These functions accept numpy or JAX arrays from any code and return
Python floats / numpy arrays; they are reporting metrics, not traced (do not
call them under ``jax.jit``), and they carry no gradient.

Covariances use the unbiased ``1 / (N - 1)`` normalisation, as ``numpy.cov``
and the common FID implementations (pytorch-fid, torch-fidelity) do, so
statistics saved here and reference ``.npz`` files written by those tools
(keys ``mu`` and ``sigma``) are interchangeable.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import chex
import numpy as np
from jax.typing import ArrayLike

# Rows pulled to the host and upcast at once: 4096 x 2048 float64 is 64 MiB.
_DEFAULT_CHUNK_SIZE = 4096


def _check_features(feats: ArrayLike, name: str) -> ArrayLike:
    """``feats`` must be ``[N, D]`` with N >= 2 (the unbiased covariance divides by N - 1).

    Arrays (numpy or JAX) are returned as they are, so chunks can be sliced on
    their device; anything else (nested lists) becomes a numpy array.
    """
    if not hasattr(feats, "shape"):
        feats = np.asarray(feats)
    chex.assert_rank(feats, 2, custom_message=f"{name} must be features [N, D]")
    if feats.shape[0] < 2:
        raise ValueError(f"{name} needs at least 2 rows for a covariance, got {feats.shape[0]}")
    return feats


def feature_statistics(
    feats: ArrayLike, *, chunk_size: int = _DEFAULT_CHUNK_SIZE
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased covariance of a feature set, accumulated in float64 chunks.

    Each chunk of at most ``chunk_size`` rows is copied to the host as float64,
    centred on its own mean, and merged into the running mean and scatter
    matrix with the exact pairwise update
    ``M = M_a + M_b + (mean_b - mean_a)(mean_b - mean_a)^T n_a n_b / (n_a + n_b)``.
    The result equals ``(feats.mean(0), numpy.cov(feats, rowvar=False))`` in
    float64 up to rounding, whatever the chunk size.

    Args:
      feats: `[N, D]` features (numpy or JAX, any float dtype), N >= 2.
      chunk_size: rows upcast at a time; peak extra memory is about
        ``chunk_size * D + 2 * D * D`` float64 numbers.
    Returns:
      ``(mu, sigma)``: `[D]` and `[D, D]` float64 numpy arrays.
    """
    feats = _check_features(feats, "feats")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be positive, got {chunk_size}")
    num_rows, dim = feats.shape
    count = 0
    mean = np.zeros(dim, np.float64)
    scatter = np.zeros((dim, dim), np.float64)
    for start in range(0, num_rows, chunk_size):
        chunk = np.asarray(feats[start : start + chunk_size], dtype=np.float64)
        chunk_count = chunk.shape[0]
        chunk_mean = chunk.mean(axis=0)
        centred = chunk - chunk_mean
        delta = chunk_mean - mean
        total = count + chunk_count
        scatter += centred.T @ centred + np.outer(delta, delta) * (count * chunk_count / total)
        mean += delta * (chunk_count / total)
        count = total
    sigma = scatter / (count - 1)
    return mean, 0.5 * (sigma + sigma.T)


def _check_statistics(mu: np.ndarray, sigma: np.ndarray, name: str) -> None:
    """``mu: [D]`` and ``sigma: [D, D]``, finite."""
    chex.assert_rank(mu, 1, custom_message=f"{name}: mu must be a mean vector [D]")
    chex.assert_shape(
        sigma, (mu.shape[0], mu.shape[0]), custom_message=f"{name}: sigma must be [D, D], D as mu"
    )
    if not (np.all(np.isfinite(mu)) and np.all(np.isfinite(sigma))):
        raise ValueError(f"{name}: the statistics contain non-finite values")


def _psd_sqrt(sigma: np.ndarray) -> np.ndarray:
    """`[D, D]` symmetric -> its symmetric PSD square root, negative eigenvalues clipped to 0."""
    eigenvalues, eigenvectors = np.linalg.eigh(0.5 * (sigma + sigma.T))
    return (eigenvectors * np.sqrt(np.maximum(eigenvalues, 0.0))) @ eigenvectors.T


def frechet_distance_from_stats(
    mu1: ArrayLike, sigma1: ArrayLike, mu2: ArrayLike, sigma2: ArrayLike
) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2), in float64 (Heusel et al. 2017).

    ``|mu1 - mu2|^2 + tr(sigma1) + tr(sigma2) - 2 sum_i sqrt(max(lambda_i, 0))``
    with ``lambda_i`` the eigenvalues of ``R sigma2 R``, ``R = sigma1^(1/2)``
    from ``eigh`` (no general ``sqrtm``; see the module docstring). The
    covariances are symmetrised first; they may be singular. Rounding can
    make a distance of two (nearly) identical Gaussians a tiny negative
    number; the result is clipped at 0, its true lower bound.

    Args:
      mu1: `[D]` mean of the first Gaussian.
      sigma1: `[D, D]` its covariance (symmetric positive semi-definite).
      mu2: `[D]` mean of the second Gaussian.
      sigma2: `[D, D]` its covariance.
    Returns:
      the scalar squared Fréchet distance, a Python float >= 0.
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    _check_statistics(mu1, sigma1, "first set")
    _check_statistics(mu2, sigma2, "second set")
    chex.assert_equal_shape([mu1, mu2], custom_message="both sets need the same feature dimension D")
    root1 = _psd_sqrt(sigma1)
    middle = root1 @ (0.5 * (sigma2 + sigma2.T)) @ root1
    trace_sqrt = np.sum(np.sqrt(np.maximum(np.linalg.eigvalsh(0.5 * (middle + middle.T)), 0.0)))
    diff = mu1 - mu2
    distance = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_sqrt
    return max(float(distance), 0.0)


def frechet_distance(
    feats_a: ArrayLike, feats_b: ArrayLike, *, chunk_size: int = _DEFAULT_CHUNK_SIZE
) -> float:
    """Fréchet distance between Gaussian fits of two feature sets (FID on Inception features).

    `feature_statistics` of each set (float64, chunked), then
    `frechet_distance_from_stats`. Symmetric in its arguments up to rounding.
    Like every plug-in estimate it is biased upwards at finite N (Bińkowski
    et al. 2018), so compare values only at equal sample sizes.

    Args:
      feats_a: `[N, D]` features of the first set (e.g. generated), N >= 2.
      feats_b: `[M, D]` features of the second set (e.g. real), M >= 2, same D.
      chunk_size: rows upcast to float64 at a time.
    Returns:
      the scalar squared Fréchet distance, a Python float >= 0.
    """
    feats_a = _check_features(feats_a, "feats_a")
    feats_b = _check_features(feats_b, "feats_b")
    chex.assert_equal_shape_suffix(
        [feats_a, feats_b], 1, custom_message="feats_a and feats_b must have the same feature dimension D"
    )
    mu1, sigma1 = feature_statistics(feats_a, chunk_size=chunk_size)
    mu2, sigma2 = feature_statistics(feats_b, chunk_size=chunk_size)
    return frechet_distance_from_stats(mu1, sigma1, mu2, sigma2)


def save_statistics(path: str | os.PathLike, mu: ArrayLike, sigma: ArrayLike) -> Path:
    """Writes reference statistics to ``path`` as an uncompressed ``.npz`` with keys ``mu`` and ``sigma``.

    The file is written at exactly ``path`` (numpy's habit of appending
    ``.npz`` is avoided), in float64. Computing a reference set's statistics
    once and loading them later saves a pass over its features.

    Args:
      path: the file to write; its parent folder must exist.
      mu: `[D]` mean.
      sigma: `[D, D]` covariance.
    Returns:
      the written path, as a `pathlib.Path`.
    """
    mu, sigma = np.asarray(mu, np.float64), np.asarray(sigma, np.float64)
    _check_statistics(mu, sigma, str(path))
    path = Path(path)
    with open(path, "wb") as file:
        np.savez(file, mu=mu, sigma=sigma)
    return path


def load_statistics(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Reads statistics written by `save_statistics` (or any ``.npz`` with keys ``mu`` and ``sigma``).

    Args:
      path: an ``.npz`` file.
    Returns:
      ``(mu, sigma)``: `[D]` and `[D, D]` float64 numpy arrays.
    Raises:
      FileNotFoundError: no file at ``path``.
      ValueError: (one line, naming ``path``) the file is not an ``.npz``
        archive, lacks ``mu`` or ``sigma``, or holds arrays of the wrong shape
        or non-finite values.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no statistics file at {path}")
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise ValueError(f"{path}: not a readable .npz archive ({type(error).__name__})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"{path}: a single .npy array, expected an .npz archive with 'mu' and 'sigma'")
    with archive:
        missing = sorted({"mu", "sigma"} - set(archive.files))
        if missing:
            raise ValueError(f"{path}: missing key(s) {missing}; expected an .npz with 'mu' and 'sigma'")
        try:
            mu = np.asarray(archive["mu"], np.float64)
            sigma = np.asarray(archive["sigma"], np.float64)
        except (OSError, ValueError, TypeError, EOFError, zipfile.BadZipFile) as error:
            raise ValueError(f"{path}: unreadable mu or sigma ({type(error).__name__})") from None
    if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]):
        raise ValueError(f"{path}: expected mu [D] and sigma [D, D], got {mu.shape} and {sigma.shape}")
    if not (np.all(np.isfinite(mu)) and np.all(np.isfinite(sigma))):
        raise ValueError(f"{path}: the statistics contain non-finite values")
    return mu, sigma
