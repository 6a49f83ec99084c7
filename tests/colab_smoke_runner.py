"""Runs notebooks' code cells one after another in this one interpreter; used by tests/test_colabs.py.

    python tests/colab_smoke_runner.py OUT.json NOTEBOOK.ipynb [NOTEBOOK.ipynb ...]

Each notebook runs in a fresh namespace as ``__main__``, with its stdout and
stderr captured; a failure is recorded (its traceback) and the next notebook
still runs. With ``$GENJAX_COLAB_WORKDIR`` set, notebook ``NAME`` gets
``$GENJAX_COLAB_WORKDIR/NAME`` as its workdir. One interpreter for all of them
pays Python's and JAX's start-up once instead of once per notebook. Writes
``{stem: {"ok", "stdout", "error", "seconds"}}`` to OUT.json.
"""

from __future__ import annotations

import contextlib
import gc
import io
import json
import os
import sys
import time
import traceback
from pathlib import Path


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


def run_notebook(path: Path) -> dict:
    stdout, stderr = io.StringIO(), io.StringIO()
    start = time.perf_counter()
    error = None
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            code = compile(notebook_source(path), str(path), "exec")
            exec(code, {"__name__": "__main__", "__file__": str(path)})
        except BaseException:  # noqa: BLE001 - SystemExit too: a notebook must not end the run
            error = traceback.format_exc()
    # Figures and arrays of one notebook must not pile up in the next one's memory.
    import matplotlib.pyplot as plt

    plt.close("all")
    gc.collect()
    return {
        "ok": error is None,
        "stdout": stdout.getvalue(),
        "error": (error or "") + stderr.getvalue()[-3000:],
        "seconds": time.perf_counter() - start,
    }


def main(argv: list[str]) -> None:
    out, *notebooks = argv
    base_workdir = os.environ.get("GENJAX_COLAB_WORKDIR")
    results = {}
    for name in notebooks:
        path = Path(name)
        if base_workdir:  # a workdir per notebook: one family must never resume another's checkpoint
            os.environ["GENJAX_COLAB_WORKDIR"] = str(Path(base_workdir) / path.stem)
        results[path.stem] = run_notebook(path)
        # Written after every notebook, so a crash of the interpreter still leaves the earlier results.
        Path(out).write_text(json.dumps(results))


if __name__ == "__main__":
    main(sys.argv[1:])
