"""WaveNet, LSTM and Transformer: exact normalisation, causality, and incremental == full decoding.

Two configurations per model keep compilation (the dominant cost) small: the float path with one
Bernoulli logit per position, checked on all 2^10 binary sequences, and the token path with
vocab_size = 5 and five categorical logits, checked on all 5^4 sequences.
"""

import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.distributions import bernoulli_log_prob
from genjax.models.autoregressive.lstm import LSTM
from genjax.models.autoregressive.transformer import Transformer
from genjax.models.autoregressive.wavenet import WaveNet

VOCAB_SIZE = 5
# Tiny widths; the WaveNet's receptive field (2 + 1 + 2 + 4 + 8 = 17) covers every length used here.
MODELS = {
    "wavenet": lambda p, vocab: WaveNet(num_params=p, vocab_size=vocab, features=8, skip_features=16),
    "lstm": lambda p, vocab: LSTM(num_params=p, vocab_size=vocab, features=6, num_layers=2),
    "transformer": lambda p, vocab: Transformer(
        num_params=p, vocab_size=vocab, max_length=12, num_layers=2, num_heads=2, features=8, mlp_ratio=2
    ),
}


def _perturbed_variables(module):
    """Initialises ``module`` and adds N(0, 0.5^2) noise to every parameter (zero biases are not special).

    Like `bijector_checks.jitter`, but the noise comes from NumPy: per-shape `jax.random` kernels cost
    seconds of compilation each on a small shared CPU.
    """
    variables = jax.jit(module.init)(jax.random.key(0), jnp.zeros((1, 1), jnp.int32))
    rng = np.random.default_rng(1)
    return jax.tree.map(
        lambda leaf: jnp.asarray(leaf + 0.5 * rng.standard_normal(leaf.shape).astype(np.float32)), variables
    )


@functools.cache  # shared across tests, so each configuration is initialised and compiled once
def _model(name: str, vocab_size: int | None):
    """(module, variables, jitted apply); one Bernoulli logit (float path) or `vocab_size` logits."""
    module = MODELS[name](1 if vocab_size is None else vocab_size, vocab_size)
    return module, _perturbed_variables(module), jax.jit(module.apply)


@functools.cache
def _all_sequences(vocab_size: int | None) -> jax.Array:
    """Every binary sequence of length 10 (float32), or every token sequence of length 4 (int32)."""
    num_symbols, length = (2, 10) if vocab_size is None else (vocab_size, 4)
    outcomes = np.array(list(itertools.product(range(num_symbols), repeat=length)))
    return jnp.asarray(outcomes, jnp.float32 if vocab_size is None else jnp.int32)


def _decode_incrementally(module, variables, x: jax.Array) -> jax.Array:
    """Runs `step` for t = 0..T-1 inside one jitted lax.scan, feeding x[:, t-1]: `[B, T] -> [B, T, P]`."""
    cls = type(module)

    @jax.jit
    def run(variables, x):
        batch, length = x.shape
        state = module.apply(variables, batch, length, method=cls.initial_state)
        previous = jnp.concatenate([jnp.full_like(x[:, :1], 3), x[:, :-1]], axis=1)  # slot 0 is ignored

        def body(state, inputs):
            t, x_prev = inputs
            return module.apply(variables, state, x_prev, t, method=cls.step)

        _, outputs = jax.lax.scan(body, state, (jnp.arange(length, dtype=jnp.int32), previous.T))
        return outputs.transpose(1, 0, 2)

    return run(variables, x)


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_probabilities_of_all_binary_sequences_sum_to_one(name):
    _, variables, apply = _model(name, None)
    outcomes = _all_sequences(None)  # [1024, 10]
    log_p = bernoulli_log_prob(outcomes, apply(variables, outcomes)[..., 0])
    assert log_p.shape == (1024,)
    np.testing.assert_allclose(jnp.sum(jnp.exp(log_p)), 1.0, rtol=1e-5)
    assert float(jnp.std(log_p)) > 0.3  # far from uniform: the check is not trivial


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_probabilities_of_all_token_sequences_sum_to_one(name):
    _, variables, apply = _model(name, VOCAB_SIZE)
    outcomes = _all_sequences(VOCAB_SIZE)  # [625, 4]
    log_probs = jax.nn.log_softmax(apply(variables, outcomes), axis=-1)  # [625, 4, 5]
    log_p = jnp.take_along_axis(log_probs, outcomes[..., None], axis=-1)[..., 0].sum(-1)
    np.testing.assert_allclose(jnp.sum(jnp.exp(log_p)), 1.0, rtol=1e-5)
    assert float(jnp.std(log_p)) > 0.3


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_output_t_depends_only_on_earlier_inputs(name):
    module, variables, _ = _model(name, None)
    length = 6
    x = jax.random.normal(jax.random.key(2), (length,))
    jacobian = jax.jit(jax.jacfwd(lambda v: module.apply(variables, v[None])[0].reshape(-1)))(x)
    jacobian = jacobian.reshape(length, -1, length)  # [t, p, s] = d out[t, p] / d x[s]
    later = np.arange(length)[None, :] >= np.arange(length)[:, None]  # [t, s]: s >= t
    np.testing.assert_array_equal(jnp.where(later[:, None, :], jacobian, 0.0), 0.0)
    earlier = jnp.abs(jacobian).sum(1)[~later]  # every (t, s < t) pair reaches output t
    assert bool(jnp.all(earlier > 0))


