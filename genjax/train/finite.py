"""Stopping a run at its first non-finite value, naming where it appeared."""

from __future__ import annotations

from collections.abc import Sequence

import jax
import numpy as np

from genjax.errors import TrainingDivergedError

_INTACT = "stopped without saving it, the last good checkpoint is intact"


def _player_and_metric(name: str, players: Sequence[str]) -> tuple[str, str]:
    player, _, metric = name.rpartition("/")
    return (player, metric) if player in players else (players[0], name)


def check_finite(metrics: dict[str, np.ndarray], start: int, players: Sequence[str], *, state=None) -> None:
    """Raises `TrainingDivergedError` at a chunk's first non-finite loss (every metric when debugging).

    Args:
      metrics: ``{name: [K]}`` per-step values of the chunk that began at step ``start``.
      players: the model's players (metric names carry ``<player>/`` when there are several).
      state: with ``train.debug_nans``, the state after the chunk: every metric is
        checked (gradient norms and learning rates too, where a NaN usually shows
        first), then every player's parameters.
    """
    debug = state is not None
    checked = {n: v for n, v in metrics.items() if debug or n.endswith("loss")}
    first = None  # (step offset, metric order, name, value)
    for order, (name, values) in enumerate(checked.items()):
        bad = np.flatnonzero(~np.isfinite(np.asarray(values, np.float64)))
        if bad.size and (first is None or (bad[0], order) < first[:2]):
            first = (int(bad[0]), order, name, values[bad[0]])
    if first is not None:
        offset, _, name, value = first
        if not debug:
            raise TrainingDivergedError(f"non-finite {name} ({value}) at step {start + offset}; {_INTACT}")
        player, metric = _player_and_metric(name, players)
        raise TrainingDivergedError(
            f"train.debug_nans: first non-finite value at step {start + offset}: player {player!r}, "
            f"metric {metric!r} ({value}); {_INTACT}"
        )
    if debug:
        for player in players:
            leaves = jax.tree.leaves(jax.device_get(state.params[player]))
            if not all(np.all(np.isfinite(leaf)) for leaf in leaves):
                end = int(jax.device_get(state.step))
                raise TrainingDivergedError(
                    f"train.debug_nans: player {player!r} has non-finite parameters after the chunk "
                    f"ending at step {end} though every metric is finite; {_INTACT}"
                )
