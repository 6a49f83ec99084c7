"""Autoencoders (undercomplete, sparse, denoising, contractive): the `Autoencoder` module and the family."""

from genjax.models.autoencoder.family import Autoencoder, build

__all__ = ["Autoencoder", "build"]
