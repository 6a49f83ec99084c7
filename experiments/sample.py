"""Draws samples from a workdir's checkpoint (--checkpoint=best, latest or a step) as a PNG.

    python -m experiments.sample --workdir=/tmp/vae --num_samples=100 --output=/tmp/vae/grid.png

Images become a grid; 2-D data a scatter over the true density where it is
known, plus, for families with a likelihood, a heatmap of the model's density
(``<output>_density.png``). ``--temperature`` scales the base distribution of
the families that take one (flows): ``--temperature=0.7`` gives Glow-style
low-temperature samples.

Conditional models (``model.conditional=True``) draw a labelled grid by
default: one row per class, the class id at the row's start, and
``ceil(num_samples / num_classes)`` samples in each row. ``--label=K`` draws
``--num_samples`` of class K only; ``--guidance_scale=S`` passes classifier-free
guidance to the samplers that take it (DDPM, NCSN; 0 unconditional, 1
conditional, above 1 guided)::

    python -m experiments.sample --workdir=/tmp/ddpm_cond --num_samples=80 --guidance_scale=3
    python -m experiments.sample --workdir=/tmp/ddpm_cond --label=7 --num_samples=64
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
_LABEL = flags.DEFINE_integer("label", None, "Conditional models: draw only this class.")
_GUIDANCE_SCALE = flags.DEFINE_float(
    "guidance_scale", None, "Classifier-free guidance scale (DDPM, NCSN); default: the sampler's."
)
_OUTPUT = flags.DEFINE_string("output", None, "PNG path; default <workdir>/samples/sample_<step>.png.")
flags.mark_flag_as_required("workdir")


def _view_bounds(dataset) -> tuple[float, float, float, float]:
    """A square view around the test points, for 2-D density heatmaps."""
    import numpy as np

    points = dataset.test.gather(np.arange(min(dataset.test.num_examples, 10_000)))["x"]
    half_width = 1.1 * float(np.quantile(np.abs(points), 0.999))
    return (-half_width, half_width, -half_width, half_width)


def _check_label(model, family: str, label: int | None) -> int | None:
    """The number of classes of a label-conditional model (None otherwise); checks ``--label``."""
    from genjax.errors import ConfigError

    conditioning = model.conditioning
    if conditioning is not None and not conditioning.labels:
        shape = conditioning.cond_shape
        raise ConfigError(
            f"--workdir: the {family!r} model is conditioned on arrays of shape {shape}, not labels"
        )
    if label is None:
        return None if conditioning is None else conditioning.num_classes
    if conditioning is None:
        raise ConfigError(
            f"--label: the {family!r} model is unconditional (model.conditional=False); "
            "train it with --config.model.conditional=True"
        )
    if not 0 <= label < conditioning.num_classes:
        raise ConfigError(f"--label: got {label}; allowed: 0 to {conditioning.num_classes - 1}")
    return conditioning.num_classes


def sample_workdir(
    config,
    workdir: str,
    num_samples: int,
    seed: int,
    output: str | None,
    temperature: float | None = None,
    checkpoint: str | int = "best",
    label: int | None = None,
    guidance_scale: float | None = None,
) -> list[Path]:
    """Writes the sample PNG (and a model-density heatmap for 2-D data); returns the paths.

    A label-conditional model draws class ``label`` only, or without one a labelled grid
    (one row per class); ``guidance_scale`` goes to the sampler.
    """
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
    if guidance_scale is not None:
        if "guidance_scale" not in inspect.signature(model.sample).parameters:
            name = config.model.name
            raise ConfigError(f"--guidance_scale: the {name!r} family's sampler takes no guidance_scale")
        sample_fn = functools.partial(sample_fn, guidance_scale=guidance_scale)
    num_classes = _check_label(model, config.model.name, label)
    rows = None  # a labelled grid's rows (class ids), else one plain grid
    if num_classes is not None and label is None and len(model.element_shape) == 3:
        per_row = -(-num_samples // num_classes)
        rows, num_samples = list(range(num_classes)), per_row * num_classes
        sample_fn = functools.partial(sample_fn, cond=np.repeat(np.arange(num_classes), per_row))
    elif label is not None:
        sample_fn = functools.partial(sample_fn, cond=np.full(num_samples, label, np.int32))
    params = state.eval_params()
    samples = jax.jit(sample_fn, static_argnums=2)(params, jax.random.key(seed), num_samples)
    suffix = "" if temperature is None else f"_t{temperature:g}"
    suffix += "" if label is None else f"_label{label}"
    suffix += "" if guidance_scale is None else f"_g{guidance_scale:g}"
    path = Path(output) if output else Path(workdir) / "samples" / f"sample_{step:08d}{suffix}.png"
    paths = [path]
    log_prob = None
    # A conditional model's density needs y: drawn for --label only.
    if (
        model.log_prob is not None
        and tuple(model.element_shape) == (2,)
        and (num_classes is None or label is not None)
    ):

        def density_batch(x):
            return (
                {"x": x} if label is None else {"x": x, "label": jax.numpy.full(x.shape[:1], label, "int32")}
            )

        log_prob = jax.jit(lambda x: model.log_prob(params, density_batch(x), jax.random.key(seed)))
        paths.append(path.with_name(f"{path.stem}_density.png"))
    if jax.process_index() != 0:  # every process computes (one computation each); process 0 writes
        if log_prob is not None:  # the same grid save_density_2d evaluates on process 0
            visualize.density_on_grid(lambda points: np.asarray(log_prob(points)), _view_bounds(dataset), 200)
        return paths
    samples = np.asarray(jax.device_get(samples))
    if rows is not None:
        visualize.save_labelled_grid(path, samples.reshape(len(rows), -1, *samples.shape[1:]), rows)
    else:
        visualize.save_samples(path, samples, log_density=dataset.log_density)
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
            label=_LABEL.value,
            guidance_scale=_GUIDANCE_SCALE.value,
        )
    )
    import jax

    for path in paths if jax.process_index() == 0 else ():
        print(path)


if __name__ == "__main__":
    app.run(main, flags_parser=parse_flags)
