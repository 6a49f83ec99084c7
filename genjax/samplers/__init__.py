"""Samplers as pure functions: whole chains run inside one jitted loop."""

from genjax.samplers.autoregressive import sample_binary_autoregressive

__all__ = ["sample_binary_autoregressive"]
