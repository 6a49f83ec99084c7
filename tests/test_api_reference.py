"""docs/api.md is what experiments.api_reference renders; the renderer's format on synthetic modules."""

from __future__ import annotations

import difflib
import textwrap
import types

import pytest

from experiments import api_reference

_SYNTHETIC_SOURCE = '''
from __future__ import annotations

from math import sqrt
from typing import NamedTuple


class Point(NamedTuple):
    """A point in the plane.

    More about points.
    """

    x: float
    y: float = 0.0


def add(a: int, b: int = 1, *, scale: float = 2.0) -> int:
    """Adds two numbers, then scales.

    Args:
      a, b: the numbers.
    """
    return (a + b) * scale


def undocumented(values: list[int], fn=print, **kwargs) -> None:
    pass


def _private() -> None:
    """Not listed."""
'''


def _module(name: str, source: str, doc: str | None = None) -> types.ModuleType:
    module = types.ModuleType(name, doc)
    exec(textwrap.dedent(source), module.__dict__)  # functions and classes get __module__ == name
    return module


def test_docs_api_md_is_fresh():
    expected = api_reference.render()
    path = api_reference.OUTPUT
    current = path.read_text(encoding="utf-8") if path.is_file() else ""
    if current != expected:
        old, new = current.splitlines(), expected.splitlines()
        diff = difflib.unified_diff(old, new, "docs/api.md", "rendered", lineterm="")
        pytest.fail(f"{api_reference.STALE_MESSAGE}\n" + "\n".join(list(diff)[:40]), pytrace=False)


def test_every_public_function_has_a_docstring():
    missing = [
        f"{module.__name__}.{name}"
        for module in api_reference.import_modules()
        for name in api_reference.public_names(module)
        if api_reference.is_function(getattr(module, name))
        and api_reference.first_doc_line(getattr(module, name)) is None
    ]
    assert not missing, f"public functions without a docstring: {', '.join(missing)}"


def test_render_module_without_all_lists_its_own_functions_and_classes():
    module = _module("synthetic", _SYNTHETIC_SOURCE, doc="A synthetic module.\n\nMore text.\n")
    assert api_reference.render_module(module) == (
        "## synthetic\n"
        "\n"
        "A synthetic module.\n"
        "\n"
        "- `Point(x: float, y: float = 0.0)` *NamedTuple*: A point in the plane.\n"
        "- `add(a: int, b: int = 1, *, scale: float = 2.0) -> int`: Adds two numbers, then scales.\n"
        "- `undocumented(values: list[int], fn=print, **kwargs) -> None`: (no docstring)\n"
    )


def test_render_module_with_all_notes_re_exports_and_constants():
    synthetic = _module("synthetic", _SYNTHETIC_SOURCE)
    module = _module("facade", "LIMIT = 3\n")
    module.add, module.Point, module.__all__ = synthetic.add, synthetic.Point, ["add", "LIMIT", "Point"]
    assert api_reference.render_module(module) == (
        "## facade\n"
        "\n"
        "- `LIMIT` *int*\n"
        "- `Point(x: float, y: float = 0.0)` *NamedTuple* (from synthetic): A point in the plane.\n"
        "- `add(a: int, b: int = 1, *, scale: float = 2.0) -> int` (from synthetic): "
        "Adds two numbers, then scales.\n"
    )
    module.__all__ = ["add", "missing"]
    with pytest.raises(AttributeError, match="'missing'"):
        api_reference.render_module(module)


def test_a_module_that_cannot_be_imported_is_an_error():
    with pytest.raises(ImportError, match="genjax.no_such_module"):
        api_reference.render(["genjax.metrics", "genjax.no_such_module"])


def test_check_exits_1_with_one_line_when_stale(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(api_reference, "OUTPUT", tmp_path / "api.md")
    monkeypatch.setattr(api_reference, "render", lambda: "# page\n")
    assert api_reference.main(["--check"]) == 1  # absent
    assert capsys.readouterr().err == "docs/api.md is stale; run python -m experiments.api_reference\n"
    assert api_reference.main([]) == 0
    assert (tmp_path / "api.md").read_text(encoding="utf-8") == "# page\n"
    assert api_reference.main(["--check"]) == 0
    (tmp_path / "api.md").write_text("# old page\n", encoding="utf-8")
    assert api_reference.main(["--check"]) == 1
