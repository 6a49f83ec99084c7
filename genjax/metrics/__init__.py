"""Evaluation metrics as pure functions of arrays."""

from genjax.metrics.likelihood import bits_per_dim, perplexity

__all__ = ["bits_per_dim", "perplexity"]
