"""PQK training checkpoint -> int8 Graph (the student, as ``pqk-mcu train`` exports it).

Here, above both the training stack and the IR, rather than among the frontends: reading a checkpoint
takes the training code (and torch), which the frontends must not import.
"""

from __future__ import annotations

import os

from pqk_mcu.ir.graph import Graph
from pqk_mcu.train.run import student_graph
from pqk_mcu.train.trainer import TrainConfig, model_from_checkpoint, read_checkpoint


def load_pqk_checkpoint(path: str | os.PathLike) -> Graph:
    """The checkpoint's student as a verified int8 Graph, class names in metadata ``pqk_labels``.

    Raises ``PqkError`` for files that are not pqk-mcu checkpoints or whose student was trained
    without int8 quantization.
    """
    payload = read_checkpoint(path)
    config = TrainConfig.from_dict(payload["config"])
    return student_graph(model_from_checkpoint(payload), config, payload["class_names"])
