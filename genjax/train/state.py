"""The training state: everything needed to resume a run, nothing more."""

from __future__ import annotations

from typing import Any

import flax.struct
import jax


@flax.struct.dataclass
class TrainState:
    """Step counter, per-player parameters and optimizer states, optional EMA and model state.

    Randomness is not stored: every key is derived as
    ``fold_in(fold_in(seed_key, step), purpose)``, and data batches are a pure
    function of (seed, step), so (step, params, opt_state, ema_params) determine
    the rest of the run exactly.

    Attributes:
      step: int32 scalar, the number of optimisation steps taken.
      params: ``{player: pytree}``.
      opt_state: ``{player: optax state}``.
      ema_params: exponential moving average of ``params`` or None when disabled.
      model_state: the family's non-differentiated arrays (persistent chains, a
        replay buffer; see `GenerativeModel.init_model_state`) or None.
    """

    step: jax.Array
    params: dict[str, Any]
    opt_state: dict[str, Any]
    ema_params: dict[str, Any] | None = None
    model_state: Any = None

    def eval_params(self) -> dict[str, Any]:
        """The parameters used for evaluation and sampling: EMA when kept."""
        return self.params if self.ema_params is None else self.ema_params
