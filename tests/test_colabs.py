"""Every notebook in colabs/ runs top to bottom in smoke mode, and its headline number is plausible."""

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "colabs").glob("*.ipynb"))
LOG2_17 = math.log2(17)  # bits/dim of the uniform model over the 17 grey levels of the 8x8 digits
# What each notebook prints once its last result is in, for a reader.
FINAL_OUTPUT = {
    "vae": "IWAE bound",
    "flows": "test bits/dim",
    "autoregressive": "test perplexity",
    "gans": "digits MMD to test",
    "ebm": "EBM test NLL",
    "score": "NCSN digits MMD",
    "ddpm": "DDPM digits bound",
}
# The one machine-readable line each notebook prints, "RESULT <name>=<float>", and the range its
# smoke run (a few training steps) must land in. Each range holds what the mathematics allows and
# excludes what a broken model gives (NaN, a diverged loss, a sign error, a collapsed sampler).
# A new notebook needs an entry here.
RESULT_RANGES = {
    # Log-likelihood bound of binary 8x8 digits: <= 0 because every Bernoulli probability is <= 1.
    # The uniform model scores -64 log 2 = -44.4 nats; a few steps give ~XX; below -80 the decoder or
    # the KL term has gone wrong.
    "vae": ("vae_iwae100_nats", -80.0, 0.0),
    "flows": ("glow_digits_bits_per_dim", 0.0, 100.0),
    "autoregressive": ("transformer_perplexity", 1.0, 8.0),
    "gans": ("dcgan_digits_mmd2", -1.0, 2.0),
    "ebm": ("ebm_cd_replay_kl_nats", -1.0, 100.0),
    "score": ("ncsn_digits_mmd2", -1.0, 2.0),
    "ddpm": ("ddpm_digits_bits_per_dim", 0.0, 100.0),
}
RESULT_LINE = re.compile(r"^RESULT (\w+)=(\S+)$", re.MULTILINE)


def notebook_source(path: Path) -> str:
    """The code cells joined into one script; shell (!) and magic (%) lines are dropped."""
    cells = json.loads(path.read_text())["cells"]
    lines = []
    for cell in cells:
        if cell["cell_type"] != "code":
            continue
        lines += [
            line for line in "".join(cell["source"]).splitlines() if not line.lstrip().startswith(("!", "%"))
        ]
        lines.append("")
    return "\n".join(lines)


@pytest.mark.slow
@pytest.mark.subprocess
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_in_smoke_mode(path, tmp_path):
    assert path.stem in RESULT_RANGES, f"add the RESULT line and range of {path.name} to RESULT_RANGES"
    script = tmp_path / f"{path.stem}.py"
    script.write_text(notebook_source(path))
    env = {
        **os.environ,
        "GENJAX_COLAB_SMOKE": "1",
        "GENJAX_COLAB_WORKDIR": str(tmp_path / "work"),
        "MPLBACKEND": "Agg",
        "PYTHONPATH": str(REPO),
        "JAX_PLATFORMS": "cpu",
    }
    # Smoke runs are compile-bound: XLA's cheapest optimisation level roughly halves their CPU time.
    # It changes the printed numbers only in their last digits, far inside the ranges checked here.
    env["XLA_FLAGS"] = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"
    result = subprocess.run(
        [sys.executable, str(script)], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert FINAL_OUTPUT.get(path.stem, "") in result.stdout

    name, low, high = RESULT_RANGES[path.stem]
    found = RESULT_LINE.findall(result.stdout)
    assert [key for key, _ in found] == [name], f"expected one 'RESULT {name}=...' line, got {found}"
    value = float(found[0][1])
    print(f"RESULT {name}={value!r}")
    assert math.isfinite(value) and low <= value <= high, f"{name} = {value} outside [{low}, {high}]"
