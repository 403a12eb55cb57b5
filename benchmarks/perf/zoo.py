"""Model-zoo part of `make bench`: every fixture model and the DS-CNN, dense and pruned, on five cores.

Models: every ``tests/fixtures/*.tflite`` (pruned with ``pqk_mcu.ir.prune.prune_by_magnitude``, what
``pqk-mcu prune --sparsity`` does) and the DS-CNN of ``dscnn.py`` (its own per-layer pruning, the
network of the DS-CNN tables). Each is benched with ``pqk_mcu.pipeline.bench`` (instructions and estimated
Cortex-M4 cycles under QEMU, per layer; flash by section; arena; output checked bit-exact) dense and at
50/80/90/95% on cortex-m4, dense and at 90% on cortex-m3, m7, m33 and m55. CMSIS-NN's figures, for the
ratios, come from ``cmsis_nn_anchors.json`` (TFLite Micro + CMSIS-NN counted with the same plugin).

``run.py`` runs the jobs and writes ``zoo.json``; ``markdown``, ``plot_*`` and ``done_when_lines``
turn that JSON (and the anchors) into ``zoo.md``, the plots and the issue-16 checks of results.md,
so the same JSON always gives the same bytes.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from dscnn import dscnn_graph

from pqk_mcu.atomic import atomic_file
from pqk_mcu.ir.graph import Graph
from pqk_mcu.ir.opdef import OP_DEFS

HERE = Path(__file__).resolve().parent
FIXTURES = HERE.parents[1] / "tests" / "fixtures"
ANCHORS_PATH = HERE / "cmsis_nn_anchors.json"
DSCNN = "dscnn"
SEED = 0
REFERENCE_BOARD = "cortex-m4"
REFERENCE_SPARSITIES = (0.0, 0.5, 0.8, 0.9, 0.95)
OTHER_BOARDS = ("cortex-m3", "cortex-m7", "cortex-m33", "cortex-m55")
OTHER_SPARSITIES = (0.0, 0.9)
WEIGHTED_OPS = tuple(kind for kind, definition in OP_DEFS.items() if definition.weighted)

# Issue 16's "done when" (cortex-m4 unless named).
DENSE_VS_CMSIS = 0.8
LAYER_VS_CMSIS = 1.1
SPARSE_VS_DENSE = {0.9: 0.35, 0.8: 0.5}
DSCNN_LIMITS = {"dense": 5_410_000, "sparse90": 1_190_000, "arena": 8_912}
DSCNN_STRETCH_CYCLES = 5_190_000  # best published MLPerf Tiny KWS on a Cortex-M4 (STM32Cube.AI, wall-clock cycles)
M3_DSCNN_LIMITS = {"dense": 12_000_000, "arena": 9_000}
PERSON_DETECT = "person_detect.tflite"
PERSON_DETECT_ARENA_VS_TFLM = 0.8


@dataclass(frozen=True)
class Job:
    model: str
    board: str
    sparsity: float
    weight_format: str = "auto"


def fixture_models() -> list[str]:
    return sorted(path.name for path in FIXTURES.glob("*.tflite"))


def zoo_models() -> list[str]:
    return [*fixture_models(), DSCNN]


def zoo_jobs(models: list[str]) -> list[Job]:
    jobs = [Job(model, REFERENCE_BOARD, sparsity) for model in models for sparsity in REFERENCE_SPARSITIES]
    return jobs + [Job(model, board, sparsity) for board in OTHER_BOARDS for model in models for sparsity in OTHER_SPARSITIES]


def zoo_graph(model: str, sparsity: float) -> Graph:
    """The graph a job benches: the DS-CNN, or a fixture model pruned like `pqk-mcu prune --sparsity`."""
    from pqk_mcu.frontends.tflite import load_tflite
    from pqk_mcu.ir.prune import prune_by_magnitude

    if model == DSCNN:
        return dscnn_graph(sparsity, seed=SEED)
    graph = load_tflite(FIXTURES / model)
    return prune_by_magnitude(graph, sparsity) if sparsity else graph


def run_jobs(jobs: list[Job], description: str) -> dict[Job, dict]:
    """Bench every distinct job once (build + two QEMU runs each), with a progress bar."""
    from rich.progress import Progress

    from pqk_mcu.pipeline.bench import bench_graph

    distinct = list(dict.fromkeys(jobs))
    results = {}
    with Progress() as progress:
        task = progress.add_task(description, total=len(distinct))
        for job in distinct:
            progress.update(task, description=f"{job.model} {job.sparsity:.0%} {job.board} {job.weight_format}")
            result = bench_graph(zoo_graph(job.model, job.sparsity), job.board, job.weight_format, model_name=job.model)
            results[job] = result.to_json() | {"sparsity": job.sparsity}
            progress.update(task, advance=1)
    return results


def zoo_results(models: list[str], runs: dict[Job, dict]) -> dict:
    return {
        "description": "model zoo: tests/fixtures/*.tflite pruned by pqk_mcu.ir.prune.prune_by_magnitude, and the "
                       "DS-CNN of dscnn.py (random weights, its own per-layer pruning)",
        "seed": SEED,
        "models": models,
        "runs": [runs[job] for job in zoo_jobs(models)],
    }


def load_anchors() -> dict:
    return json.loads(ANCHORS_PATH.read_text())["models"]


# ---- reading the results ----

def find_run(results: dict, model: str, board: str, sparsity: float) -> dict:
    for run in results["runs"]:
        if run["model"] == model and run["board"] == board and run["sparsity"] == sparsity:
            return run
    raise KeyError((model, board, sparsity))


def op_kind_rows(run: dict) -> dict[str, tuple[int, int]]:
    """op kind -> (MACs, instructions) summed over the run's layers of that kind."""
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for layer in run["layers"]:
        totals[layer["op"]][0] += layer["macs"]
        totals[layer["op"]][1] += layer["instructions"]
    return {op: (macs, instructions) for op, (macs, instructions) in sorted(totals.items())}


