"""Inception score and relatives against float64 loop references and hand-computed cases."""

import math

import jax
import numpy as np
import pytest

from genjax.metrics import inception as ism


def softmax_rows(rng, n, k, scale=2.0):
    logits = scale * rng.standard_normal((n, k))
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def kl(p, q):
    """KL(p || q) for 1-D float64 arrays, term by term, 0 log 0 = 0."""
    total = 0.0
    for a, b in zip(p, q, strict=True):
        if a > 0:
            total += math.inf if b == 0 else a * math.log(a / b)
    return total


def entropy(p):
    return -sum(a * math.log(a) for a in p if a > 0)


def reference_is(probs, num_splits):
    size = len(probs) // num_splits
    scores = []
    for s in range(num_splits):
        part = probs[s * size : (s + 1) * size]
        marginal = part.mean(axis=0)
        scores.append(math.exp(np.mean([kl(row, marginal) for row in part])))
    return np.mean(scores), np.std(scores)


def reference_mis(probs, num_splits):
    size = len(probs) // num_splits
    scores = []
    for s in range(num_splits):
        part = probs[s * size : (s + 1) * size]
        pairs = [kl(part[i], part[j]) for i in range(size) for j in range(size) if i != j]
        scores.append(math.exp(np.mean(pairs)))
    return np.mean(scores), np.std(scores)


def one_hot_balanced(num_classes, n):
    return np.eye(num_classes)[np.arange(n) % num_classes]


def test_is_is_one_for_constant_predictions():
    row = softmax_rows(np.random.default_rng(0), 1, 7)[0]
    mean, std = ism.inception_score(np.tile(row, (50, 1)), num_splits=5)
    np.testing.assert_allclose(float(mean), 1.0, atol=1e-5)
    np.testing.assert_allclose(float(std), 0.0, atol=1e-5)


@pytest.mark.parametrize("num_classes", [2, 10])
def test_is_is_num_classes_for_balanced_one_hot(num_classes):
    probs = one_hot_balanced(num_classes, 4 * num_classes * 3)  # every split holds each class 3 times
    mean, std = ism.inception_score(probs, num_splits=4)
    np.testing.assert_allclose(float(mean), num_classes, rtol=1e-5)
    np.testing.assert_allclose(float(std), 0.0, atol=1e-4)


def test_is_matches_loop_reference_and_drops_remainder():
    probs = softmax_rows(np.random.default_rng(1), 103, 6)  # 103 = 5 * 20 + 3 dropped rows
    mean, std = ism.inception_score(probs, num_splits=5)
    ref_mean, ref_std = reference_is(probs, 5)
    np.testing.assert_allclose([float(mean), float(std)], [ref_mean, ref_std], rtol=1e-4, atol=1e-6)
    assert 1.0 < float(mean) < 6.0


def test_mis_matches_pairwise_reference():
    probs = softmax_rows(np.random.default_rng(2), 60, 5)
    mean, std = ism.modified_inception_score(probs, num_splits=3)
    ref_mean, ref_std = reference_mis(probs, 3)
    np.testing.assert_allclose([float(mean), float(std)], [ref_mean, ref_std], rtol=1e-4, atol=1e-6)


def test_mis_hand_cases():
    p, q = np.array([0.5, 0.5]), np.array([0.9, 0.1])
    mean, _ = ism.modified_inception_score(np.stack([p, q]), num_splits=1)
    np.testing.assert_allclose(float(mean), math.exp((kl(p, q) + kl(q, p)) / 2), rtol=1e-5)
    # Identical predictions: every pairwise KL is 0.
    mean, _ = ism.modified_inception_score(np.tile(q, (8, 1)), num_splits=2)
    np.testing.assert_allclose(float(mean), 1.0, atol=1e-5)
    # One-hot on two classes: KL(e_0 || e_1) is infinite; a class that is zero for every row is harmless.
    mean, _ = ism.modified_inception_score(np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]), num_splits=1)
    assert float(mean) == math.inf
    mean, _ = ism.modified_inception_score(np.array([[0.5, 0.5, 0.0], [0.9, 0.1, 0.0]]), num_splits=1)
    np.testing.assert_allclose(float(mean), math.exp((kl(p, q) + kl(q, p)) / 2), rtol=1e-5)


