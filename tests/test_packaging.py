"""The wheel, and pqk-mcu installed from it the way a new user gets it: no torch, outside the repository.

The wheel is built once per module from a copy of the sources (no build isolation: this
environment's setuptools). The fresh virtual environment has no system site-packages; it gets the
wheel with ``pip install --no-index``, its base dependencies offered as links to the distributions
of this environment (the same pinned versions PyPI would give, without the download), so pip checks
the wheel's requirements and nothing of the [train] extra is there.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from importlib.metadata import distribution
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from conftest import FIXTURES, REPO, require_tools
from pqk_mcu.cli import main
from pqk_mcu.train import TRAINING_MODULES

pytestmark = pytest.mark.slow

SOURCES = ("pyproject.toml", "README.md", "pqk_mcu", "templates", "firmware")
# Where each source folder lands in the wheel.
WHEEL_FOLDERS = {"pqk_mcu": "pqk_mcu", "templates": "pqk_mcu/templates", "firmware": "pqk_mcu/firmware"}
MODEL = FIXTURES / "hello_world_int8.tflite"
TRAIN_HINT = "pip install 'pqk-mcu[train]'"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("wheel")
    (root / "source").mkdir()
    for name in SOURCES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, root / "source" / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, root / "source" / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(root / "dist"), str(root / "source")], check=True, capture_output=True)
    (built,) = (root / "dist").glob("pqk_mcu-*.whl")
    return built


def _base_distributions(wheel: Path) -> set[str]:
    """The wheel's requirements without extras, and theirs, as distribution names of this environment."""
    with zipfile.ZipFile(wheel) as archive:
        metadata = next(name for name in archive.namelist() if name.endswith(".dist-info/METADATA"))
        pending = [line.split(":", 1)[1].strip() for line in archive.read(metadata).decode().splitlines()
                   if line.startswith("Requires-Dist:")]
    names: set[str] = set()
    while pending:
        requirement = Requirement(pending.pop())
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        dist = distribution(requirement.name)
        if dist.metadata["Name"] not in names:
            names.add(dist.metadata["Name"])
            pending.extend(dist.requires or [])
    return names


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """The bin folder of a fresh venv holding the wheel and its base dependencies only."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site_packages = venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    for name in _base_distributions(wheel):
        dist = distribution(name)
        for top in {file.parts[0] for file in dist.files if file.parts[0] != ".."}:
            if not (site_packages / top).exists():
                (site_packages / top).symlink_to(dist.locate_file(top))
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "-q",
                    "--no-index", "--no-compile", str(wheel)], check=True, capture_output=True)
    return venv / "bin"


def _source_files(folder: str) -> set[str]:
    root = REPO / folder
    return {
        f"{WHEEL_FOLDERS[folder]}/{path.relative_to(root).as_posix()}" for path in root.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }


def test_wheel_holds_the_package_templates_and_firmware(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = {name for name in archive.namelist() if ".dist-info/" not in name}
    assert names == _source_files("pqk_mcu") | _source_files("templates") | _source_files("firmware")


def _pqk_mcu(bin_dir: Path, cwd: Path, *arguments: str) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    environment["PQK_MCU_CACHE_DIR"] = str(cwd / "cache")
    return subprocess.run([str(bin_dir / "pqk-mcu"), *arguments], cwd=cwd, env=environment, capture_output=True,
                          text=True, timeout=600)


def _installed_files(bin_dir: Path) -> set[Path]:
    package = Path(subprocess.run([str(bin_dir / "python"), "-c", "import pqk_mcu; print(pqk_mcu.__file__)"],
                                  capture_output=True, text=True, check=True).stdout.strip()).parent
    return {path for path in package.rglob("*") if "__pycache__" not in path.parts}


@pytest.mark.toolchain
def test_installed_wheel_compiles_builds_verifies_and_benchmarks_without_torch(installed, tmp_path):
    require_tools("arm-none-eabi-gcc", "qemu-system-arm", "gcc")
    missing = subprocess.run([str(installed / "python"), "-c", "import importlib.util, sys; "
                              f"print([m for m in {TRAINING_MODULES!r} if importlib.util.find_spec(m)])"],
                             capture_output=True, text=True, check=True)
    assert missing.stdout.strip() == "[]"
    shutil.copy(MODEL, tmp_path / "model.tflite")
    before = _installed_files(installed)
    for command in (
        ("compile", "model.tflite", "--board", "cortex-m4", "-o", "lib"),
        ("build", "model.tflite", "--board", "cortex-m4", "-o", "firmware"),
        ("verify", "model.tflite", "--board", "cortex-m4", "--inputs", "2"),
        ("verify", "model.tflite", "--board", "host", "--inputs", "2"),
        ("bench", "model.tflite", "--board", "cortex-m4", "--json", "bench.json"),
    ):
        result = _pqk_mcu(installed, tmp_path, *command)
        assert result.returncode == 0, f"{command}: {result.stdout[-2000:]}{result.stderr[-2000:]}"
    assert (tmp_path / "lib" / "CMakeLists.txt").is_file() and (tmp_path / "firmware" / "firmware.elf").is_file()
    assert json.loads((tmp_path / "bench.json").read_text())
    assert _installed_files(installed) == before  # caches went to PQK_MCU_CACHE_DIR
    assert list((tmp_path / "cache" / "host-runtime").glob("*.o"))


def test_installed_wheel_without_train_extra_says_how_to_get_it(installed, tmp_path):
    result = _pqk_mcu(installed, tmp_path, "train", "--task", "digits", "--out", "run")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ") and TRAIN_HINT in result.stderr
    assert not (tmp_path / "run").exists()


def test_compile_and_verify_never_import_the_training_stack(tmp_path):
    """Here, where torch is installed, compile and verify still leave it unimported."""
    script = (
        "import sys\n"
        "from pqk_mcu.cli import cli\n"
        f"cli.main(args=['compile', {str(MODEL)!r}, '-o', {str(tmp_path / 'gen')!r}], standalone_mode=False)\n"
        f"cli.main(args=['verify', {str(MODEL)!r}, '--inputs', '1'], standalone_mode=False)\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {TRAINING_MODULES!r}))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_training_commands_without_the_train_extra_print_the_install_hint(monkeypatch, capsys):
    monkeypatch.setattr("pqk_mcu.train.find_spec", lambda module: None if module == "torch" else object())
    for command in (["train", "--task", "digits", "--out", "never"], ["experiment", "--task", "digits", "--out", "never"]):
        with pytest.raises(SystemExit) as exit_info:
            main(command)
        assert exit_info.value.code == 2
        assert capsys.readouterr().err == f"error: training needs torch, which pqk-mcu installs without: {TRAIN_HINT}\n"