def aligned_layers(run: dict, anchor: dict) -> list[tuple[dict, dict]]:
    """(our layer, CMSIS-NN layer) pairs when both list the same layers in the same order, else none. A layer
    that an IR pass rewrote into another op kind (a one-channel DEPTHWISE_CONV_2D run as CONV_2D) pairs by
    its MAC count."""
    ours, theirs = run["layers"], anchor["layers"]
    if len(ours) != len(theirs) or any(a["op"] != b["op"] and a["macs"] != b["macs"] for a, b in zip(ours, theirs)):
        return []
    return list(zip(ours, theirs))


def _ratio(numerator: float, denominator: float | None) -> str:
    return f"{numerator / denominator:.2f}" if denominator else "–"


def _per_mac(instructions: int, macs: int) -> str:
    return f"{instructions / macs:.2f}" if macs else ""


def _millions(count: int) -> str:
    return f"{count / 1e6:.2f} M" if count >= 100_000 else f"{count:,}"


# ---- issue 16 checks ----

def done_when_lines(results: dict, anchors: dict) -> list[str]:
    """Issue 16's "done when" checks, one "met"/"NOT met" line each, computed from the zoo results."""
    checks: list[tuple[bool, str]] = []
    m4 = REFERENCE_BOARD
    fixtures = [model for model in results["models"] if model != DSCNN]
    for model in fixtures:
        dense, anchor = find_run(results, model, m4, 0.0), anchors.get(model)
        if anchor and anchor["instructions"]:
            ratio = dense["instructions"] / anchor["instructions"]
            checks.append((ratio <= DENSE_VS_CMSIS, f"{model} dense <= {DENSE_VS_CMSIS}x CMSIS-NN "
                           f"(measured {dense['instructions']:,} vs {anchor['instructions']:,}: {ratio:.2f}x)"))
            pairs = aligned_layers(dense, anchor)
            worst = max(pairs, key=lambda pair: pair[0]["instructions"] / pair[1]["instructions"]) if pairs else None
            if worst:
                ratio = worst[0]["instructions"] / worst[1]["instructions"]
                checks.append((ratio <= LAYER_VS_CMSIS, f"{model}: no layer above {LAYER_VS_CMSIS}x CMSIS-NN's "
                               f"(worst: layer {worst[0]['index']} {worst[0]['op']} at {ratio:.2f}x)"))
        elif anchor and anchor.get("fully_connected_instructions_per_mac_target"):
            limit = anchor["fully_connected_instructions_per_mac_target"]
            fc = [layer for layer in dense["layers"] if layer["op"] == "FULLY_CONNECTED" and layer["macs"]]
            worst = max(layer["instructions"] / layer["macs"] for layer in fc)
            checks.append((worst <= limit, f"{model}: FULLY_CONNECTED layers <= {limit} instr./MAC "
                           f"(worst measured {worst:.2f})"))
        for sparsity, limit in SPARSE_VS_DENSE.items():
            sparse = find_run(results, model, m4, sparsity)
            ratio = sparse["instructions"] / dense["instructions"]
            checks.append((ratio <= limit, f"{model} at {sparsity:.0%} <= {limit}x its own dense "
                           f"(measured {sparse['instructions']:,}: {ratio:.2f}x)"))
    if DSCNN in results["models"]:
        checks += _dscnn_checks(results)
    for model in results["models"]:
        tflm = (anchors.get(model) or {}).get("activation_arena_bytes")
        if not tflm:
            continue
        arena = max(run["arena_bytes"] for run in results["runs"] if run["model"] == model and run["board"] == m4)
        limit = PERSON_DETECT_ARENA_VS_TFLM if model == PERSON_DETECT else 1.0
        checks.append((arena <= limit * tflm, f"{model}: arena <= {limit:g}x TFLM's activation arena "
                       f"(measured {arena:,} B vs {tflm:,} B)"))
    exact = [run["bit_exact"] for run in results["runs"]]
    checks.append((all(exact), f"all outputs bit-exact ({sum(exact)} of {len(exact)} runs)"))
    return [f"{'met' if ok else 'NOT met'}: {text}" for ok, text in checks]


