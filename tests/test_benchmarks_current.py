"""The committed accuracy grids (benchmarks/kws, benchmarks/mnist) are what `make experiment` gives with this code.

A changed default (a PQK option, the schedule, the augmentation) makes the grid retrain runs; without
retraining, the committed tables would describe other code. This reads the commands `make -n experiment`
would run, parses them with the CLI itself and checks every committed run against its grid run.
"""

import json
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from pqk_mcu.cli import cli
from pqk_mcu.train import experiment

ROOT = Path(__file__).resolve().parents[1]


def _experiment_commands() -> list[list[str]]:
    if shutil.which("make") is None:
        pytest.skip("make is missing")
    # `make -n` prints the recipe without running it (nor its `setup` prerequisite's effects).
    printed = subprocess.run(["make", "-n", "experiment"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    commands = [shlex.split(line) for line in printed.replace("\\\n", " ").splitlines()]
    return [c[c.index("experiment"):] for c in commands if "pqk_mcu.cli" in c and "experiment" in c]


def _grid_options(arguments: list[str], monkeypatch) -> dict:
    captured = {}

    def capture(task, out_dir, data_dir=None, data=None, jobs=1, **grid_options):
        captured.update(task=task, out=Path(out_dir), grid_options=grid_options)
        return []

    monkeypatch.setattr(experiment, "run_experiment", capture)
    cli.main(arguments, standalone_mode=False)
    return captured


def test_committed_grids_are_what_make_experiment_gives(monkeypatch):
    commands = _experiment_commands()
    assert {c[c.index("--task") + 1] for c in commands} == {"kws", "mnist"}
    for arguments in commands:
        captured = _grid_options(arguments, monkeypatch)
        out = ROOT / captured["out"]
        grid = experiment.experiment_grid(captured["task"], **captured["grid_options"])
        assert sorted(p.name for p in (out / "runs").iterdir()) == sorted(run.name for run in grid)
        for run in grid:
            metrics = experiment.reusable_metrics(out / "runs" / run.name / "metrics.json", run.config)
            assert metrics is not None, f"{out.name}/runs/{run.name} was trained by another configuration"
        rows = json.loads((out / "results.json").read_text())
        assert len(rows) == len(grid)
        for row in rows:
            assert row["tflite"] is None or (out / row["tflite"]).is_file()
