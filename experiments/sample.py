"""Draws samples from a workdir's latest checkpoint and writes them as a PNG.

    python -m experiments.sample --workdir=/tmp/vae --num_samples=100 --output=/tmp/vae/grid.png

Images become a grid; 2-D data a scatter over the true density where it is known.
"""

from __future__ import annotations

from pathlib import Path

from absl import app, flags
from ml_collections import config_flags

from experiments.cli import parse_flags, run_or_exit

_CONFIG = config_flags.DEFINE_config_file("config", None, "Config; defaults to <workdir>/config.json.")
_WORKDIR = flags.DEFINE_string("workdir", None, "A training run's workdir.")
_NUM_SAMPLES = flags.DEFINE_integer("num_samples", 64, "How many samples to draw.")
_SEED = flags.DEFINE_integer("seed", 0, "Sampling seed (independent of the training seed).")
_OUTPUT = flags.DEFINE_string("output", None, "PNG path; default <workdir>/samples/sample_<step>.png.")
flags.mark_flag_as_required("workdir")


def sample_workdir(config, workdir: str, num_samples: int, seed: int, output: str | None) -> Path:
    import jax
    import numpy as np

    from genjax import visualize
    from genjax.errors import ConfigError
    from genjax.train.checkpoint import load_config
    from genjax.train.restore import restore_from_workdir

    if num_samples <= 0:
        raise ConfigError(f"--num_samples: got {num_samples}; must be a positive integer")
    config = config or load_config(workdir)
    model, dataset, state, _ = restore_from_workdir(config, workdir)
    step = int(jax.device_get(state.step))
    samples = jax.jit(model.sample, static_argnums=2)(state.eval_params(), jax.random.key(seed), num_samples)
    path = Path(output) if output else Path(workdir) / "samples" / f"sample_{step:08d}.png"
    visualize.save_samples(path, np.asarray(jax.device_get(samples)), log_density=dataset.log_density)
    return path


def main(argv):
    del argv
    path = run_or_exit(
        lambda: sample_workdir(_CONFIG.value, _WORKDIR.value, _NUM_SAMPLES.value, _SEED.value, _OUTPUT.value)
    )
    print(path)


if __name__ == "__main__":
    app.run(main, flags_parser=parse_flags)
