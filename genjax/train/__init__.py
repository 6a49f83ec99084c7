"""The one training loop: state, multi-player step, checkpoints, logging, evaluation."""

from genjax.train.loop import train_and_evaluate
from genjax.train.state import TrainState
from genjax.train.step import init_train_state, make_mesh, make_single_step, make_train_step

__all__ = [
    "TrainState",
    "init_train_state",
    "make_mesh",
    "make_single_step",
    "make_train_step",
    "train_and_evaluate",
]