def test_mode_score_hand_cases_and_reference():
    real = one_hot_balanced(4, 40)
    np.testing.assert_allclose(float(ism.mode_score(real, real)), 4.0, rtol=1e-5)  # confident and balanced
    collapsed = np.tile(np.eye(4)[2], (20, 1))
    np.testing.assert_allclose(float(ism.mode_score(collapsed, real)), 1.0, rtol=1e-5)  # log K - log K
    rng = np.random.default_rng(3)
    probs, real_probs = softmax_rows(rng, 30, 5), softmax_rows(rng, 25, 5)
    p_star, p_y = real_probs.mean(axis=0), probs.mean(axis=0)
    expected = math.exp(np.mean([kl(row, p_star) for row in probs]) - kl(p_y, p_star))
    np.testing.assert_allclose(float(ism.mode_score(probs, real_probs)), expected, rtol=1e-5)


def test_am_score_hand_cases_and_reference():
    train = one_hot_balanced(3, 30)
    assert abs(float(ism.am_score(one_hot_balanced(3, 12), train))) < 1e-6  # matched marginal, one-hot
    uniform = np.full((10, 3), 1 / 3)
    np.testing.assert_allclose(float(ism.am_score(uniform, train)), math.log(3), rtol=1e-5)  # entropy only
    # One-hot samples with histogram (3/4, 1/4) against a balanced two-class training set.
    fake = np.eye(2)[[0, 0, 0, 1]]
    expected = 0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(0.5 / 0.25)
    np.testing.assert_allclose(float(ism.am_score(fake, np.eye(2)[[0, 1]])), expected, rtol=1e-5)
    # A training class the samples never produce: infinite divergence.
    assert float(ism.am_score(np.eye(2)[[0, 0]], np.eye(2)[[0, 1]])) == math.inf
    rng = np.random.default_rng(4)
    probs, train_probs = softmax_rows(rng, 30, 5), softmax_rows(rng, 25, 5)
    expected = kl(train_probs.mean(axis=0), probs.mean(axis=0)) + np.mean([entropy(r) for r in probs])
    np.testing.assert_allclose(float(ism.am_score(probs, train_probs)), expected, rtol=1e-5)


def test_scores_trace_under_jit():
    probs = softmax_rows(np.random.default_rng(5), 40, 4)
    jitted = jax.jit(lambda p: ism.inception_score(p, num_splits=4)[0])(probs)
    np.testing.assert_allclose(float(jitted), float(ism.inception_score(probs, num_splits=4)[0]), rtol=1e-6)
    jitted = jax.jit(lambda p, q: ism.am_score(p, q))(probs, probs)
    np.testing.assert_allclose(float(jitted), float(ism.am_score(probs, probs)), rtol=1e-6)


def test_rejects_bad_inputs():
    with pytest.raises(ValueError, match="sum to 1"):
        ism.inception_score(np.random.default_rng(6).standard_normal((20, 3)), num_splits=2)  # logits
    with pytest.raises(ValueError, match=r"\[N, K\]"):
        ism.inception_score(np.full(5, 0.2), num_splits=1)
    with pytest.raises(ValueError, match="num_splits"):
        ism.inception_score(np.full((3, 2), 0.5), num_splits=4)
    with pytest.raises(ValueError, match="at least 2 rows"):
        ism.modified_inception_score(np.full((3, 2), 0.5), num_splits=3)
    with pytest.raises(ValueError, match="classes"):
        ism.mode_score(np.full((3, 2), 0.5), np.full((3, 4), 0.25))
