"""VQ-VAE (van den Oord et al. 2017) with a learned PixelCNN prior over its code grid: family ``vqvae``."""

from genjax.models.vqvae.codebook import codebook_statistics, restart_dead_codes
from genjax.models.vqvae.family import VQVAEParts, build, build_parts
from genjax.models.vqvae.networks import VQVAENetworks

__all__ = ["VQVAENetworks", "VQVAEParts", "build", "build_parts", "codebook_statistics", "restart_dead_codes"]
