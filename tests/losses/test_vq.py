"""vector_quantize and the EMA codebook: nearest codes, straight-through gradients, hand-computed EMA."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax import losses

K, D = 5, 3


@pytest.fixture(scope="module")
def example():
    rng = np.random.default_rng(0)
    return rng.normal(size=(2, 4, 4, D)).astype(np.float32), rng.normal(size=(K, D)).astype(np.float32)


def test_vector_quantize_picks_the_nearest_code_and_its_losses_are_the_formulas(example):
    z_e, codebook = example
    out = losses.vector_quantize(z_e, codebook, commitment_cost=0.25)
    brute = np.argmin(((z_e[..., None, :] - codebook) ** 2).sum(-1), axis=-1)
    np.testing.assert_array_equal(out.indices, brute)
    z_q = codebook[brute]
    np.testing.assert_allclose(out.quantized, z_q, atol=1e-6)
    squared = ((z_e - z_q) ** 2).sum(-1)
    np.testing.assert_allclose(out.codebook_loss, squared, rtol=1e-5)
    np.testing.assert_allclose(out.commitment_loss, 0.25 * squared, rtol=1e-5)
    assert out.indices.shape == (2, 4, 4) and out.indices.dtype == jnp.int32


def test_straight_through_gradient_is_the_identity_and_losses_reach_the_right_arguments(example):
    z_e, codebook = example
    _, vjp = jax.vjp(lambda z, c: losses.vector_quantize(z, c, commitment_cost=0.25).quantized, z_e, codebook)
    cotangent = np.random.default_rng(1).normal(size=z_e.shape).astype(np.float32)
    grad_z, grad_codebook = vjp(cotangent)
    np.testing.assert_allclose(grad_z, cotangent)
    np.testing.assert_array_equal(grad_codebook, 0.0)

    def loss_sums(z, c):
        out = losses.vector_quantize(z, c, commitment_cost=0.25)
        return out.codebook_loss.sum(), out.commitment_loss.sum()

    (codebook_dz, codebook_dc), (commit_dz, commit_dc) = jax.jacrev(loss_sums, argnums=(0, 1))(z_e, codebook)
    z_q = codebook[losses.vector_quantize(z_e, codebook, commitment_cost=0.25).indices]
    np.testing.assert_array_equal(codebook_dz, 0.0)
    np.testing.assert_array_equal(commit_dc, 0.0)
    np.testing.assert_allclose(commit_dz, 0.25 * 2.0 * (z_e - z_q), rtol=1e-5, atol=1e-6)
    # d/de_k of sum |z_i - e_k|^2 over the vectors assigned to k: 2 (n_k e_k - sum_i z_i).
    one_hot = np.eye(K)[np.asarray(losses.vector_quantize(z_e, codebook, commitment_cost=0.0).indices)]
    one_hot = one_hot.reshape(-1, K)
    expected = 2.0 * (one_hot.sum(0)[:, None] * codebook - one_hot.T @ z_e.reshape(-1, D))
    np.testing.assert_allclose(codebook_dc, expected, rtol=1e-4, atol=1e-5)


def test_ema_codebook_update_equals_a_hand_computation():
    codebook = np.array([[0.0, 0.0], [1.0, 1.0], [5.0, 5.0]], np.float32)
    state = losses.ema_codebook_init(codebook)
    z_e = np.array([[0.2, 0.0], [0.0, 0.4], [1.0, 2.0]], np.float32)
    indices = np.array([0, 0, 1])
    new = losses.ema_codebook_update(state, z_e, indices, decay=0.9, epsilon=0.1)
    # N = 0.9 * [1, 1, 1] + 0.1 * [2, 1, 0] = [1.1, 1.0, 0.9]; sum 3.0.
    np.testing.assert_allclose(new.cluster_size, [1.1, 1.0, 0.9], rtol=1e-6)
    # m_0 = 0.9 * (0, 0) + 0.1 * (0.2, 0.4); m_1 = 0.9 * (1, 1) + 0.1 * (1, 2); m_2 = 0.9 * (5, 5).
    embed_sum = np.array([[0.02, 0.04], [1.0, 1.1], [4.5, 4.5]])
    np.testing.assert_allclose(new.embed_sum, embed_sum, rtol=1e-6)
    smoothed = (np.array([1.1, 1.0, 0.9]) + 0.1) / (3.0 + 3 * 0.1) * 3.0
    np.testing.assert_allclose(new.codebook, embed_sum / smoothed[:, None], rtol=1e-5)


def test_ema_converges_to_the_cluster_means_with_fixed_assignments():
    z_e = np.array([[0.0, 1.0], [2.0, 3.0], [10.0, 10.0]], np.float32)
    indices = np.array([0, 0, 1])
    state = losses.ema_codebook_init(np.zeros((2, 2), np.float32))
    update = jax.jit(lambda s: losses.ema_codebook_update(s, z_e, indices, decay=0.5, epsilon=1e-6))
    for _ in range(60):
        state = update(state)
    np.testing.assert_allclose(state.codebook, [[1.0, 2.0], [10.0, 10.0]], rtol=1e-4)


def test_bad_options_raise_value_error(example):
    z_e, codebook = example
    with pytest.raises(ValueError, match="commitment_cost"):
        losses.vector_quantize(z_e, codebook, commitment_cost=-1.0)
    state = losses.ema_codebook_init(codebook)
    with pytest.raises(ValueError, match="decay"):
        losses.ema_codebook_update(state, z_e, np.zeros((2, 4, 4), np.int32), decay=1.0)
