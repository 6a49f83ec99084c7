"""Every notebook in colabs/ runs top to bottom in smoke mode."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "colabs").glob("*.ipynb"))
# What each notebook prints once its last result is in (an unknown notebook must finish).
FINAL_OUTPUT = {
    "vae": "IWAE bound",
    "flows": "test bits/dim",
    "autoregressive": "test perplexity",
    "gans": "digits MMD to test",
    "ebm": "EBM test NLL",
    "score": "NCSN digits MMD",
    "ddpm": "DDPM digits bound",
}


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


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_in_smoke_mode(path, tmp_path):
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
    # Smoke runs are compile-bound: XLA's cheapest optimisation level roughly halves their CPU time
    # (the numbers they print are not checked, only that every cell runs).
    env["XLA_FLAGS"] = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"
    result = subprocess.run(
        [sys.executable, str(script)], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert FINAL_OUTPUT.get(path.stem, "") in result.stdout