def _dscnn_checks(results: dict) -> list[tuple[bool, str]]:
    dscnn = {s: find_run(results, DSCNN, REFERENCE_BOARD, s) for s in REFERENCE_SPARSITIES}
    arena = max(run["arena_bytes"] for run in dscnn.values())
    m3 = find_run(results, DSCNN, "cortex-m3", 0.0)
    return [
        (dscnn[0.0]["instructions"] <= DSCNN_LIMITS["dense"],
         f"DS-CNN dense <= {DSCNN_LIMITS['dense']:,} (measured {dscnn[0.0]['instructions']:,})"),
        (dscnn[0.9]["instructions"] <= DSCNN_LIMITS["sparse90"],
         f"DS-CNN 90% <= {DSCNN_LIMITS['sparse90']:,} (measured {dscnn[0.9]['instructions']:,})"),
        (arena <= DSCNN_LIMITS["arena"], f"DS-CNN arena <= {DSCNN_LIMITS['arena']:,} B (measured {arena:,} B)"),
        (dscnn[0.0]["estimated_m4_cycles"] <= DSCNN_STRETCH_CYCLES,
         f"stretch: DS-CNN dense estimated Cortex-M4 cycles <= {DSCNN_STRETCH_CYCLES:,} "
         f"(estimated {dscnn[0.0]['estimated_m4_cycles']:,})"),
        (m3["instructions"] <= M3_DSCNN_LIMITS["dense"],
         f"cortex-m3: DS-CNN dense <= {M3_DSCNN_LIMITS['dense']:,} (measured {m3['instructions']:,})"),
        (m3["arena_bytes"] <= M3_DSCNN_LIMITS["arena"],
         f"cortex-m3: DS-CNN arena <= {M3_DSCNN_LIMITS['arena']:,} B (measured {m3['arena_bytes']:,} B)"),
    ]


# ---- Markdown ----

