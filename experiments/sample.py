"""Draws samples from a workdir's checkpoint (--checkpoint=best, latest or a step) as a PNG.

    python -m experiments.sample --workdir=/tmp/vae --num_samples=100 --output=/tmp/vae/grid.png

Images become a grid; 2-D data a scatter over the true density where it is
known, plus, for families with a likelihood, a heatmap of the model's density
(``<output>_density.png``). ``--temperature`` scales the base distribution of
the families that take one (flows): ``--temperature=0.7`` gives Glow-style
low-temperature samples.
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
_TEMPERATURE = flags.DEFINE_float("temperature", None, "Sampling temperature; default: the config's.")
_CHECKPOINT = flags.DEFINE_string("checkpoint", "best", "best (selected on validation), latest or a step.")
_OUTPUT = flags.DEFINE_string("output", None, "PNG path; default <workdir>/samples/sample_<step>.png.")
flags.mark_flag_as_required("workdir")


def _view_bounds(dataset) -> tuple[float, float, float, float]:
    """A square view around the test points, for 2-D density heatmaps."""
    import numpy as np

    points = dataset.test.gather(np.arange(min(dataset.test.num_examples, 10_000)))["x"]
    half_width = 1.1 * float(np.quantile(np.abs(points), 0.999))
    return (-half_width, half_width, -half_width, half_width)


def sample_workdir(
    config,
    workdir: str,
    num_samples: int,
    seed: int,
    output: str | None,
    temperature: float | None = None,
    checkpoint: str | int = "best",
) -> list[Path]:
    """Writes the sample PNG (and a model-density heatmap for 2-D data); returns the paths."""
    import functools
    import inspect

    import jax
    import numpy as np

    from genjax import visualize
    from genjax.errors import ConfigError
    from genjax.train.checkpoint import load_config
    from genjax.train.restore import restore_from_workdir

    if num_samples <= 0:
        raise ConfigError(f"--num_samples: got {num_samples}; must be a positive integer")
    config = config or load_config(workdir)
    model, dataset, state, _ = restore_from_workdir(config, workdir, checkpoint=checkpoint)
    step = int(jax.device_get(state.step))
    sample_fn = model.sample
    if temperature is not None:
        if "temperature" not in inspect.signature(model.sample).parameters:
            name = config.model.name
            raise ConfigError(f"--temperature: the {name!r} family's sampler takes no temperature")
        if temperature < 0:
            raise ConfigError(f"--temperature: got {temperature}; must be non-negative")
        sample_fn = functools.partial(model.sample, temperature=temperature)
    params = state.eval_params()
    samples = jax.jit(sample_fn, static_argnums=2)(params, jax.random.key(seed), num_samples)
    suffix = "" if temperature is None else f"_t{temperature:g}"
    path = Path(output) if output else Path(workdir) / "samples" / f"sample_{step:08d}{suffix}.png"
    paths = [path]
    log_prob = None
    if model.log_prob is not None and tuple(model.element_shape) == (2,):
        log_prob = jax.jit(lambda x: model.log_prob(params, {"x": x}, jax.random.key(seed)))
        paths.append(path.with_name(f"{path.stem}_density.png"))
    if jax.process_index() != 0:  # every process computes (one computation each); process 0 writes
        if log_prob is not None:  # the same grid save_density_2d evaluates on process 0
            visualize.density_on_grid(lambda points: np.asarray(log_prob(points)), _view_bounds(dataset), 200)
        return paths
    visualize.save_samples(path, np.asarray(jax.device_get(samples)), log_density=dataset.log_density)
    if log_prob is not None:
        visualize.save_density_2d(
            paths[1],
            lambda points: np.asarray(log_prob(points)),
            bounds=_view_bounds(dataset),
            title=f"{config.model.name} density, step {step}",
        )
    return paths


def main(argv):
    del argv
    paths = run_or_exit(
        lambda: sample_workdir(
            _CONFIG.value,
            _WORKDIR.value,
            _NUM_SAMPLES.value,
            _SEED.value,
            _OUTPUT.value,
            _TEMPERATURE.value,
            checkpoint=_CHECKPOINT.value,
        )
    )
    import jax

    for path in paths if jax.process_index() == 0 else ():
        print(path)


if __name__ == "__main__":
    app.run(main, flags_parser=parse_flags)