@pytest.mark.slow
def test_wavenet_receptive_field_follows_the_dilations():
    # Input conv (kernel 2) then dilations 1, 2 over the shifted sequence: output t sees x[t-5 .. t-1].
    module = WaveNet(num_params=1, features=6, skip_features=6, dilations=(1, 2))
    assert module.receptive_field == 5
    length = 8
    variables = _perturbed_variables(module)
    # The largest |d out_t / d x_s| over a few inputs: a dead ReLU at one input can hide a real path.
    xs = jax.random.normal(jax.random.key(3), (4, length))
    per_input = jax.jit(jax.vmap(jax.jacfwd(lambda v: module.apply(variables, v[None])[0, :, 0])))(xs)
    jacobian = jnp.max(jnp.abs(per_input), axis=0)  # [t, s]
    lag = np.arange(length)[:, None] - np.arange(length)[None, :]  # t - s
    visible = (lag >= 1) & (lag <= 5)
    np.testing.assert_array_equal(jnp.where(visible, 0.0, jacobian), 0.0)
    assert bool(jnp.all(jnp.abs(jacobian)[visible] > 0))


@pytest.mark.slow
@pytest.mark.parametrize("vocab_size", [None, VOCAB_SIZE])
@pytest.mark.parametrize("name", MODELS)
def test_incremental_steps_match_the_full_call(name, vocab_size):
    module, variables, apply = _model(name, vocab_size)
    x = _all_sequences(vocab_size)
    full = apply(variables, x)
    incremental = _decode_incrementally(module, variables, x)
    assert incremental.shape == full.shape
    np.testing.assert_allclose(incremental, full, rtol=1e-5, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_decoding_state_grows_only_for_the_transformer(name):
    module, variables, _ = _model(name, None)
    shapes = {
        steps: [
            leaf.shape
            for leaf in jax.tree.leaves(module.apply(variables, 2, steps, method=type(module).initial_state))
        ]
        for steps in (3, 11)
    }
    if name == "transformer":  # one [B, T, heads, head_dim] key and value cache per layer
        assert shapes[3] == [(2, 3, 2, 4)] * 4 and shapes[11] == [(2, 11, 2, 4)] * 4
    else:  # rolling buffers / LSTM carries: the same state for any sequence length
        assert shapes[3] == shapes[11]


def test_transformer_rejects_sequences_longer_than_max_length():
    module, variables, _ = _model("transformer", None)
    # Tracing (eval_shape) is enough: the length is checked before any computation.
    assert jax.eval_shape(module.apply, variables, jnp.zeros((1, 12))).shape == (1, 12, 1)
    with pytest.raises(ValueError, match="max_length=12"):
        jax.eval_shape(module.apply, variables, jnp.zeros((1, 13)))
    with pytest.raises(ValueError, match="max_length=12"):
        module.apply(variables, 1, 13, method=Transformer.initial_state)
