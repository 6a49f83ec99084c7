"""f-GAN: adversarial training of any f-divergence through its variational lower bound.

Nowozin, Cseke & Tomioka (2016). For a convex f with f(1) = 0, the f-divergence is

    D_f(P || Q) = ∫ q(x) f(p(x) / q(x)) dx,

and Fenchel duality (f(u) = sup_t u·t − f*(t)) gives, for any function T,

    D_f(P || Q) ≥ E_P[T(x)] − E_Q[f*(T(x))],

with equality at T*(x) = f'(p(x) / q(x)). The discriminator outputs a raw logit v;
an output activation g_f maps it into dom f*, so T = g_f(v). The discriminator
maximises the bound (minimises its negative) and the generator, which only
enters through Q, minimises it: the saddle-point game. The paper's alternative
generator cost −E_Q[g_f(v)] has the same fixed point and stronger early gradients
(for the GAN divergence it is the non-saturating cost).

Divergences (the paper's Tables 1–2; P is the data, Q the model):

  name               f(u)                              g_f(v)                 f*(t)              dom f*
  kl                 u log u                           v                      exp(t − 1)         ℝ
  reverse_kl         −log u                            −exp(−v)               −1 − log(−t)       t < 0
  jensen_shannon     u log u − (u + 1) log((1 + u)/2)  log 2 − log(1 + e^−v)  −log(2 − exp(t))   t < log 2
  pearson_chi2       (u − 1)²                          v                      t²/4 + t           ℝ
  squared_hellinger  (√u − 1)²                         1 − exp(−v)            t / (1 − t)        t < 1
  total_variation    ½|u − 1|                          ½ tanh(v)              t                  |t| ≤ ½

With this f, ``jensen_shannon`` is ∫ q f(p/q) = KL(P||M) + KL(Q||M), M = (P + Q)/2,
i.e. 2·JS(P, Q) for the usual JS = ½KL(P||M) + ½KL(Q||M); it lies in [0, 2 log 2].

f*(g_f(v)) is also provided fused (``conjugate_of_activation``): composed naively
it loses everything to cancellation (Jensen–Shannon: 2 − exp(t) as t → log 2) or
overflows (reverse KL: log(exp(−v))) at large logits.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from genjax.losses.gan import _as_batch

Array = jax.Array
Scalar = Callable[[Array], Array]

__all__ = [
    "F_DIVERGENCES",
    "FDivergence",
    "fgan_bound",
    "fgan_discriminator_loss",
    "fgan_generator_loss",
    "get_divergence",
]

_LOG2 = math.log(2.0)


class FDivergence(NamedTuple):
    """One f-divergence with the pieces its f-GAN needs; every callable is elementwise.

    Attributes:
      name: key in ``F_DIVERGENCES``.
      f: the generator function, convex on u > 0, f(1) = 0.
      f_prime: f' (the optimal critic is T* = f'(p/q)).
      activation: g_f, raw logit v -> T inside dom f*.
      conjugate: f*(t) = sup_u u·t − f(u), on dom f*.
      conjugate_of_activation: v -> f*(g_f(v)), computed stably.
      conjugate_domain: (low, high) bounds of dom f* (open except total variation's, which is closed).
    """

    name: str
    f: Scalar
    f_prime: Scalar
    activation: Scalar
    conjugate: Scalar
    conjugate_of_activation: Scalar
    conjugate_domain: tuple[float, float]


def _js_f(u: Array) -> Array:
    # xlogy keeps f(0) = 0 (the limit), so ratios that underflow to 0 stay finite.
    return jax.scipy.special.xlogy(u, u) - (u + 1.0) * jnp.log((1.0 + u) / 2.0)


F_DIVERGENCES: dict[str, FDivergence] = {
    d.name: d
    for d in (
        FDivergence(
            name="kl",
            f=lambda u: jax.scipy.special.xlogy(u, u),
            f_prime=lambda u: jnp.log(u) + 1.0,
            activation=lambda v: v,
            conjugate=lambda t: jnp.exp(t - 1.0),
            conjugate_of_activation=lambda v: jnp.exp(v - 1.0),
            conjugate_domain=(-math.inf, math.inf),
        ),
        FDivergence(
            name="reverse_kl",
            f=lambda u: -jnp.log(u),
            f_prime=lambda u: -1.0 / u,
            activation=lambda v: -jnp.exp(-v),
            conjugate=lambda t: -1.0 - jnp.log(-t),
            # −1 − log(exp(−v)) = v − 1, without exp overflowing for v ≪ 0.
            conjugate_of_activation=lambda v: v - 1.0,
            conjugate_domain=(-math.inf, 0.0),
        ),
        FDivergence(
            name="jensen_shannon",
            f=_js_f,
            f_prime=lambda u: jnp.log(2.0 * u / (1.0 + u)),
            # log 2 + log sigmoid(v), via softplus so large |v| stays finite.
            activation=lambda v: _LOG2 - jax.nn.softplus(-v),
            conjugate=lambda t: -jnp.log(2.0 - jnp.exp(t)),
            # 2 − exp(g(v)) = 2·sigmoid(−v), so f*(g(v)) = softplus(v) − log 2.
            conjugate_of_activation=lambda v: jax.nn.softplus(v) - _LOG2,
            conjugate_domain=(-math.inf, _LOG2),
        ),
        FDivergence(
            name="pearson_chi2",
            f=lambda u: jnp.square(u - 1.0),
            f_prime=lambda u: 2.0 * (u - 1.0),
            activation=lambda v: v,
            conjugate=lambda t: 0.25 * jnp.square(t) + t,
            conjugate_of_activation=lambda v: 0.25 * jnp.square(v) + v,
            conjugate_domain=(-math.inf, math.inf),
        ),
        FDivergence(
            name="squared_hellinger",
            f=lambda u: jnp.square(jnp.sqrt(u) - 1.0),
            f_prime=lambda u: 1.0 - jax.lax.rsqrt(u),
            activation=lambda v: -jnp.expm1(-v),
            conjugate=lambda t: t / (1.0 - t),
            # g/(1 − g) with 1 − g = exp(−v): exp(v) − 1, exact near v = 0.
            conjugate_of_activation=jnp.expm1,
            conjugate_domain=(-math.inf, 1.0),
        ),
        FDivergence(
            name="total_variation",
            f=lambda u: 0.5 * jnp.abs(u - 1.0),
            f_prime=lambda u: 0.5 * jnp.sign(u - 1.0),  # a subgradient (0) at u = 1
            activation=lambda v: 0.5 * jnp.tanh(v),
            conjugate=lambda t: t,
            conjugate_of_activation=lambda v: 0.5 * jnp.tanh(v),
            conjugate_domain=(-0.5, 0.5),
        ),
    )
}


def get_divergence(divergence: str | FDivergence) -> FDivergence:
    """The ``FDivergence`` of that name (an ``FDivergence`` passes through unchanged)."""
    if isinstance(divergence, FDivergence):
        return divergence
    if divergence not in F_DIVERGENCES:
        raise ValueError(f"unknown f-divergence {divergence!r}; expected one of {', '.join(F_DIVERGENCES)}")
    return F_DIVERGENCES[divergence]


def fgan_bound(real_logits: Array, fake_logits: Array, *, divergence: str | FDivergence) -> Array:
    """The variational lower bound E_P[g_f(v)] − E_Q[f*(g_f(v))] on D_f(P || Q), for reporting.

    Args:
      real_logits: `[B]` or `[B, 1]`, raw critic outputs v on data (P).
      fake_logits: `[B']` or `[B', 1]`, on generated samples (Q).
      divergence: a name in ``F_DIVERGENCES`` or an ``FDivergence``.
    Returns:
      scalar, nats; ≤ D_f(P || Q) up to Monte Carlo error.
    """
    div = get_divergence(divergence)
    real = _as_batch(real_logits, "real_logits")
    fake = _as_batch(fake_logits, "fake_logits")
    return jnp.mean(div.activation(real)) - jnp.mean(div.conjugate_of_activation(fake))


def fgan_discriminator_loss(
    real_logits: Array, fake_logits: Array, *, divergence: str | FDivergence
) -> Array:
    """What the critic minimises: the negative bound, −E_P[g_f(v)] + E_Q[f*(g_f(v))].

    Args: as ``fgan_bound``.
    Returns:
      scalar.
    """
    return -fgan_bound(real_logits, fake_logits, divergence=divergence)


def fgan_generator_loss(fake_logits: Array, *, divergence: str | FDivergence, kind: str = "saddle") -> Array:
    """What the generator minimises.

    Args:
      fake_logits: `[B]` or `[B, 1]`, raw critic outputs on generated samples.
      divergence: a name in ``F_DIVERGENCES`` or an ``FDivergence``.
      kind: ``"saddle"``: −E_Q[f*(g_f(v))], the bound's Q-dependent part (the exact
        saddle-point game); ``"alternative"``: −E_Q[g_f(v)], the paper's
        non-saturating heuristic (Section 3.2).
    Returns:
      scalar.
    """
    div = get_divergence(divergence)
    fake = _as_batch(fake_logits, "fake_logits")
    if kind == "saddle":
        return -jnp.mean(div.conjugate_of_activation(fake))
    if kind == "alternative":
        return -jnp.mean(div.activation(fake))
    raise ValueError(f"unknown f-GAN generator kind {kind!r}; expected 'saddle' or 'alternative'")
