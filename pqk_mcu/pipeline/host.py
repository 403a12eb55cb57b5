"""The generated C on the host: ``HostModel`` generates, builds once (gcc under ASan/UBSan,
``pqk_mcu.runner.host``) and runs batches of inputs in one process, converting float graph edges
with the reference's own QUANTIZE / DEQUANTIZE. ``host_backend`` is the ``host`` backend for
``pqk-mcu verify``.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np

from pqk_mcu.codegen import GeneratedModel, generate_c
from pqk_mcu.errors import PqkError
from pqk_mcu.ir.graph import Graph
from pqk_mcu.pipeline.core_io import CoreIO
from pqk_mcu.runner.host import build_host, run_host


class HostModel:
    """A graph generated and built for the host once, then run on any number of inputs."""

    def __init__(self, graph: Graph, weight_format: str = "auto", work_dir: str | Path | None = None,
                 sanitize: bool = True) -> None:
        self.graph = graph
        if work_dir is None:
            work_dir = tempfile.mkdtemp(prefix="pqk-host-")
            atexit.register(shutil.rmtree, work_dir, True)
        self.work_dir = Path(work_dir)
        self.generated: GeneratedModel = generate_c(graph, self.work_dir / "gen", weight_format)
        self.executable = build_host(self.generated.out_dir, sanitize=sanitize, out_dir=self.work_dir / "build")
        self.io = CoreIO.of(graph, self.generated)

    def run(self, samples: Sequence[Sequence[np.ndarray]]) -> list[dict]:
        """Run each sample (one array per graph input); per sample {"outputs": [...], "tensors": {...}}."""
        core_inputs = [self.io.core_inputs(sample) for sample in samples]
        outputs, records = run_host(self.executable, b"".join(map(self.io.pack, core_inputs)))
        size = self.generated.output_size
        if len(outputs) != size * len(samples):
            raise PqkError(f"host run wrote {len(outputs)} output bytes for {len(samples)} sample(s)")
        ops = len(self.generated.layers)
        if len(records) != ops * len(samples):
            raise PqkError(f"host trace has {len(records)} records, expected {ops * len(samples)}")
        return [
            self.io.result(arrays, outputs[number * size : (number + 1) * size], records[number * ops : (number + 1) * ops])
            for number, arrays in enumerate(core_inputs)
        ]


_MODELS: dict[tuple[str, str], HostModel] = {}


def host_model(graph: Graph, weight_format: str = "auto") -> HostModel:
    """The built ``HostModel`` of ``graph`` (built once per process and weight format)."""
    key = (graph.fingerprint(), weight_format)
    if key not in _MODELS:
        _MODELS[key] = HostModel(graph, weight_format)
    return _MODELS[key]


def host_backend(graph: Graph, model_bytes: bytes | None, inputs: Sequence[np.ndarray]) -> dict:
    """``pqk-mcu verify --board host``: the generated C under ASan/UBSan on one sample."""
    return host_model(graph).run([inputs])[0]
