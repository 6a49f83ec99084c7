"""Converts the PyTorch FID Inception-v3 weights to the .npz that genjax's Inception-v3 loads.

    python -m experiments.features.convert_inception_weights \
        --input=/path/pt_inception-2015-12-05-6726825d.pth --output=/path/inception_fid.npz

The input is pytorch-fid's ``pt_inception-2015-12-05-6726825d.pth`` or
torch-fidelity's ``weights-inception-2015-12-05-6726825d.pth`` (the same
parameters), fetched by you; nothing is downloaded here. Needs torch (the
``benchmark`` extra). Then set ``GENJAX_INCEPTION_WEIGHTS`` to the output, or
pass it to ``genjax.features.inception_v3.load_inception_v3``.
"""

from __future__ import annotations

from pathlib import Path

from absl import app, flags

from experiments.cli import parse_flags, run_or_exit

_INPUT = flags.DEFINE_string("input", None, "The PyTorch FID Inception-v3 state dict (.pth).")
_OUTPUT = flags.DEFINE_string("output", None, "Where to write the converted weights (.npz).")
flags.mark_flags_as_required(["input", "output"])


def convert(input_path: str, output_path: str) -> Path:
    """Checks the flags' files, converts and returns the output path; problems are one-line ConfigErrors."""
    from genjax.errors import ConfigError

    source = Path(input_path).expanduser()
    if not source.is_file():
        raise ConfigError(
            f"--input: no file at {source}; give the FID Inception-v3 weights "
            "(pytorch-fid's pt_inception-2015-12-05-6726825d.pth or torch-fidelity's "
            "weights-inception-2015-12-05-6726825d.pth)"
        )
    try:
        import torch  # noqa: F401
    except ImportError as error:
        raise ConfigError(
            "--input: reading a .pth file needs torch: pip install -e '.[benchmark]'"
        ) from error
    from genjax.features.convert_inception import convert_file

    target = Path(output_path).expanduser()
    try:
        convert_file(source, target)
    except ValueError as error:  # not a tensor file, or not this network's state dict
        raise ConfigError(f"--input: {str(error).splitlines()[0]}") from error
    return target


def main(argv):
    del argv
    target = run_or_exit(lambda: convert(_INPUT.value, _OUTPUT.value))
    print(f"wrote {target}; set GENJAX_INCEPTION_WEIGHTS={target}")


if __name__ == "__main__":
    app.run(main, flags_parser=parse_flags)
