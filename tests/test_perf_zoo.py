"""The model-zoo benchmark (benchmarks/perf/zoo.py, run by `make bench`): machinery on a tiny case, and
the committed results consistent with the code (the Markdown and plots are what the committed JSON gives)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

PERF = Path(__file__).resolve().parents[1] / "benchmarks" / "perf"
sys.path.insert(0, str(PERF))  # run.py and zoo.py import their neighbours by name

import zoo  # noqa: E402

_spec = importlib.util.spec_from_file_location("perf_run", PERF / "run.py")
perf_run = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(perf_run)

HELLO = "hello_world_int8.tflite"


def _committed(name: str) -> dict:
    return json.loads((PERF / name).read_text())


def test_committed_markdown_is_what_the_committed_json_gives():
    results, zoo_results, anchors = _committed("results.json"), _committed("zoo.json"), zoo.load_anchors()
    assert perf_run.markdown(results, zoo_results, anchors) == (PERF / "results.md").read_text()
    assert zoo.markdown(zoo_results, anchors) == (PERF / "zoo.md").read_text()


def test_committed_plots_are_what_the_committed_json_gives(tmp_path):
    zoo_results = _committed("zoo.json")
    zoo.write_outputs(zoo_results, zoo.load_anchors(), tmp_path)
    for plot in sorted(tmp_path.glob("*.png")):
        assert plot.read_bytes() == (PERF / plot.name).read_bytes(), plot.name


def test_committed_zoo_covers_every_fixture_model_and_job():
    """A fixture model added (or a job changed) without rerunning `make bench` fails here."""
    zoo_results = _committed("zoo.json")
    assert zoo_results["models"] == zoo.zoo_models()
    measured = [(run["model"], run["board"], run["sparsity"]) for run in zoo_results["runs"]]
    assert measured == [(job.model, job.board, job.sparsity) for job in zoo.zoo_jobs(zoo.zoo_models())]
    assert all(set(run) >= {"estimated_m4_cycles", "instruction_classes", "flash_bytes", "arena_bytes"}
               for run in zoo_results["runs"])


def test_cmsis_nn_anchors_are_self_consistent():
    for model, anchor in zoo.load_anchors().items():
        if anchor["layers"]:
            assert sum(layer["instructions"] for layer in anchor["layers"]) <= anchor["instructions"], model
            assert [layer["index"] for layer in anchor["layers"]] == list(range(len(anchor["layers"])))


def test_zoo_machinery_on_a_tiny_case(toolchain, monkeypatch, tmp_path):
    monkeypatch.setattr(zoo, "REFERENCE_SPARSITIES", (0.0, 0.8, 0.9))
    monkeypatch.setattr(zoo, "OTHER_BOARDS", ("cortex-m3",))
    runs = zoo.run_jobs(zoo.zoo_jobs([HELLO]), "tiny zoo")
    results = json.loads(json.dumps(zoo.zoo_results([HELLO], runs)))  # as written to zoo.json
    assert [(run["board"], run["sparsity"]) for run in results["runs"]] == [
        ("cortex-m4", 0.0), ("cortex-m4", 0.8), ("cortex-m4", 0.9), ("cortex-m3", 0.0), ("cortex-m3", 0.9)]
    pruned = zoo.find_run(results, HELLO, "cortex-m4", 0.9)
    dense_macs = {layer["name"]: layer["macs"] for layer in zoo.find_run(results, HELLO, "cortex-m4", 0.0)["layers"]}
    # each weighted layer pruned: sparse, or shrunk by eliminate_dead_channels
    assert all(layer["sparsity"] >= 0.85 or layer["macs"] < dense_macs[layer["name"]]
               for layer in pruned["layers"] if layer["op"] in zoo.WEIGHTED_OPS)

    anchors = zoo.load_anchors()
    zoo.write_outputs(results, anchors, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "zoo.md", "zoo_dense_vs_sparse.png", "zoo_instructions_per_mac.png", "zoo_vs_cmsis_nn.png"]
    dense = zoo.find_run(results, HELLO, "cortex-m4", 0.0)
    assert f"| {HELLO} | {dense['macs']:,} | 3,594 | {dense['instructions']:,} |" in (tmp_path / "zoo.md").read_text()
    lines = zoo.done_when_lines(results, anchors)
    ratio = dense["instructions"] / 3594
    assert f"{'met' if ratio <= 0.8 else 'NOT met'}: {HELLO} dense <= 0.8x CMSIS-NN " \
           f"(measured {dense['instructions']:,} vs 3,594: {ratio:.2f}x)" in lines
    assert any(line.startswith(("met: ", "NOT met: ")) and "no layer above 1.1x" in line for line in lines)
    assert lines[-1] == "met: all outputs bit-exact (5 of 5 runs)"

