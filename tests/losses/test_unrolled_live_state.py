"""The unrolled generator loss from the critic's LIVE Adam state: finite differences, float64.

The reference is an independent Adam written out by hand (moments, count, bias correction,
a count-dependent learning rate), unrolled from a state with nonzero moments and count. Its
central differences must match ``jax.grad`` of `unrolled_generator_loss(..., opt_state=live)`;
the same loss unrolled from a fresh ``init_fn`` state must not, so an implementation that
ignores the live state fails here.
"""

from functools import partial

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from genjax.losses import gan

B1, B2, EPS, EPS_ROOT = 0.5, 0.999, 1e-8, 1e-12
NUM_UNROLL = 2


def learning_rate(count):
    """A schedule of the update count, so the live count (not only the moments) matters."""
    return 0.05 / (1.0 + 0.5 * count)


def _critic(d, x):
    """A smooth tiny critic: x `[B, 2]` -> logits `[B]` (tanh, so finite differences are clean)."""
    return jnp.tanh(x @ d["w1"] + d["b1"]) @ d["w2"] + d["b2"]


def _generate(g, z):
    return z @ g["a"] + g["c"]


def _problem():
    rng = np.random.default_rng(0)
    real = jnp.asarray(rng.normal(size=(6, 2)) + np.array([1.0, -0.5]))
    z = jnp.asarray(rng.normal(size=(6, 2)))
    d = {
        "w1": jnp.asarray(rng.normal(size=(2, 3))),
        "b1": jnp.asarray(rng.normal(size=(3,)) * 0.1),
        "w2": jnp.asarray(rng.normal(size=(3,))),
        "b2": jnp.asarray(0.1),
    }
    g = {"a": jnp.asarray(rng.normal(size=(2, 2))), "c": jnp.asarray(rng.normal(size=(2,)))}
    return real, z, d, g


def _costs(g, real, z):
    fake = _generate(g, z)
    d_cost = lambda d: gan.discriminator_loss(_critic(d, real), _critic(d, fake), kind="minimax")
    g_cost = lambda d: gan.generator_loss(_critic(d, fake), kind="non_saturating")
    return g_cost, d_cost


def _live_state(optimizer, d, g, real, z):
    """The critic's state after four real steps against a moving generator: nonzero moments, count 4."""

    def step(carry, k):
        d, state = carry
        _, d_cost = _costs(jax.tree.map(lambda leaf: leaf * (1.0 + 0.1 * k), g), real, z)
        updates, state = optimizer.update(jax.grad(d_cost)(d), state, d)
        return (optax.apply_updates(d, updates), state), None

    (d, state), _ = jax.lax.scan(step, (d, optimizer.init(d)), jnp.arange(4.0))
    return d, state


def _adam_move(p, m, v, *, rate, count):
    """One bias-corrected Adam step of a parameter p from its moments m and v after `count` steps."""
    return p - rate * (m / (1 - B1**count)) / (jnp.sqrt(v / (1 - B2**count) + EPS_ROOT) + EPS)


def _reference_unroll(g, real, z, d, mu, nu, count):
    """Hand-written Adam (optax's update rule, written independently) unrolled NUM_UNROLL steps."""
    g_cost, d_cost = _costs(g, real, z)
    for _ in range(NUM_UNROLL):
        grads = jax.grad(d_cost)(d)
        mu = jax.tree.map(lambda m, gr: B1 * m + (1 - B1) * gr, mu, grads)
        nu = jax.tree.map(lambda v, gr: B2 * v + (1 - B2) * gr**2, nu, grads)
        count = count + 1
        rate = learning_rate(count - 1)  # optax scales by the schedule at the count before the step
        d = jax.tree.map(partial(_adam_move, rate=rate, count=count), d, mu, nu)
    return g_cost(d)


def _flat(tree):
    return jnp.concatenate([jnp.ravel(leaf) for leaf in jax.tree.leaves(tree)])


def _central_differences(fn, g, step=1e-6):
    """(f(g + h e_j) - f(g - h e_j)) / 2h for every coordinate j, evaluated as one vmap."""
    flat, unravel = jax.flatten_util.ravel_pytree(g)
    bumps = step * jnp.eye(flat.size)
    values = jax.vmap(lambda shift: fn(unravel(flat + shift)))(jnp.concatenate([bumps, -bumps]))
    return (values[: flat.size] - values[flat.size :]) / (2 * step)


def _everything(real, z, d0, g):
    """Values and gradients, all traced into one program (compiling is the test's cost)."""
    optimizer = optax.adam(learning_rate, b1=B1, b2=B2, eps=EPS, eps_root=EPS_ROOT)
    d, live = _live_state(optimizer, d0, g, real, z)
    adam_state = live[0]

    def library(g, opt_state):
        g_cost, d_cost = _costs(g, real, z)
        return gan.unrolled_generator_loss(
            g_cost,
            d_cost,
            d,
            init_fn=optimizer.init,
            update_fn=optimizer.update,
            num_steps=NUM_UNROLL,
            opt_state=opt_state,
        )

    reference = lambda g: _reference_unroll(g, real, z, d, adam_state.mu, adam_state.nu, adam_state.count)
    return {
        "count": adam_state.count,
        "min_abs_moment": jnp.min(jnp.abs(_flat(adam_state.mu))),
        "library_value": library(g, live),
        "reference_value": reference(g),
        "numeric": _central_differences(reference, g),
        "live_grad": _flat(jax.grad(library)(g, live)),
        "fresh_grad": _flat(jax.grad(library)(g, None)),
    }


@pytest.fixture(scope="module")
def results():
    with jax.enable_x64(True):
        out = jax.device_get(jax.jit(_everything)(*_problem()))
    assert out["numeric"].dtype == np.float64
    # The state the look-ahead starts from is not a fresh one.
    assert int(out["count"]) == 4 and float(out["min_abs_moment"]) > 0
    return out


@pytest.mark.slow  # one float64 second-order program: about 7 CPU s to compile
def test_live_state_value_is_the_hand_written_adam_unroll(results):
    np.testing.assert_allclose(results["library_value"], results["reference_value"], rtol=1e-12)


@pytest.mark.slow  # one float64 second-order program: about 7 CPU s to compile
def test_gradient_through_the_live_state_matches_finite_differences(results):
    np.testing.assert_allclose(results["live_grad"], results["numeric"], rtol=1e-6, atol=1e-8)


@pytest.mark.slow  # one float64 second-order program: about 7 CPU s to compile
def test_a_fresh_state_unroll_fails_the_same_check(results):
    """What the issue asked to rule out: unrolling from init_fn(params) is another gradient."""
    numeric = results["numeric"]
    assert np.max(np.abs(results["fresh_grad"] - numeric)) > 1e-2 * np.max(np.abs(numeric))


def test_unrolling_needs_a_state_or_an_init():
    with pytest.raises(ValueError, match="pass opt_state"):
        gan.unrolled_generator_loss(
            lambda d: d, lambda d: d, jnp.zeros(()), update_fn=lambda g, s, p: (g, s), num_steps=1
        )
