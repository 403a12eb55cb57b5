"""A .tflite model loaded and looked at or changed: ``pqk-mcu inspect`` and ``pqk-mcu prune``."""

from __future__ import annotations

import json
from dataclasses import asdict

from rich.console import Group
from rich.table import Table

from pqk_mcu.errors import PqkError
from pqk_mcu.exporters.tflite import save_tflite
from pqk_mcu.frontends.tflite import OpOutline, load_tflite, outline_tflite
from pqk_mcu.ir.prune import prune_by_magnitude
from pqk_mcu.ir.summary import render_table, summarize
from pqk_mcu.ir.verify import verify_graph


def inspect_model(model: str, as_json: bool):
    """The op table of ``model``: JSON text, or a rich table titled with the model's path. A model
    pqk-mcu cannot compile (an unsupported op or type, or a graph its verifier refuses) still gets its
    op list, each unsupported op marked with the reason."""
    try:
        graph = load_tflite(model)
    except PqkError as refusal:
        try:
            outline = outline_tflite(model)
        except PqkError:
            raise refusal from None  # not readable op by op (malformed, several subgraphs): the refusal says why
        return _unsupported_outline(model, outline, str(refusal), as_json)
    summary = summarize(graph)
    return json.dumps(summary.to_dict(), indent=2) if as_json else render_table(summary, title=model)


def _unsupported_outline(model: str, outline: list[OpOutline], refusal: str, as_json: bool):
    note = f"pqk-mcu cannot compile this model: compile, build and verify refuse it ({refusal})"
    if as_json:
        return json.dumps({"supported": False, "refusal": refusal, "ops": [asdict(op) for op in outline]}, indent=2)
    table = Table(title=model)
    for header in ("#", "op", "inputs", "outputs", "unsupported"):
        table.add_column(header, justify="right" if header == "#" else "left")
    for op in outline:
        table.add_row(str(op.index), op.kind, ", ".join(op.inputs), ", ".join(op.outputs), op.unsupported)
    unsupported = sum(1 for op in outline if op.unsupported)
    table.add_section()
    table.add_row("", f"total ({len(outline)} ops)", "", "", f"{unsupported} unsupported")
    return Group(table, note)


def prune_model(model: str, sparsity: float, out_path: str) -> None:
    """Zero the smallest-magnitude ``sparsity`` of every weight tensor and save the model to ``out_path``."""
    pruned = prune_by_magnitude(load_tflite(model), sparsity)
    verify_graph(pruned)
    save_tflite(pruned, out_path)
