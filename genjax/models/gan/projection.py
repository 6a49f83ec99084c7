"""Class-conditional GAN players: y into the generator, and the projection discriminator.

Projection discriminator (Miyato & Koyama 2018, "cGANs with Projection Discriminator", eq. 3):

    D(x, y) = psi(phi(x)) + <embed(y), phi(x)>

phi(x) `[B, F]` is the input of the critic's last linear layer psi (``output``), and embed(y) a
learned row per class (`ConditionEmbedding`: ``Embed(num_classes + 1, F)``; a conditioning
array goes through a dense layer instead). The inner product is the log-ratio term
log q(y | x) / p(y | x) of a log-linear model of the class posteriors, which is why the label
enters at the end and not as an input channel. Nothing else of the critic changes, so the
adversarial losses, WGAN-GP's penalty (taken w.r.t. x with y held fixed) and R1 apply as they
are.

The generator reads y's plain features (one-hot labels, `condition_features`) concatenated to z
(Mirza & Osindero 2014), in both the MLP and the DCGAN generator (there before the dense
projection to the 1/4-resolution map); conditional batch-norm gains are not used here.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from genjax.models.conditioning import Conditioning
from genjax.models.networks.conditioning import ConditionEmbedding, condition_features

Array = jax.Array

PROJECTION_NAME = "projection"  # the embedding's parameter scope in a conditional critic


def condition_latents(conditioning: Conditioning | None, z: Array, y: Array | None) -> Array:
    """z `[B, L]` -> `[B, L + C]` with y's features appended; z itself for an unconditional model."""
    if conditioning is None:
        return z
    return jnp.concatenate([z, condition_features(conditioning, y, z.dtype)], axis=-1)


def projection(conditioning: Conditioning, phi: Array, y: Array) -> Array:
    """<embed(y), phi> `[B]` for features phi `[B, F]`; call it inside a compact ``__call__``
    (the embedding becomes the caller's submodule ``projection``)."""
    embedding = ConditionEmbedding(conditioning, phi.shape[-1], name=PROJECTION_NAME)(y)
    return jnp.sum(embedding.astype(phi.dtype) * phi, axis=-1)
