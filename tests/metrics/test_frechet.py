"""Fréchet distance against scipy's sqrtm formula and Gaussian closed forms; chunked stats, .npz files."""

import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

from genjax.metrics import frechet


def random_covariance(rng, dim, scale=1.0):
    """A dense SPD matrix with a spread of eigenvalues (not close to a multiple of I)."""
    a = rng.normal(size=(dim, dim)) * scale
    return a @ a.T / dim + 0.1 * np.eye(dim)


def gaussian_features(rng, num, mean, cov):
    return rng.multivariate_normal(mean, cov, size=num)


def scipy_frechet(mu1, sigma1, mu2, sigma2):
    """The textbook formula with a general matrix square root (the pytorch-fid recipe)."""
    covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
    covmean = np.real(covmean)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def rotation(rng, dim):
    q, r = np.linalg.qr(rng.normal(size=(dim, dim)))
    return q * np.sign(np.diag(r))


def test_matches_scipy_sqrtm_on_random_gaussians():
    rng = np.random.default_rng(0)
    dim = 12
    feats_a = gaussian_features(rng, 400, rng.normal(size=dim), random_covariance(rng, dim))
    feats_b = gaussian_features(rng, 300, rng.normal(size=dim), random_covariance(rng, dim, 2.0))
    mu1, sigma1 = feats_a.mean(0), np.cov(feats_a, rowvar=False)
    mu2, sigma2 = feats_b.mean(0), np.cov(feats_b, rowvar=False)
    expected = scipy_frechet(mu1, sigma1, mu2, sigma2)
    assert expected > 1.0  # the sets really differ
    np.testing.assert_allclose(frechet.frechet_distance(feats_a, feats_b), expected, rtol=1e-9)
    np.testing.assert_allclose(
        frechet.frechet_distance_from_stats(mu1, sigma1, mu2, sigma2), expected, rtol=1e-9
    )


def test_matches_scipy_when_covariances_are_rank_deficient():
    """Fewer samples than features (as with 2048-d features and few images): both covariances singular."""
    rng = np.random.default_rng(1)
    dim = 20
    feats_a = rng.normal(size=(8, dim))
    feats_b = rng.normal(size=(10, dim)) + 0.5
    mu1, sigma1 = feats_a.mean(0), np.cov(feats_a, rowvar=False)
    mu2, sigma2 = feats_b.mean(0), np.cov(feats_b, rowvar=False)
    # sqrtm of a singular product is ill-conditioned; compare to its accuracy.
    np.testing.assert_allclose(
        frechet.frechet_distance(feats_a, feats_b), scipy_frechet(mu1, sigma1, mu2, sigma2), rtol=1e-5
    )


def test_identical_sets_give_zero():
    rng = np.random.default_rng(2)
    feats = gaussian_features(rng, 200, 5.0 * rng.normal(size=16), random_covariance(rng, 16, 3.0))
    assert frechet.frechet_distance(feats, feats) == pytest.approx(0.0, abs=1e-9)
    # float32 JAX input, shuffled rows: the same set of points.
    shuffled = jnp.asarray(feats[rng.permutation(len(feats))], jnp.float32)
    assert frechet.frechet_distance(jnp.asarray(feats, jnp.float32), shuffled) == pytest.approx(0.0, abs=1e-6)


def test_diagonal_gaussians_closed_form():
    rng = np.random.default_rng(3)
    dim = 10
    mu1, mu2 = rng.normal(size=dim), rng.normal(size=dim)
    s1, s2 = rng.uniform(0.1, 3.0, size=dim), rng.uniform(0.1, 3.0, size=dim)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum(s1 + s2 - 2 * np.sqrt(s1 * s2))
    got = frechet.frechet_distance_from_stats(mu1, np.diag(s1), mu2, np.diag(s2))
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    # The same Gaussians in a rotated basis (dense, commuting covariances): FD is rotation invariant.
    q = rotation(rng, dim)
    got_rotated = frechet.frechet_distance_from_stats(
        q @ mu1, q @ np.diag(s1) @ q.T, q @ mu2, q @ np.diag(s2) @ q.T
    )
    np.testing.assert_allclose(got_rotated, expected, rtol=1e-10)


def test_isotropic_against_dense_closed_form():
    """S1 = c I does not commute-trivially with a dense S2: tr((c S2)^(1/2)) = sqrt(c) sum sqrt(eig(S2))."""
    rng = np.random.default_rng(4)
    dim, c = 9, 2.5
    sigma2 = random_covariance(rng, dim)
    mu1, mu2 = np.zeros(dim), np.full(dim, 0.3)
    trace_sqrt = np.sqrt(c) * np.sum(np.sqrt(np.linalg.eigvalsh(sigma2)))
    expected = dim * 0.09 + dim * c + np.trace(sigma2) - 2 * trace_sqrt
    got = frechet.frechet_distance_from_stats(mu1, c * np.eye(dim), mu2, sigma2)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_symmetric_in_its_arguments():
    rng = np.random.default_rng(5)
    feats_a = gaussian_features(rng, 150, np.zeros(6), random_covariance(rng, 6))
    feats_b = gaussian_features(rng, 250, np.ones(6), random_covariance(rng, 6, 0.5))
    forward = frechet.frechet_distance(feats_a, feats_b)
    np.testing.assert_allclose(frechet.frechet_distance(feats_b, feats_a), forward, rtol=1e-10)
    assert forward > 0.5


