"""Codebook maintenance and measurement: dead-code restarts and whole-split usage and perplexity."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import chex
import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array


def restart_dead_codes(rng: Array, codebook: Array, dead: Array, candidates: Array) -> Array:
    """Re-initialises the dead codes to encoder outputs drawn at random from ``candidates``.

    Args:
      rng: key for the draw; the result is a deterministic function of it.
      codebook: `[K, D]` codes.
      dead: `[K]` bool, the codes to replace.
      candidates: `[N, D]` encoder outputs of the current batch (distinct draws when N >= K).
    Returns:
      `[K, D]`: row k is a drawn candidate where ``dead[k]``, else ``codebook[k]`` unchanged.
    """
    num_codes, dim = codebook.shape
    chex.assert_shape(dead, (num_codes,), custom_message="restart_dead_codes: dead must be [K]")
    chex.assert_shape(candidates, (None, dim), custom_message="restart_dead_codes: candidates must be [N, D]")
    num_candidates = candidates.shape[0]
    drawn = jax.random.choice(rng, num_candidates, (num_codes,), replace=num_candidates < num_codes)
    return jnp.where(dead[:, None], candidates[drawn], codebook)


def statistics_from_counts(counts: np.ndarray) -> dict[str, float | np.ndarray]:
    """Code counts `[K]` -> {usage, perplexity, counts}.

    usage is the fraction of the K codes used at least once; perplexity is
    exp(entropy) of the empirical code distribution, between 1 (one code) and K
    (all codes equally often).
    """
    counts = np.asarray(counts, np.int64)
    total = counts.sum()
    if total == 0:
        raise ValueError("codebook statistics need at least one encoded vector")
    p = counts[counts > 0] / total
    return {
        "usage": float(np.mean(counts > 0)),
        "perplexity": float(np.exp(-np.sum(p * np.log(p)))),
        "counts": counts,
    }


def codebook_statistics(
    indices_fn: Callable[[Mapping[str, Array]], Array], batches: Iterable[Mapping[str, Array]], num_codes: int
) -> dict[str, float | np.ndarray]:
    """Usage and perplexity of the codebook over a whole split, not one batch.

    A batch sees at most B·h·w codes, so per-batch perplexities understate how many
    codes a model uses; this accumulates the counts over every batch first.

    Args:
      indices_fn: ``batch -> [B, ...]`` int code indices of each example (e.g.
        `VQVAEParts.encode_indices` with the parameters bound, jitted).
      batches: the split's batches; rows with ``batch["mask"] == 0`` (evaluation padding)
        are not counted.
      num_codes: K.
    Returns:
      ``{"usage": float, "perplexity": float, "counts": [K] int64}``.
    """
    counts = np.zeros(num_codes, np.int64)
    for batch in batches:
        indices = np.asarray(indices_fn(batch))
        mask = batch.get("mask")
        if mask is not None:
            indices = indices[np.asarray(mask) > 0]
        counts += np.bincount(indices.reshape(-1), minlength=num_codes)
    return statistics_from_counts(counts)