def markdown(results: dict, anchors: dict) -> str:
    m4 = REFERENCE_BOARD
    lines = [
        "# Model zoo on Cortex-M: instructions, estimated cycles, flash, RAM, against CMSIS-NN",
        "",
        "Generated by `make bench` (benchmarks/perf/run.py, zoo.py) from zoo.json - do not edit. Every fixture",
        "model of tests/fixtures and the DS-CNN of dscnn.py, dense and magnitude-pruned (`pqk-mcu prune",
        "--sparsity`; the DS-CNN by its own per-layer pruning), benched by `pqk-mcu bench`: instructions",
        "counted under QEMU by the project's TCG plugin (deterministic), estimated Cortex-M4 cycles from the",
        "same plugin's instruction classes (README, \"Cycle estimate\"), every output bit-exact with the",
        "reference. CMSIS-NN: TFLite Micro + CMSIS-NN counted with the same plugin on the same input",
        "(cmsis_nn_anchors.json; it has no sparse path, pruned models take its dense count).",
        "",
        f"## Instructions per inference on {m4} (ratio to own dense in brackets)",
        "",
        "| model | MACs | CMSIS-NN | dense | dense / CMSIS-NN | est. M4 cycles (dense) | "
        + " | ".join(f"{s:.0%}" for s in REFERENCE_SPARSITIES[1:]) + " |",
        "|---|---:|---:|---:|---:|---:|" + "---:|" * (len(REFERENCE_SPARSITIES) - 1),
    ]
    for model in results["models"]:
        dense, anchor = find_run(results, model, m4, 0.0), anchors.get(model) or {}
        cmsis = anchor.get("instructions")
        cells = []
        for sparsity in REFERENCE_SPARSITIES[1:]:
            run = find_run(results, model, m4, sparsity)
            cells.append(f"{_millions(run['instructions'])} ({run['instructions'] / dense['instructions']:.2f})")
        lines.append(
            f"| {model} | {dense['macs']:,} | {_millions(cmsis) if cmsis else '–'} | {_millions(dense['instructions'])} | "
            f"{_ratio(dense['instructions'], cmsis)} | {_millions(dense['estimated_m4_cycles'])} | " + " | ".join(cells) + " |"
        )
    lines += [
        "",
        "## Other cores (dense and 90%)",
        "",
        "| model | " + " | ".join(f"{board} dense | {board} 90%" for board in (m4, *OTHER_BOARDS)) + " |",
        "|---|" + "---:|---:|" * (1 + len(OTHER_BOARDS)),
    ]
    for model in results["models"]:
        cells = [_millions(find_run(results, model, board, s)["instructions"])
                 for board in (m4, *OTHER_BOARDS) for s in OTHER_SPARSITIES]
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"## Instructions per MAC by op kind on {m4} (dense / 90%)",
        "",
        "| model | op | MACs | instructions dense | instr./MAC dense | instructions 90% | instr./MAC 90% | CMSIS-NN instr./MAC |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for model in results["models"]:
        dense_rows = op_kind_rows(find_run(results, model, m4, 0.0))
        sparse_rows = op_kind_rows(find_run(results, model, m4, 0.9))
        cmsis_rows: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for layer in (anchors.get(model) or {}).get("layers", []):
            cmsis_rows[layer["op"]][0] += layer["macs"]
            cmsis_rows[layer["op"]][1] += layer["instructions"]
        for op, (macs, instructions) in dense_rows.items():
            sparse_instructions = sparse_rows[op][1]
            cmsis_macs, cmsis_instructions = cmsis_rows.get(op, (0, 0))
            lines.append(
                f"| {model} | {op} | {macs:,} | {instructions:,} | {_per_mac(instructions, macs)} | "
                f"{sparse_instructions:,} | {_per_mac(sparse_instructions, macs)} | {_per_mac(cmsis_instructions, cmsis_macs)} |"
            )
    lines += [
        "",
        f"## Flash by section and RAM on {m4} (bytes)",
        "",
        "| model | sparsity | kernels | weights | indices | requant | tables | model | platform | flash total | arena | TFLM activation arena | peak stack |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for model in results["models"]:
        tflm = (anchors.get(model) or {}).get("activation_arena_bytes")
        for sparsity in REFERENCE_SPARSITIES:
            run = find_run(results, model, m4, sparsity)
            flash = run["flash_bytes"]
            sections = " | ".join(f"{flash[key]:,}" for key in
                                  ("kernels", "weights", "indices", "requant", "tables", "model", "platform", "total"))
            lines.append(f"| {model} | {sparsity:.0%} | {sections} | {run['arena_bytes']:,} | "
                         f"{f'{tflm:,}' if tflm else '–'} | {run['stack_bytes']:,} |")
    classes = list(find_run(results, results["models"][0], m4, 0.0)["instruction_classes"])
    lines += [
        "",
        f"## Instruction classes and estimated Cortex-M4 cycles on {m4} (dense / 90%)",
        "",
        "Share of the instructions per class; cycles per instruction of the estimate.",
        "",
        "| model | sparsity | " + " | ".join(name.replace("_", " ") for name in classes)
        + " | taken branches | est. M4 cycles | cycles / instr. |",
        "|---|---:|" + "---:|" * (len(classes) + 3),
    ]
    for model in results["models"]:
        for sparsity in OTHER_SPARSITIES:
            run = find_run(results, model, m4, sparsity)
            shares = " | ".join(f"{run['instruction_classes'][name] / run['instructions']:.1%}" for name in classes)
            lines.append(f"| {model} | {sparsity:.0%} | {shares} | {run['taken_branches']:,} | "
                         f"{run['estimated_m4_cycles']:,} | {run['estimated_m4_cycles'] / run['instructions']:.2f} |")
    lines += ["", f"## Per layer on {m4}", ""]
    for model in results["models"]:
        dense, sparse = find_run(results, model, m4, 0.0), find_run(results, model, m4, 0.9)
        anchor = anchors.get(model) or {}
        pairs = dict((ours["index"], theirs) for ours, theirs in aligned_layers(dense, anchor))
        lines += [
            f"### {model}",
            "",
            "| # | op | kernel (dense) | MACs | CMSIS-NN | dense | dense / CMSIS-NN | instr./MAC | est. M4 cycles | "
            "kernel (90%) | 90% | 90% / dense |",
            "|---:|---|---|---:|---:|---:|---:|---:|---:|---|---:|---:|",
        ]
        for ours, pruned in zip(dense["layers"], sparse["layers"]):
            theirs = pairs.get(ours["index"])
            cmsis = theirs["instructions"] if theirs else None
            lines.append(
                f"| {ours['index']} | {ours['op']} | `{ours['kernel'] or 'alias'}` | {ours['macs']:,} | "
                f"{f'{cmsis:,}' if cmsis else '–'} | {ours['instructions']:,} | {_ratio(ours['instructions'], cmsis)} | "
                f"{_per_mac(ours['instructions'], ours['macs'])} | {ours['estimated_m4_cycles']:,} | "
                f"`{pruned['kernel'] or 'alias'}` | {pruned['instructions']:,} | {_ratio(pruned['instructions'], ours['instructions'])} |"
            )
        lines.append("")
    lines += ["## Issue 16: done when (cortex-m4 unless named)", ""] + [f"- {line}" for line in done_when_lines(results, anchors)]
    return "\n".join(lines) + "\n"


# ---- plots ----

def save_figure(figure, path: Path) -> None:
    import matplotlib.pyplot as plt

    figure.tight_layout()
    with atomic_file(path) as tmp:
        # Fixed metadata keeps the PNG identical from run to run.
        figure.savefig(tmp, format="png", metadata={"Software": None})
    plt.close(figure)


def _figure(rows: int, columns: int, size: tuple[float, float]):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(rows, columns, figsize=size, dpi=110, squeeze=False)


def plot_instructions_per_mac(results: dict, anchors: dict, path: Path) -> None:
    """Per weighted layer: instructions per MAC dense and at 90% (ours), and CMSIS-NN's where known."""
    models = results["models"]
    columns = 2
    figure, axes = _figure((len(models) + 1) // columns, columns, (12, 3.2 * ((len(models) + 1) // columns)))
    for axis, model in zip(axes.flat, models):
        dense = find_run(results, model, REFERENCE_BOARD, 0.0)
        sparse = find_run(results, model, REFERENCE_BOARD, 0.9)
        pairs = dict((ours["index"], theirs) for ours, theirs in aligned_layers(dense, anchors.get(model) or {"layers": []}))
        rows = [(d, s) for d, s in zip(dense["layers"], sparse["layers"]) if d["op"] in WEIGHTED_OPS and d["macs"]]
        positions = range(len(rows))
        axis.bar([p - 0.2 for p in positions], [d["instructions"] / d["macs"] for d, _ in rows], 0.4, label="pqk-mcu dense")
        axis.bar([p + 0.2 for p in positions], [s["instructions"] / d["macs"] for d, s in rows], 0.4, label="pqk-mcu 90%")
        known = [(p, pairs[d["index"]]) for p, (d, _) in zip(positions, rows) if d["index"] in pairs]
        if known:
            axis.plot([p for p, _ in known], [t["instructions"] / t["macs"] for _, t in known], "k_", markersize=12,
                      markeredgewidth=2, linestyle="none", label="CMSIS-NN")
        axis.set_xticks(list(positions))
        axis.set_xticklabels([str(d["index"]) for d, _ in rows], fontsize=6)
        axis.set_title(model, fontsize=9)
        axis.set_ylabel("instr. / MAC")
        axis.set_yscale("log")
        axis.grid(True, axis="y", alpha=0.3)
        axis.legend(fontsize=7)
    for axis in list(axes.flat)[len(models):]:
        axis.set_visible(False)
    figure.suptitle(f"Instructions per MAC by weighted layer ({REFERENCE_BOARD}; x: layer index)")
    save_figure(figure, path)


def plot_dense_vs_sparse(results: dict, path: Path) -> None:
    """Instructions relative to the model's own dense count against sparsity, with the issue's targets."""
    figure, axes = _figure(1, 1, (7, 4.5))
    axis = axes[0][0]
    percent = [s * 100 for s in REFERENCE_SPARSITIES]
    for model in results["models"]:
        dense = find_run(results, model, REFERENCE_BOARD, 0.0)["instructions"]
        axis.plot(percent, [find_run(results, model, REFERENCE_BOARD, s)["instructions"] / dense
                            for s in REFERENCE_SPARSITIES], marker="o", label=model)
    axis.plot([s * 100 for s in SPARSE_VS_DENSE], list(SPARSE_VS_DENSE.values()), "kv", linestyle="none",
              label="issue 16 target")
    axis.set_xlabel("weight sparsity (%)")
    axis.set_ylabel("instructions / own dense")
    axis.set_title(f"Dense vs sparse ({REFERENCE_BOARD}, kernels chosen by the cost model)")
    axis.set_ylim(bottom=0)
    axis.grid(True, alpha=0.3)
    axis.legend(fontsize=7)
    save_figure(figure, path)


def plot_vs_cmsis_nn(results: dict, anchors: dict, path: Path) -> None:
    """Per layer: our dense instructions over CMSIS-NN's, for the models with per-layer figures."""
    models = [model for model in results["models"]
              if aligned_layers(find_run(results, model, REFERENCE_BOARD, 0.0), anchors.get(model) or {"layers": []})]
    figure, axes = _figure(len(models), 1, (11, 2.6 * len(models)))
    for axis, model in zip(axes.flat, models):
        dense = find_run(results, model, REFERENCE_BOARD, 0.0)
        pairs = aligned_layers(dense, anchors[model])
        ratios = [ours["instructions"] / theirs["instructions"] for ours, theirs in pairs]
        colors = ["tab:red" if ratio > LAYER_VS_CMSIS else "tab:blue" for ratio in ratios]
        axis.bar(range(len(pairs)), ratios, color=colors)
        axis.axhline(LAYER_VS_CMSIS, color="tab:red", linestyle="--", linewidth=1, label=f"{LAYER_VS_CMSIS}x (per layer)")
        axis.axhline(dense["instructions"] / anchors[model]["instructions"], color="k", linewidth=1,
                     label="whole model")
        axis.set_xticks(range(len(pairs)))
        axis.set_xticklabels([f"{ours['index']} {ours['op'][:4]}" for ours, _ in pairs], fontsize=6, rotation=90)
        axis.set_yscale("log")
        axis.set_ylabel("pqk / CMSIS-NN")
        axis.set_title(model, fontsize=9)
        axis.grid(True, axis="y", alpha=0.3)
        axis.legend(fontsize=7)
    figure.suptitle(f"pqk-mcu dense over TFLite Micro + CMSIS-NN, instructions per layer ({REFERENCE_BOARD})")
    save_figure(figure, path)


def write_outputs(results: dict, anchors: dict, out_dir: Path) -> None:
    """zoo.md and the three plots from the zoo results (zoo.json is written by the caller)."""
    with atomic_file(out_dir / "zoo.md") as tmp:
        Path(tmp).write_text(markdown(results, anchors))
    plot_instructions_per_mac(results, anchors, out_dir / "zoo_instructions_per_mac.png")
    plot_dense_vs_sparse(results, out_dir / "zoo_dense_vs_sparse.png")
    plot_vs_cmsis_nn(results, anchors, out_dir / "zoo_vs_cmsis_nn.png")
