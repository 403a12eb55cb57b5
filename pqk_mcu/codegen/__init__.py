"""Code generation: int8 Graph -> render context of plain numbers and arrays -> Jinja -> C.

``generate_c(graph, out_dir, weight_format="auto")`` writes model.h, model.c and model_weights.c
(plus manifest.json, the layer table for builds and benchmarks) into a library folder with the
runtime files they call and build files (``library.py``), and returns a ``GeneratedModel``;
``core_graph(graph)`` is the graph after the passes, the int8 core that C computes.
"""

from pqk_mcu.codegen.generate import RUNTIME_DIR, GeneratedModel, LayerInfo, core_graph, generate_c
from pqk_mcu.codegen.weights import WEIGHT_FORMATS

__all__ = ["RUNTIME_DIR", "WEIGHT_FORMATS", "GeneratedModel", "LayerInfo", "core_graph", "generate_c"]
