"""Variational autoencoders: the `VAE` module (MLP or conv encoder/decoder) and the ``vae`` family."""

from genjax.models.vae.family import VAE, build

__all__ = ["VAE", "build"]
