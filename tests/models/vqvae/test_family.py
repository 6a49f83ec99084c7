"""The vqvae family: the bound by enumeration, a normalised prior, EMA and restart buffers, both modes."""

import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from experiments.configs import vqvae as vqvae_config
from genjax import losses
from genjax.errors import ConfigError
from genjax.models.vqvae import build_parts, codebook_statistics, restart_dead_codes
from genjax.models.vqvae.networks import VQVAENetworks
from genjax.spec import DataSpec

TINY = DataSpec(name="tiny", element_shape=(4, 4, 1), num_levels=17)


def tiny_config(**model):
    """4x4 images -> a 2x2 grid of codes from K = 3: 81 code grids, few enough to enumerate."""
    config = vqvae_config.get_config("smoke")
    config.model.update(num_codes=3, embedding_dim=2, conv_features=(4,), prior_features=4, **model)
    return config


def tiny_batch(n=6, seed=0):
    levels = np.random.default_rng(seed).integers(0, 17, size=(n, 4, 4, 1))
    return {"x": (levels / 16.0).astype(np.float32)}


@functools.cache
def initial(mode):
    """The tiny model in codebook mode ``mode`` (restarts after 2 unused steps) at its initial parameters."""
    parts = build_parts(tiny_config(codebook_update=mode, restart_dead_codes_after=2), TINY)
    batch = tiny_batch()
    return parts, parts.model.init(jax.random.key(0), batch), batch


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["loss", "ema"])
def test_both_codebook_modes_train(mode):
    parts, params, batch = initial(mode)
    model = parts.model
    optimizer = optax.adam(1e-2)
    opt_states = {player: optimizer.init(params[player]) for player in model.players}

    @jax.jit
    def step(params, opt_states, key):
        losses_now = {}
        for index, player in enumerate(model.players):
            loss_fn = functools.partial(
                _player_loss, model, player, params, batch, jax.random.fold_in(key, index)
            )
            (loss, _), grads = jax.value_and_grad(loss_fn, has_aux=True)(params[player])
            updates, opt_states[player] = optimizer.update(grads, opt_states[player])
            params = {**params, player: optax.apply_updates(params[player], updates)}
            losses_now[player] = loss
        params, _ = model.update_buffers(params, batch, key)
        return params, opt_states, losses_now

    history = []
    for k in range(8):
        params, opt_states, losses_now = step(params, opt_states, jax.random.key(k))
        history.append(losses_now)
    for player in ("model", "prior"):
        values = [float(h[player]) for h in history]
        assert np.all(np.isfinite(values)) and values[-1] < values[0], (mode, player, values)
    # Where the codebook lives: a player's parameter (loss) or a buffer (ema).
    assert ("codebook" in params["model"]) == (mode == "loss")
    assert ("codebook" in params["vq"]) == (mode == "ema")
    samples = jax.jit(model.sample, static_argnums=2)(params, jax.random.key(1), 3)
    assert samples.shape == (3, 4, 4, 1) and np.all((samples >= 0) & (samples <= 1))


def _player_loss(model, player, params, batch, key, player_params):
    return model.losses[player]({**params, player: player_params}, batch, key)


def test_prior_is_normalised_and_log_prob_is_the_bound_at_the_encoders_codes():
    parts, params, batch = initial("loss")
    grids = jnp.asarray(list(itertools.product(range(3), repeat=4)), jnp.int32).reshape(81, 2, 2)
    x = jnp.asarray(batch["x"])

    @jax.jit
    def terms(params):
        log_prior = parts.prior_log_prob(params, grids)
        recon = jax.vmap(lambda z: parts.reconstruction_log_prob(params, jnp.broadcast_to(z, (6, 2, 2)), x))(
            grids
        )
        bound = parts.model.log_prob(params, batch, jax.random.key(0))
        return log_prior, recon, bound, parts.encode_indices(params, x)

    log_prior, recon, bound, codes = terms(params)
    np.testing.assert_allclose(jax.nn.logsumexp(log_prior), 0.0, atol=1e-5)
    # log p(x) = log sum_z p(z) p(x | z) exactly; log_prob is its term at the encoder's z, so below it.
    exact = jax.nn.logsumexp(log_prior[:, None] + recon, axis=0)
    assert np.all(np.asarray(bound) <= np.asarray(exact) + 1e-4)
    flat_index = np.ravel_multi_index(np.asarray(codes).reshape(len(x), 4).T, (3, 3, 3, 3))
    np.testing.assert_allclose(bound, (log_prior[:, None] + recon)[flat_index, np.arange(len(x))], rtol=1e-5)


