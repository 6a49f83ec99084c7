"""Precision/recall and density/coverage against the `prdc` package, hand cases, and chunking invariance."""

import jax
import numpy as np
import pytest

from genjax.metrics import prdc as nn_metrics


def features(seed, n, m, dim=8, shift=0.5, scale=1.3):
    """Real N(0, I) and fake N(shift, scale^2 I): overlapping but different, so no metric sits at 0 or 1."""
    rng = np.random.default_rng(seed)
    real = rng.standard_normal((n, dim)).astype(np.float32)
    fake = (shift + scale * rng.standard_normal((m, dim))).astype(np.float32)
    return real, fake


def as_floats(result):
    return {name: float(value) for name, value in result._asdict().items()}


@pytest.mark.parametrize(("seed", "k"), [(0, 3), (1, 5), (2, 1)])
def test_matches_prdc_package(seed, k):
    prdc = pytest.importorskip("prdc")
    real, fake = features(seed, 120, 90)
    expected = prdc.compute_prdc(real.astype(np.float64), fake.astype(np.float64), nearest_k=k)
    got = as_floats(nn_metrics.precision_recall(real, fake, k=k)) | as_floats(
        nn_metrics.density_coverage(real, fake, k=k)
    )
    # float32 means; one point classified differently would move a value by at least 1 / (k * 120).
    for name in ("precision", "recall", "density", "coverage"):
        assert got[name] == pytest.approx(float(expected[name]), abs=1e-6), name
    assert 0.0 < got["precision"] < 1.0 and 0.0 < got["recall"] < 1.0  # a non-trivial comparison


@pytest.mark.parametrize(
    ("metric", "k"), [(nn_metrics.precision_recall, 3), (nn_metrics.density_coverage, 5)]
)
def test_chunked_equals_unchunked(metric, k):
    # Same shapes and k as the reference test, so the one-chunk (default chunk_size) compile is shared;
    # 7 divides neither 120 nor 90, so the padded last chunk is exercised.
    real, fake = features(9, 120, 90)
    assert as_floats(metric(real, fake, k=k, chunk_size=7)) == as_floats(metric(real, fake, k=k))


def test_identical_sets_are_fully_precise_and_covered():
    real, _ = features(4, 80, 1)
    pr = as_floats(nn_metrics.precision_recall(real, real.copy(), k=3))
    dc = as_floats(nn_metrics.density_coverage(real, real.copy(), k=5))
    assert pr == {"precision": 1.0, "recall": 1.0}
    assert dc["coverage"] == 1.0
    assert dc["density"] > 1.0  # each fake sits in its twin's ball and in its neighbours'


def test_far_apart_sets_score_zero():
    real, fake = features(5, 60, 50, shift=100.0, scale=1.0)
    assert as_floats(nn_metrics.precision_recall(real, fake, k=3)) == {"precision": 0.0, "recall": 0.0}
    assert as_floats(nn_metrics.density_coverage(real, fake, k=5)) == {"density": 0.0, "coverage": 0.0}


def test_one_dimensional_hand_case():
    # Real points 0, 1, 2, 3 with k = 1: every ball has radius 1. The fake at 0.5 is strictly inside the
    # balls of 0 and 1 (density 2 / k = 2) and is the nearest fake of 0 and 1 only (coverage 2 / 4).
    real = np.array([[0.0], [1.0], [2.0], [3.0]])
    dc = as_floats(nn_metrics.density_coverage(real, np.array([[0.5]]), k=1))
    assert dc == pytest.approx({"density": 2.0, "coverage": 0.5})
    # Strict `<`: a fake exactly on the boundary of the balls of 0 and 2 (distance 1) lies only in 1's ball.
    dc = as_floats(nn_metrics.density_coverage(real, np.array([[1.0]]), k=1))
    assert dc == pytest.approx({"density": 1.0, "coverage": 0.25})
    # Fakes at 0 and 10, k = 1, so both fake radii are 10: the fake at 0 is inside the real ball of 0, the
    # one at 10 in no real ball (precision 1 / 2); every real is within 3 < 10 of the fake at 0 (recall 1).
    pr = as_floats(nn_metrics.precision_recall(real, np.array([[0.0], [10.0]]), k=1))
    assert pr == pytest.approx({"precision": 0.5, "recall": 1.0})


def test_argument_order_swaps_precision_and_recall():
    real, fake = features(6, 70, 70)
    forward = nn_metrics.precision_recall(real, fake, k=3)
    backward = nn_metrics.precision_recall(fake, real, k=3)
    assert float(forward.precision) == float(backward.recall)
    assert float(forward.recall) == float(backward.precision)
    assert float(forward.precision) != float(forward.recall)


def test_jittable_and_flattens_features():
    real, fake = features(7, 40, 30, dim=12)
    eager = as_floats(nn_metrics.density_coverage(real, fake, k=3, chunk_size=16))
    jitted = jax.jit(lambda r, f: nn_metrics.density_coverage(r, f, k=3, chunk_size=16))(real, fake)
    assert as_floats(jitted) == eager
    images = as_floats(nn_metrics.density_coverage(real.reshape(40, 3, 4), fake.reshape(30, 3, 4), k=3))
    assert images == eager


def test_rejects_bad_inputs():
    real, fake = features(8, 10, 5)
    with pytest.raises(ValueError, match="features"):
        nn_metrics.precision_recall(real, fake[:, :3])
    with pytest.raises(ValueError, match="k must be"):
        nn_metrics.precision_recall(real, fake, k=5)  # the fake set has only 4 other points
    with pytest.raises(ValueError, match="k must be"):
        nn_metrics.density_coverage(real, fake, k=10)
    with pytest.raises(ValueError, match="chunk_size"):
        nn_metrics.density_coverage(real, fake, k=3, chunk_size=0)


@pytest.mark.parametrize("k", [3, 5])
def test_ball_indicators_average_to_the_four_metrics(k):
    real, fake = features(3, 120, 90)
    terms = nn_metrics.ball_indicators(real, fake, k=k)
    pr = as_floats(nn_metrics.precision_recall(real, fake, k=k))
    dc = as_floats(nn_metrics.density_coverage(real, fake, k=k))
    assert terms.fake_in_real.shape == terms.real_balls_per_fake.shape == (90,)
    assert terms.real_in_fake.shape == terms.real_covered.shape == (120,)
    assert float(np.mean(terms.fake_in_real)) == pytest.approx(pr["precision"], abs=1e-7)
    assert float(np.mean(terms.real_in_fake)) == pytest.approx(pr["recall"], abs=1e-7)
    assert float(np.mean(terms.real_balls_per_fake)) / k == pytest.approx(dc["density"], abs=1e-6)
    assert float(np.mean(terms.real_covered)) == pytest.approx(dc["coverage"], abs=1e-7)
