"""A .tflite model loaded and looked at or changed: ``pqk-mcu inspect`` and ``pqk-mcu prune``."""

from __future__ import annotations

import json

from pqk_mcu.exporters.tflite import save_tflite
from pqk_mcu.frontends.tflite import load_tflite
from pqk_mcu.ir.prune import prune_by_magnitude
from pqk_mcu.ir.summary import render_table, summarize
from pqk_mcu.ir.verify import verify_graph


def inspect_model(model: str, as_json: bool):
    """The op table of ``model``: JSON text, or a rich table titled with the model's path."""
    summary = summarize(load_tflite(model))
    return json.dumps(summary.to_dict(), indent=2) if as_json else render_table(summary, title=model)


def prune_model(model: str, sparsity: float, out_path: str) -> None:
    """Zero the smallest-magnitude ``sparsity`` of every weight tensor and save the model to ``out_path``."""
    pruned = prune_by_magnitude(load_tflite(model), sparsity)
    verify_graph(pruned)
    save_tflite(pruned, out_path)
