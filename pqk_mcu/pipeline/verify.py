"""``pqk-mcu verify``: a model's inputs through a board (or backend) and its oracle, compared bit for bit."""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
from tqdm import tqdm

from pqk_mcu.frontends.tflite import load_tflite, read_model_bytes
from pqk_mcu.ir.graph import Graph
from pqk_mcu.pipeline.backends import get_backend
from pqk_mcu.verify import VerifyReport, compare_backends, load_input_file, oracle_for, stream_random_inputs


def verify_model(
    graph: Graph,
    model_bytes: bytes,
    board: str,
    input_sets: Iterable[Sequence[np.ndarray]],
    progress=None,
) -> VerifyReport:
    """Run every input set through ``board`` and its oracle; record each disagreement."""
    oracle = oracle_for(board)
    run_board, run_oracle = get_backend(board), get_backend(oracle)
    return compare_backends(graph, model_bytes, input_sets, board, run_board, oracle, run_oracle, progress)


def verify_model_file(model: str, board: str, count: int, seed: int, input_file: str | None) -> VerifyReport:
    """Verify a .tflite on ``count`` random inputs (made one at a time) or the inputs of a .npy file,
    with a progress bar on a terminal."""
    model_bytes = read_model_bytes(model)
    graph = load_tflite(model_bytes, name=model)
    input_sets = load_input_file(graph, input_file) if input_file else stream_random_inputs(graph, count, seed)
    total = len(input_sets) if input_file else count
    with tqdm(total=total, desc=f"verify on {board}", unit="input", disable=None, leave=False) as bar:
        return verify_model(graph, model_bytes, board, input_sets, progress=lambda _: bar.update())