def test_ema_buffers_follow_the_hand_update_of_the_encoder_outputs():
    parts, params, batch = initial("ema")
    new, metrics = jax.jit(parts.model.update_buffers)(params, batch, jax.random.key(1))
    networks = VQVAENetworks((4, 4, 1), 2, (4,))
    z_e = networks.apply(params["model"]["networks"], batch["x"], method=VQVAENetworks.encode).reshape(-1, 2)
    vq = params["vq"]
    indices = losses.vector_quantize(z_e, vq["codebook"], commitment_cost=0.0).indices
    state = losses.VQEMAState(vq["cluster_size"], vq["embed_sum"], vq["codebook"])
    expected = losses.ema_codebook_update(state, z_e, indices, decay=0.99, epsilon=1e-5)
    np.testing.assert_allclose(new["vq"]["codebook"], expected.codebook, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(new["vq"]["cluster_size"], expected.cluster_size, rtol=1e-6)
    assert int(metrics["codes_used_in_batch"]) == len(np.unique(np.asarray(indices)))


def test_restart_replaces_exactly_the_dead_codes():
    codebook = jnp.arange(12.0).reshape(6, 2)
    candidates = 100.0 + jnp.arange(20.0).reshape(10, 2)
    dead = jnp.array([False, True, False, False, True, True])
    out = np.asarray(restart_dead_codes(jax.random.key(0), codebook, dead, candidates))
    np.testing.assert_array_equal(out[~np.asarray(dead)], np.asarray(codebook)[~np.asarray(dead)])
    restarted = out[np.asarray(dead)]
    assert all(any(np.array_equal(row, c) for c in np.asarray(candidates)) for row in restarted)
    assert len({tuple(row) for row in restarted}) == 3  # distinct draws while N >= K
    np.testing.assert_array_equal(out, restart_dead_codes(jax.random.key(0), codebook, dead, candidates))


def test_update_buffers_restarts_codes_unused_for_the_threshold():
    parts, params, batch = initial("loss")  # restarts after 2 unused steps
    # Code 2 moved far away: no vector picks it. It has been unused for 1 step, code 1 for none.
    params = {**params, "model": {**params["model"]}, "vq": {"unused_steps": jnp.array([0.0, 0.0, 1.0])}}
    params["model"]["codebook"] = params["model"]["codebook"].at[2].set(1e3)
    used = np.unique(np.asarray(parts.encode_indices(params, batch["x"])))
    new, metrics = jax.jit(parts.model.update_buffers)(params, batch, jax.random.key(1))
    assert 2 not in used and int(metrics["codes_restarted"]) == 1
    np.testing.assert_array_equal(new["model"]["codebook"][:2], params["model"]["codebook"][:2])
    assert np.all(np.abs(np.asarray(new["model"]["codebook"][2])) < 1e2)
    assert float(new["vq"]["unused_steps"][2]) == 0.0


def test_whole_split_statistics_equal_numpy_and_skip_padding():
    rng = np.random.default_rng(0)
    batches = [{"x": rng.integers(0, 5, size=(4, 2, 2)), "mask": np.array([1, 1, 1, 0])} for _ in range(3)]
    stats = codebook_statistics(lambda batch: batch["x"], batches, num_codes=8)
    real = np.concatenate([b["x"][:3].reshape(-1) for b in batches])
    counts = np.bincount(real, minlength=8)
    p = counts[counts > 0] / counts.sum()
    np.testing.assert_array_equal(stats["counts"], counts)
    assert stats["usage"] == np.mean(counts > 0)
    np.testing.assert_allclose(stats["perplexity"], np.exp(-np.sum(p * np.log(p))))


@pytest.mark.parametrize(
    "field,value",
    [
        ("codebook_update", "kmeans"),
        ("likelihood", "poisson"),
        ("num_codes", 1),
        ("conv_features", (8, 8, 8, 8)),
        ("ema_decay", 1.5),
        ("restart_dead_codes_after", -1),
        ("prior_first_kernel", 4),
    ],
)
def test_bad_model_config_names_the_field(field, value):
    config = vqvae_config.get_config("digits_ema")
    config.model[field] = value
    with pytest.raises(ConfigError, match=f"model.{field}"):
        build_parts(config, DataSpec(name="digits", element_shape=(8, 8, 1), num_levels=17))


def test_bernoulli_needs_binary_data_and_every_variant_builds():
    config = vqvae_config.get_config("digits")
    config.model.likelihood = "bernoulli"
    with pytest.raises(ConfigError, match="model.likelihood"):
        build_parts(config, DataSpec(name="digits", element_shape=(8, 8, 1), num_levels=17))
    for variant in vqvae_config.VARIANTS:
        mnist = variant == "binarized_mnist"
        spec = DataSpec(
            name=variant, element_shape=(28, 28, 1) if mnist else (8, 8, 1), num_levels=2 if mnist else 17
        )
        parts = build_parts(vqvae_config.get_config(variant), spec)
        assert parts.grid_shape == ((7, 7) if mnist else (4, 4)), variant
