"""The package layer order the README's "How it is built" gives: imports run only down this list.

A package may import itself, the units of its own layer and any package below it; nothing imports upwards, not even inside a function
(a function-level import hides a cycle, it does not remove it). ``runner`` is held to less: it knows only
tools, so it imports the support modules and ``boards`` and nothing else.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "pqk_mcu"

# Bottom to top. The first entry is the support layer every package may use.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "atomic", "resources", "render", "options", "__init__"),
    ("quant",),
    ("ir",),
    ("reference",),
    ("boards",),
    ("frontends",),
    ("exporters",),
    ("audio",),
    ("codegen",),
    ("runner",),
    ("verify",),
    ("train",),
    ("pipeline",),
    ("cli", "__main__"),
)
RUNNER_MAY_IMPORT = set(LAYERS[0]) | {"boards", "runner"}


def _unit(module: str) -> str:
    """The layer unit of a dotted module name: pqk_mcu.ir.passes -> ir, pqk_mcu -> __init__."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _level(unit: str) -> int:
    for level, units in enumerate(LAYERS):
        if unit in units:
            return level
    raise AssertionError(f"pqk_mcu.{unit} is in no layer: add it to LAYERS here and to the README")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, imported pqk_mcu module) for every import in the file, at any depth."""
    module = _module_name(path)
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            # "from pqk_mcu import x" imports the unit x when x is a module, else a name of __init__.
            if target == "pqk_mcu":
                found += [(node.lineno, f"pqk_mcu.{alias.name}" if _is_unit(alias.name) else "pqk_mcu")
                          for alias in node.names]
            else:
                found.append((node.lineno, target))
    return [(line, name) for line, name in found if name == "pqk_mcu" or name.startswith("pqk_mcu.")]


def _is_unit(name: str) -> bool:
    return (PACKAGE / f"{name}.py").exists() or (PACKAGE / name).is_dir()


def _sources() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "templates" not in p.parts and "firmware" not in p.parts)


def upward_imports() -> list[str]:
    problems = []
    for path in _sources():
        unit = _unit(_module_name(path))
        for line, target in _imports(path):
            target_unit = _unit(target)
            where = f"{path.relative_to(PACKAGE.parent)}:{line} imports {target}"
            if target_unit == unit:
                continue
            if unit == "runner" and target_unit not in RUNNER_MAY_IMPORT:
                problems.append(f"{where} (runner knows only tools: support modules and boards)")
            elif _level(target_unit) > _level(unit):
                problems.append(f"{where} (up the layer order)")
    return problems


def test_every_package_is_in_a_layer():
    units = {_unit(_module_name(path)) for path in _sources()}
    for unit in units:
        _level(unit)


def test_no_import_runs_up_the_layer_order():
    assert upward_imports() == []


@pytest.mark.parametrize("source, problem", [
    ("from pqk_mcu.codegen import generate_c\n", "up the layer order"),
    ("def f():\n    from pqk_mcu.verify import compare\n", "up the layer order"),
    ("from ..pipeline import build\n", "up the layer order"),
])
def test_the_check_finds_an_upward_import(tmp_path, monkeypatch, source, problem):
    fake = PACKAGE / "ir" / "_layer_check_probe.py"
    monkeypatch.setattr(__import__(__name__), "_sources", lambda: [fake])
    original = Path.read_text
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: source if self == fake else original(self, *a, **k))
    assert len(upward_imports()) == 1 and problem in upward_imports()[0]


def test_runner_may_not_import_codegen(monkeypatch):
    fake = PACKAGE / "runner" / "_layer_check_probe.py"
    monkeypatch.setattr(__import__(__name__), "_sources", lambda: [fake])
    original = Path.read_text
    source = "from pqk_mcu.reference import run_reference\n"
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: source if self == fake else original(self, *a, **k))
    assert "runner knows only tools" in upward_imports()[0]
