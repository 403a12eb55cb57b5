"""generate_c: Graph -> passes -> lowering -> memory plan -> render context -> Jinja -> C library folder."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pqk_mcu import __version__
from pqk_mcu.atomic import atomic_dir
from pqk_mcu.boards import Board, load_board
from pqk_mcu.codegen.cost_model import Target
from pqk_mcu.codegen.library import LibraryNames, runtime_files, write_library_files
from pqk_mcu.codegen.lower import Layer, SymbolTable, TensorRef, lower_graph
from pqk_mcu.codegen.memory import MemoryPlan, MemoryRequest, plan_memory
from pqk_mcu.errors import UnsupportedModelError
from pqk_mcu.ir.graph import Graph
from pqk_mcu.ir.passes import run_pipeline, standard_pipeline
from pqk_mcu.reference import unary_table
from pqk_mcu.reference.interpreter import initial_state
from pqk_mcu.render import render_template
from pqk_mcu.resources import resource_dir

RUNTIME_DIR = resource_dir("firmware") / "runtime"
NOTICE = "generated — do not edit"
MANIFEST = "manifest.json"
VALUES_PER_ROW = 16


@dataclass(frozen=True)
class LayerInfo:
    index: int
    name: str  # op name
    op: str  # op kind
    kernel: str  # C function, "" for a no-op alias
    format: str  # dense / csr / -
    output: str  # tensor the op writes (the hook dumps it)
    output_shape: tuple[int, ...]
    sparsity: float
    macs: int
    estimated_instructions: int


@dataclass(frozen=True)
class GeneratedModel:
    out_dir: Path
    files: tuple[Path, ...]
    graph: Graph  # the int8 core graph the C implements (after the passes)
    model_sha256: str
    arena_bytes: int
    input_size: int
    output_size: int
    input_quant: tuple[tuple[float, int], ...]  # (scale, zero point) per core input
    output_quant: tuple[tuple[float, int], ...]
    layers: tuple[LayerInfo, ...]
    flash_bytes: dict[str, int]  # weights / indices / requant / tables / total (constant data)
    runtime_sources: tuple[Path, ...]
    runtime_dir: Path = RUNTIME_DIR

    @property
    def formats(self) -> dict[str, str]:
        """Weight format per weighted layer (op name -> dense / csr)."""
        return {layer.name: layer.format for layer in self.layers if layer.format != "-"}


def core_graph(graph: Graph) -> Graph:
    """``graph`` after the passes code generation runs: the int8 core the generated C computes."""
    return run_pipeline(graph, standard_pipeline(unary_table))


def generate_c(graph: Graph, out_dir: str | Path, weight_format: str = "auto", board=None,
               name: str | None = None, force: bool = False) -> GeneratedModel:
    """Write the library folder of ``graph`` into ``out_dir``: model.h, model.c, model_weights.c,
    manifest.json, the runtime files they use and build files (``pqk_mcu.codegen.library``).

    ``board`` (a ``Board``, board name or YAML path) widens the kernel choice (DSP variants) and
    names the toolchain flags; None is portable C. ``name`` renames files and C names for a second
    model in one firmware (``LibraryNames``). An existing ``out_dir`` is replaced only when an
    earlier compile wrote it, or with ``force`` (``pqk_mcu.atomic.atomic_dir``).
    """
    names = LibraryNames.of(name)
    if board is not None and not isinstance(board, Board):
        board = load_board(board)
    model_sha256 = graph.fingerprint()
    core = core_graph(graph)
    layers, symbols = lower_graph(core, weight_format, Target.from_board(board), names.prefix)
    plan = plan_memory(memory_request(core, layers))
    sizes = {edge: core.tensor(edge).nbytes for edge in (*core.inputs, *core.outputs)}
    input_size = sum(sizes[edge] for edge in core.inputs)
    output_size = sum(sizes[edge] for edge in core.outputs)
    flash = symbols.bytes_by_category()
    flash["total"] = sum(flash.values())
    infos = tuple(
        LayerInfo(
            index=layer.index, name=layer.op.name, op=layer.op.kind, kernel=layer.kernel,
            format=layer.weight_format, output=layer.output, output_shape=core.tensor(layer.output).shape,
            sparsity=round(layer.sparsity, 6), macs=layer.macs, estimated_instructions=layer.estimated_instructions,
        )
        for layer in layers
    )
    input_quant = tuple(_quant(core, name) for name in core.inputs)
    output_quant = tuple(_quant(core, name) for name in core.outputs)
    runtime_sources = tuple(sorted({RUNTIME_DIR / f"{layer.kernel}.c" for layer in layers if layer.kernel}))
    stamp = {"notice": NOTICE, "generator": f"pqk-mcu {__version__}", "model_sha256": model_sha256}
    template_names = names.template_context()
    states = _states(core, names.prefix)
    state_symbols = {state["tensor"]: state["name"] for state in states}
    context = {
        **stamp,
        **template_names,
        "input_size": input_size,
        "output_size": output_size,
        # int16 / int32 graph edges (16x8 models), which model.h documents
        "wide_edges": " and ".join(sorted({core.tensor(edge).dtype for edge in sizes} - {"int8"})),
        "arena_bytes": plan.arena_bytes,
        "arena_words": max(1, (plan.arena_bytes + 3) // 4),
        "input_scale": _c_float(input_quant[0][0]),
        "input_zero_point": input_quant[0][1],
        "output_scale": _c_float(output_quant[0][0]),
        "output_zero_point": output_quant[0][1],
        "num_ops": len(layers),
        "flash": flash,
        "arrays": [
            {
                "name": array.name,
                "ctype": array.ctype,
                "linkage": "" if array.exported else "static ",
                "length": len(array.values),
                "rows": [
                    ", ".join(str(v) for v in array.values[start : start + VALUES_PER_ROW])
                    for start in range(0, len(array.values), VALUES_PER_ROW)
                ],
            }
            for array in symbols.arrays
        ],
        "structs": [{"name": s.name, "ctype": s.ctype, "fields": list(s.fields)} for s in symbols.structs],
        "externs": _externs(layers, symbols),
        "states": states,
        "ops": [_op_context(core, layer, plan, template_names["macro_prefix"], state_symbols) for layer in layers],
        "scratch": [{"name": layer.scratch_name, "bytes": layer.scratch_bytes}
                    for layer in layers if layer.scratch_bytes],
    }
    runtime = runtime_files(runtime_sources, RUNTIME_DIR)
    manifest = {
        **stamp,
        "name": names.prefix,
        "board": board.name if board is not None else None,
        "arena_bytes": plan.arena_bytes,
        "input_size": input_size,
        "output_size": output_size,
        "input_quant": [list(q) for q in input_quant],
        "output_quant": [list(q) for q in output_quant],
        "flash_bytes": flash,
        "runtime_sources": [path.name for path in runtime_sources],
        "runtime_files": [path.name for path in runtime],
        "layers": [info.__dict__ | {"output_shape": list(info.output_shape)} for info in infos],
    }
    target = Path(out_dir)
    with atomic_dir(target, "compile", force) as tmp:
        for file_name, template in zip(names.model_files, ("model.h.j2", "model.c.j2", "model_weights.c.j2")):
            (tmp / file_name).write_text(render_template(template, context), encoding="utf-8")
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
        library_files = write_library_files(tmp, names, runtime, board, context)
    return GeneratedModel(
        out_dir=target,
        files=tuple(target / file_name for file_name in (*names.model_files, MANIFEST, *library_files)),
        graph=core,
        model_sha256=model_sha256,
        arena_bytes=plan.arena_bytes,
        input_size=input_size,
        output_size=output_size,
        input_quant=input_quant,
        output_quant=output_quant,
        layers=infos,
        flash_bytes=flash,
        runtime_sources=runtime_sources,
    )


# Activation types the generated C computes in: int8; int16 in 16x8 models, whose QUANTIZE may take int32.
CORE_DTYPES = ("int8", "int16", "int32")


def _quant(graph: Graph, name: str) -> tuple[float, int]:
    tensor = graph.tensor(name)
    if tensor.dtype not in CORE_DTYPES or tensor.quant is None:
        raise UnsupportedModelError(f"graph edge '{name}' is {tensor.dtype}; the C core takes and returns int8 or int16")
    return tensor.quant.scale[0], tensor.quant.zero_point[0]


def _c_float(value: float) -> str:
    return f"{float(np.float32(value)):.9g}f"


def _states(graph: Graph, prefix: str) -> list[dict]:
    """The variable (state) tensors: static arrays of model.c outside the arena, set to their initial
    value (as TFLite Micro resets them) before the first invocation and by <prefix>_model_reset()."""
    return [
        {"tensor": t.name, "name": f"{prefix}_state{k}", "ctype": f"{t.dtype}_t", "length": t.size,
         "bytes": t.nbytes, "initial": int(initial_state(t).reshape(-1)[0])}
        for k, t in enumerate(t for t in graph.tensors if t.variable)
    ]


def memory_request(graph: Graph, layers: list[Layer]) -> MemoryRequest:
    tensors = graph.tensor_map
    activations = {
        name
        for op in graph.ops
        for name in (*op.inputs, *op.outputs)
        if name and not tensors[name].is_constant and not tensors[name].variable
    } | set(graph.inputs) | set(graph.outputs)
    for name in sorted(activations):
        if tensors[name].dtype not in CORE_DTYPES:
            raise UnsupportedModelError(f"tensor '{name}' is {tensors[name].dtype}; the C core is int8 and int16 only")
    reads = [[name for name in op.inputs if name in activations] for op in graph.ops]
    writes = [[name for name in op.outputs if name in activations] for op in graph.ops]
    return MemoryRequest(
        sizes={name: tensors[name].nbytes for name in sorted(activations)},
        op_inputs=reads,
        op_outputs=writes,
        graph_inputs=list(graph.inputs),
        graph_outputs=list(graph.outputs),
        aliases=[(layer.output, layer.alias_of) for layer in layers if layer.alias_of],
        scratch={layer.scratch_name: (layer.index, layer.scratch_bytes) for layer in layers if layer.scratch_bytes},
        in_place=[(layer.output, layer.in_place_of, layer.in_place_lead) for layer in layers if layer.in_place_of],
    )


def _op_context(graph: Graph, layer: Layer, plan: MemoryPlan, macro_prefix: str, state_symbols: dict[str, str]) -> dict:
    def resolve(arg) -> str:
        if not isinstance(arg, TensorRef):
            return arg
        if arg.name in state_symbols:
            return state_symbols[arg.name]
        if arg.name == layer.scratch_name:
            # its slice of the arena, or in sanitizer builds its own array (model.c.j2)
            return f"{macro_prefix}_OP_SCRATCH({plan.placements[arg.name].expression}, {arg.name})"
        return plan.placements[arg.name].expression

    def argument(arg) -> str:
        """int16 / int32 tensors (16x8 models) reach their kernels as typed pointers into the byte arena; state
        arrays are declared with their own type."""
        if (not isinstance(arg, TensorRef) or arg.name == layer.scratch_name or arg.name in state_symbols
                or graph.tensor(arg.name).dtype == "int8"):
            return resolve(arg)
        qualifier = "" if arg.name in layer.op.outputs else "const "
        return f"({qualifier}{graph.tensor(arg.name).dtype}_t *)({resolve(arg)})"

    calls = [{"function": call.function, "args": [argument(arg) for arg in call.args]} for call in layer.calls]
    if layer.alias_of and layer.output not in plan.aliased:
        # The alias could not share bytes (its input and output are both graph edges): copy.
        size = graph.tensor(layer.output).nbytes
        calls.append({"function": "memcpy", "args": [resolve(TensorRef(layer.output)), resolve(TensorRef(layer.alias_of)), f"{size}u"]})
    detail = f", {layer.weight_format} {layer.sparsity:.1%} sparse" if layer.weight_format != "-" else ""
    description = f"{layer.op.kind} {layer.op.name} -> '{layer.output}'{detail}".replace("*/", "* /")
    return {
        "index": layer.index,
        "description": description,
        "pointer_arrays": [
            {"name": name, "count": len(refs), "targets": [resolve(ref) for ref in refs]} for name, refs in layer.pointer_arrays
        ],
        "calls": calls,
        "output": resolve(TensorRef(layer.output)),
        "output_bytes": graph.tensor(layer.output).nbytes,
    }


def _externs(layers: list[Layer], symbols: SymbolTable) -> list[dict]:
    """Declarations model.c needs for the constants its calls name (defined in model_weights.c)."""
    struct_types = {s.name: s.ctype for s in symbols.structs}
    array_types = {a.name: a.ctype for a in symbols.arrays}
    externs: dict[str, dict] = {}
    for layer in layers:
        arguments = [arg for call in layer.calls for arg in call.args]
        arguments += [target for _, targets in layer.pointer_arrays for target in targets]
        for name in (arg.lstrip("&") for arg in arguments if isinstance(arg, str)):
            if name in struct_types:
                externs.setdefault(name, {"ctype": struct_types[name], "name": name, "suffix": ""})
            elif name in array_types:
                externs.setdefault(name, {"ctype": array_types[name], "name": name, "suffix": "[]"})
    return list(externs.values())
