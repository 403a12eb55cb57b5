"""One training run end to end: train (or resume), export the int8 student, check it, write metrics.

Output folder: ``checkpoint.pt`` (resumable), ``model.tflite`` (int8 student; not for float runs),
``metrics.json``. The exported file is read back with ``pqk_mcu.frontends.tflite.load_tflite`` and
run by the reference interpreter on test examples; ``export_check`` records how many outputs match
the PyTorch integer simulation bit for bit. Accuracy is that of the integer model on the test split
(``export.int8_accuracy``); float runs report the float model's accuracy. Further test splits of the
data (``TaskData.extra_tests``, e.g. KWS corpus v2's noisy one) add ``accuracy_<name>``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from pqk_mcu.atomic import write_bytes_atomic, write_text_atomic
from pqk_mcu.errors import PqkError
from pqk_mcu.exporters.tflite import export_tflite
from pqk_mcu.frontends.tflite import load_tflite
from pqk_mcu.ir.graph import Graph
from pqk_mcu.train.data import TaskData, load_task
from pqk_mcu.train.export import build_graph, check_export, graph_sparsity, int8_accuracy
from pqk_mcu.train.pruning import mask_sparsity
from pqk_mcu.train.trainer import TrainConfig, evaluate, train

TFLITE_NAME = "model.tflite"
METRICS_NAME = "metrics.json"
EXPORT_CHECK_EXAMPLES = 32


def method_of(config: TrainConfig) -> str:
    """The experiment's method name: float, int8 (dense QAT), phase1 (pruning + QAT) or pqk."""
    if not config.quantize:
        return "float"
    if config.sparsity == 0.0:
        return "int8"
    return "pqk" if 2 in config.phases else "phase1"


def load_run_data(config: TrainConfig, data_dir: str | os.PathLike | None, progress: bool = True) -> TaskData:
    """The data ``config`` trains on: its task's loader with its seed and (KWS) augmentation."""
    options = {"augment": None} if config.augment == "standard" else {}
    return load_task(config.task, data_dir, seed=config.seed, progress=progress, **options)


def student_graph(model, config: TrainConfig, class_names) -> Graph:
    """The int8 graph of a trained student, with labels and run description in its metadata."""
    if not config.quantize:
        raise PqkError("the checkpoint holds a float model (trained without int8 QAT); there is no int8 student to export")
    metadata = {"pqk_task": config.task, "pqk_model": config.model, "pqk_method": method_of(config)}
    return build_graph(model, tuple(class_names), metadata)


def train_and_export(config: TrainConfig, data: TaskData, out_dir: str | os.PathLike) -> dict:
    """Run ``config`` on ``data`` into ``out_dir``; returns (and writes) the metrics."""
    out = Path(out_dir)
    started = time.monotonic()
    created = not out.exists()
    try:
        result = train(config, data, out)
    except BaseException:
        if created and out.is_dir() and not any(out.iterdir()):
            out.rmdir()  # the run failed before its first checkpoint: nothing to resume, no empty folder left
        raise
    if int(os.environ.get("RANK", "0")) != 0:  # torchrun: rank 0 alone exports and reports
        return {}
    x_test, y_test = data.test
    method = method_of(config)
    metrics = {
        "task": data.task,
        "model": config.model,
        "method": method,
        "target_sparsity": config.sparsity,
        "mask_sparsity": mask_sparsity(result.model),
        "checkpoint": str(result.checkpoint),
        "history": result.history,
        "config": config.to_dict(),
    }
    if config.quantize:
        graph = student_graph(result.model, config, data.class_names)
        model_bytes = export_tflite(graph)
        tflite = out / TFLITE_NAME
        write_bytes_atomic(tflite, model_bytes)
        check = check_export(load_tflite(model_bytes), result.model, x_test[:EXPORT_CHECK_EXAMPLES])
        metrics.update(sparsity=graph_sparsity(graph), accuracy=int8_accuracy(result.model, x_test, y_test),
                       fake_quant_accuracy=evaluate(result.model, x_test, y_test), tflite=str(tflite),
                       export_check=check)
    else:
        metrics.update(sparsity=0.0, accuracy=evaluate(result.model, x_test, y_test), tflite=None)
    for name, (x_extra, y_extra) in sorted(data.extra_tests.items()):
        accuracy = int8_accuracy if config.quantize else evaluate
        metrics[f"accuracy_{name}"] = accuracy(result.model, x_extra, y_extra)
    metrics["seconds"] = round(time.monotonic() - started, 1)
    write_text_atomic(out / METRICS_NAME, json.dumps(metrics, indent=2) + "\n")
    return metrics