def test_chunked_statistics_equal_one_shot():
    rng = np.random.default_rng(6)
    # A large common offset: a naive sum-of-squares covariance would cancel away in float64.
    feats = 1e6 + rng.normal(size=(53, 7)) @ rng.normal(size=(7, 7))
    mu_ref, sigma_ref = feats.mean(0), np.cov(feats, rowvar=False)
    for chunk_size in (1, 7, 50, 53, 1000):
        mu, sigma = frechet.feature_statistics(feats, chunk_size=chunk_size)
        assert mu.dtype == sigma.dtype == np.float64
        np.testing.assert_allclose(mu, mu_ref, rtol=1e-14)
        np.testing.assert_allclose(sigma, sigma_ref, rtol=1e-8, atol=1e-8)
        np.testing.assert_array_equal(sigma, sigma.T)


def test_statistics_of_float32_jax_features_are_float64():
    rng = np.random.default_rng(7)
    feats = rng.normal(size=(40, 5)).astype(np.float32)
    mu, sigma = frechet.feature_statistics(jnp.asarray(feats), chunk_size=16)
    exact = feats.astype(np.float64)
    np.testing.assert_allclose(mu, exact.mean(0), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(sigma, np.cov(exact, rowvar=False), rtol=1e-12, atol=1e-14)


def test_statistics_round_trip_through_npz(tmp_path):
    rng = np.random.default_rng(8)
    mu, sigma = frechet.feature_statistics(rng.normal(size=(30, 4)))
    path = frechet.save_statistics(tmp_path / "ref_stats.npz", mu, sigma)
    assert path == tmp_path / "ref_stats.npz" and path.is_file()
    loaded_mu, loaded_sigma = frechet.load_statistics(path)
    np.testing.assert_array_equal(loaded_mu, mu)
    np.testing.assert_array_equal(loaded_sigma, sigma)
    # No ".npz" appended to a path that lacks it.
    other = frechet.save_statistics(tmp_path / "stats.bin", mu, sigma)
    assert other.is_file() and not (tmp_path / "stats.bin.npz").exists()
    reloaded = frechet.load_statistics(other)
    assert frechet.frechet_distance_from_stats(*reloaded, mu, sigma) == pytest.approx(0.0)


def test_bad_statistics_files_raise_one_line_errors_naming_the_path(tmp_path):
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip file at all")
    wrong_keys = tmp_path / "wrong_keys.npz"
    np.savez(wrong_keys, mean=np.zeros(3), cov=np.eye(3))
    wrong_shape = tmp_path / "wrong_shape.npz"
    np.savez(wrong_shape, mu=np.zeros(3), sigma=np.eye(4))
    single = tmp_path / "single.npy"
    np.save(single, np.zeros(3))
    nonfinite = tmp_path / "nan.npz"
    np.savez(nonfinite, mu=np.array([0.0, np.nan]), sigma=np.eye(2))
    for path in (garbage, wrong_keys, wrong_shape, single, nonfinite):
        with pytest.raises(ValueError) as info:
            frechet.load_statistics(path)
        message = str(info.value)
        assert str(path) in message and "\n" not in message, message
    with pytest.raises(FileNotFoundError, match="missing.npz"):
        frechet.load_statistics(tmp_path / "missing.npz")


def test_input_checks():
    with pytest.raises(AssertionError, match="same feature dimension"):
        frechet.frechet_distance(np.zeros((5, 3)), np.zeros((5, 4)))
    with pytest.raises(AssertionError, match=r"\[N, D\]"):
        frechet.frechet_distance(np.zeros((5, 3, 1)), np.zeros((5, 3)))
    with pytest.raises(ValueError, match="at least 2 rows"):
        frechet.frechet_distance(np.zeros((1, 3)), np.zeros((5, 3)))
    with pytest.raises(ValueError, match="chunk_size"):
        frechet.feature_statistics(np.zeros((5, 3)), chunk_size=0)
    with pytest.raises(AssertionError, match=r"\[D, D\]"):
        frechet.frechet_distance_from_stats(np.zeros(3), np.eye(2), np.zeros(3), np.eye(3))
    with pytest.raises(ValueError, match="non-finite"):
        frechet.frechet_distance_from_stats(np.zeros(2), np.full((2, 2), np.inf), np.zeros(2), np.eye(2))
