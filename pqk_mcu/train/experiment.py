"""The comparison grid: float dense, int8 dense (QAT), phase 1 (pruning + QAT) and PQK per sparsity.

Epochs ``(E1, E2)``: the dense runs (float, int8) train for ``E1 + E2``; ``phase1`` is PQK's own
phase 1 (pruning + QAT for ``E1`` epochs) and ``pqk`` continues that very run with phase 2 for ``E2``
more (the paper's comparison: what phase 2 adds to the pruned network). So that the extra epochs
are not mistaken for the effect of the teacher, every sparsity also gets the equal-compute control
``phase1`` trained for ``E1 + E2`` epochs (variant ``E1+E2 epochs``). Each run lives in
``<out>/runs/<name>/`` and resumes from its checkpoint, so an interrupted experiment continues where
it stopped; a run whose ``metrics.json`` matches its configuration is not repeated. PQK runs (and
ablations, which differ from PQK only in phase 2) start from their phase-1 run's final checkpoint
(``trainer.start_from_phase1``) instead of repeating phase 1. ``jobs`` runs that many trainings at
once in separate processes (phase-1 runs first, then the runs that continue them).

Outputs in ``<out>``: ``results.json`` (one row per run: task, model, width, method, variant, sparsity =
measured fraction of zero weights in the exported model, accuracy on the test split, tflite path,
bit-exact export check, KWS training augmentation), ``results.md`` (the same as a Markdown table)
and ``accuracy_vs_sparsity.png``.
``widths`` repeats the grid for each channel-width multiplier of the model (rows carry ``width``), ``seeds``
for each training seed (initialization, batch order, pruning and QAT draws; rows carry ``seed``; every run
trains on the one data set drawn with the first seed). ``results.md`` opens with the mean ± sample standard
deviation over seeds per method, width and sparsity (``summarize``), the plot shows those; further test
splits of the data (KWS corpus v2: noisy) get their own accuracy columns and plot panel.
``ablations`` add PQK runs at the middle sparsity with ``PqkOptions`` overrides (e.g. ``tau=4``,
``teacher_bn=shared``, ``teacher_precision=int8``, ``kd_weight=0``) as rows with that ``variant``.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pqk_mcu.atomic import atomic_file, write_text_atomic
from pqk_mcu.errors import PqkError
from pqk_mcu.train.data import TaskData
from pqk_mcu.train.run import METRICS_NAME, load_run_data, train_and_export
from pqk_mcu.train.trainer import CHECKPOINT_NAME, TrainConfig, comparable_config, start_from_phase1

# Per task: model and schedule of the published comparison (``make experiment``).
PRESETS = {
    "kws": {"model": "ds-cnn", "epochs": (8, 4), "batch_size": 100},
    "mnist": {"model": "mnist-cnn", "epochs": (12, 6), "batch_size": 64},
    "digits": {"model": "mnist-cnn", "epochs": (20, 10), "batch_size": 32},
    "cifar10": {"model": "resnet8", "epochs": (40, 20), "batch_size": 64},
}
SPARSITIES = (0.5, 0.8, 0.9)
METHODS = ("float", "int8", "phase1", "pqk")


@dataclass(frozen=True)
class GridRun:
    name: str
    variant: str  # "" for the main rows of a method
    config: TrainConfig
    continues: str | None = None  # the phase-1 run whose final checkpoint this run starts from


def experiment_grid(
    task: str,
    model: str | None = None,
    epochs: tuple[int, int] | None = None,
    sparsities: tuple[float, ...] = SPARSITIES,
    ablations: tuple[dict[str, str], ...] = (),
    widths: tuple[float, ...] = (1.0,),
    seeds: tuple[int, ...] = (0,),
    **overrides,
) -> list[GridRun]:
    """Every run of the comparison for each model width and training seed, runs that continue another after
    the one they continue. Runs of width 1 and seed 0 are named ``float``, ``phase1-s0.8``, ...; other widths
    add ``-w<width>``, other seeds ``-seed<seed>``."""
    if task not in PRESETS:
        raise PqkError(f"no experiment preset for task {task!r} (choose from {', '.join(PRESETS)})")
    if not widths or min(widths) <= 0:
        raise PqkError(f"widths must be positive numbers, got {widths}")
    if not seeds or len(set(seeds)) != len(seeds):
        raise PqkError(f"seeds must be distinct, got {seeds}")
    preset = PRESETS[task]
    first, second = epochs or preset["epochs"]
    long = dict(phases=(1,), epochs=(first + second, 0))
    middle = sorted(sparsities)[len(sparsities) // 2]
    runs = []
    for width, seed in itertools.product(widths, seeds):
        base = TrainConfig(task=task, model=model or preset["model"], batch_size=preset["batch_size"], width=width,
                           seed=seed, **overrides)
        suffix = ("" if width == 1 else f"-w{width:g}") + ("" if seed == 0 else f"-seed{seed}")
        runs += [
            GridRun(f"float{suffix}", "", dataclasses.replace(base, quantize=False, sparsity=0.0, **long)),
            GridRun(f"int8{suffix}", "", dataclasses.replace(base, sparsity=0.0, **long)),
        ]
        for sparsity in sparsities:
            phase1 = f"phase1-s{sparsity:g}{suffix}"
            runs.append(GridRun(phase1, "", dataclasses.replace(base, sparsity=sparsity, phases=(1,), epochs=(first, 0))))
            runs.append(GridRun(f"phase1-s{sparsity:g}-long{suffix}", f"{first}+{second} epochs",
                                dataclasses.replace(base, sparsity=sparsity, **long)))
            runs.append(GridRun(f"pqk-s{sparsity:g}{suffix}", "",
                                dataclasses.replace(base, sparsity=sparsity, phases=(1, 2), epochs=(first, second)),
                                continues=phase1))
        for ablation in ablations:
            variant = ",".join(f"{k}={v}" for k, v in sorted(ablation.items()))
            options = base.pqk.with_overrides(ablation)
            config = dataclasses.replace(base, sparsity=middle, phases=(1, 2), epochs=(first, second), pqk=options)
            runs.append(GridRun(f"pqk-s{middle:g}-{variant.replace('=', '-').replace(',', '_')}{suffix}", variant, config,
                                continues=f"phase1-s{middle:g}{suffix}"))
    return runs


def reusable_metrics(metrics_path: Path, config: TrainConfig) -> dict | None:
    """The finished run's metrics at ``metrics_path`` if it was trained by ``config``, else None."""
    if not metrics_path.exists():
        return None
    metrics = json.loads(metrics_path.read_text())
    saved = metrics.get("config")
    same = saved is not None and comparable_config(saved) == comparable_config(json.loads(json.dumps(config.to_dict())))
    return metrics if same else None


def _run(run: GridRun, data: TaskData, out: Path) -> dict:
    run_dir = out / "runs" / run.name
    metrics = reusable_metrics(run_dir / METRICS_NAME, run.config)
    if metrics is None:
        if run.continues:
            start_from_phase1(out / "runs" / run.continues / CHECKPOINT_NAME, run.config, run_dir)
        metrics = train_and_export(run.config, data, run_dir)
    return metrics


def run_experiment(
    task: str,
    out_dir: str | os.PathLike,
    data_dir: str | os.PathLike | None = None,
    data: TaskData | None = None,
    jobs: int = 1,
    **grid_options,
) -> list[dict]:
    """Run the grid (resuming where possible); writes results.json, results.md and the plot.

    ``data`` (already loaded) replaces loading ``task`` from ``data_dir``.
    """
    from tqdm import tqdm

    out = Path(out_dir)
    runs = experiment_grid(task, **grid_options)
    data = data or load_run_data(runs[0].config, data_dir)  # one data set (first seed's draws) for every run
    metrics: dict[str, dict] = {}
    with tqdm(total=len(runs), desc=f"experiment {task}", unit="run") as progress:
        for wave in (tuple(r for r in runs if not r.continues), tuple(r for r in runs if r.continues)):
            if jobs == 1:
                for run in wave:
                    metrics[run.name] = _run(run, data, out)
                    progress.update(1)
                continue
            quiet = [dataclasses.replace(r, config=dataclasses.replace(r.config, progress=False)) for r in wave]
            with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
                futures = {pool.submit(_run, run, data, out): run.name for run in quiet}
                for future in as_completed(futures):
                    metrics[futures[future]] = future.result()
                    progress.update(1)
    rows = [_row(task, run, metrics[run.name], out) for run in runs]
    write_text_atomic(out / "results.json", json.dumps(rows, indent=2) + "\n")
    write_text_atomic(out / "results.md", summary_table(summarize(rows)) + "\n" + markdown_table(rows))
    plot_results(summarize(rows), out / "accuracy_vs_sparsity.png")
    return rows


def _row(task: str, run: GridRun, metrics: dict, out: Path) -> dict:
    config = run.config
    return {
        "task": task, "model": config.model, "width": config.width, "method": metrics["method"], "variant": run.variant,
        "target_sparsity": config.sparsity, "sparsity": round(metrics["sparsity"], 4),
        "accuracy": round(metrics["accuracy"], 4), "tflite": _relative(metrics["tflite"], out),
        "bit_exact": _bit_exact(metrics), "epochs": sum(config.epochs) if 2 in config.phases else config.epochs[0],
        "augment": config.augment if task == "kws" else None, "seed": config.seed,
        **{key: round(value, 4) for key, value in sorted(metrics.items()) if key.startswith("accuracy_")},
        "seconds": metrics["seconds"],
    }


def _relative(path: str | None, out: Path) -> str | None:
    if path is None:
        return None
    try:
        return str(Path(path).relative_to(out))
    except ValueError:
        return path


def _bit_exact(metrics: dict) -> str | None:
    check = metrics.get("export_check")
    return None if check is None else f"{check['bit_exact']}/{check['examples']}"


def _extra_splits(rows: list[dict]) -> list[str]:
    """Names of the further test splits the rows report (``accuracy_<name>``)."""
    return sorted({key.removeprefix("accuracy_") for r in rows for key in r
                   if key.startswith("accuracy_") and not key.endswith("_std")})


def markdown_table(rows: list[dict]) -> str:
    """One line per run."""
    extra = _extra_splits(rows)
    lines = [
        "| task | model | width | method | variant | target sparsity | seed | measured sparsity | accuracy | "
        + "".join(f"accuracy ({name}) | " for name in extra) + "export bit-exact | tflite |",
        "| --- | --- | ---: | --- | --- | ---: | ---: | ---: | ---: | " + "---: | " * len(extra) + "---: | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r['task']} | {r['model']} | {r['width']:g} | {r['method']} | {r['variant'] or '-'} | {r['target_sparsity']:.2f} | "
            f"{r.get('seed', 0)} | {r['sparsity']:.3f} | {100 * r['accuracy']:.2f}% | "
            + "".join(f"{100 * r[f'accuracy_{name}']:.2f}% | " for name in extra)
            + f"{r['bit_exact'] or '-'} | {r['tflite'] or '-'} |"
        )
    return "\n".join(lines) + "\n"


def summarize(rows: list[dict]) -> list[dict]:
    """Rows of the same run but for its seed merged: mean and sample standard deviation (0 for one seed) of
    each accuracy and of the measured sparsity, with ``seeds`` the number of runs."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["task"], r["model"], r["width"], r["method"], r["variant"], r["target_sparsity"]), []).append(r)
    summary = []
    for (task, model, width, method, variant, target), members in groups.items():
        entry = {"task": task, "model": model, "width": width, "method": method, "variant": variant,
                 "target_sparsity": target, "seeds": len(members)}
        for key in ["sparsity", "accuracy"] + [f"accuracy_{name}" for name in _extra_splits(members)]:
            values = np.array([m[key] for m in members if key in m], np.float64)
            entry[key] = round(float(values.mean()), 4)
            entry[f"{key}_std"] = round(float(values.std(ddof=1)) if len(values) > 1 else 0.0, 4)
        summary.append(entry)
    return summary


def summary_table(summary: list[dict]) -> str:
    """Mean ± standard deviation over seeds, one line per method, width and sparsity."""
    extra = _extra_splits(summary)
    lines = [
        "| task | model | width | method | variant | target sparsity | seeds | measured sparsity | accuracy | "
        + "".join(f"accuracy ({name}) | " for name in extra),
        "| --- | --- | ---: | --- | --- | ---: | ---: | ---: | ---: | " + "---: | " * len(extra),
    ]
    for r in summary:
        accuracies = ["accuracy"] + [f"accuracy_{name}" for name in extra]
        lines.append(
            f"| {r['task']} | {r['model']} | {r['width']:g} | {r['method']} | {r['variant'] or '-'} | "
            f"{r['target_sparsity']:.2f} | {r['seeds']} | {r['sparsity']:.3f} | "
            + "".join(f"{100 * r[key]:.2f} ± {100 * r[f'{key}_std']:.2f}% | " if key in r else "- | " for key in accuracies)
        )
    return "\n".join(lines) + "\n"


def plot_results(summary: list[dict], path: Path) -> None:
    """Mean accuracy (± std over seeds as error bars) vs measured sparsity, one series per method and width
    (ablation variants as extra points); a second panel per further test split (e.g. noisy)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    splits = ["accuracy"] + [f"accuracy_{name}" for name in _extra_splits(summary)]
    figure, panels = plt.subplots(1, len(splits), figsize=(6 * len(splits), 4), squeeze=False)
    widths = sorted({r["width"] for r in summary})
    for axes, key in zip(panels[0], splits):
        for width, linestyle in zip(widths, itertools.cycle(("-", "--", ":", "-."))):
            for method, marker in zip(METHODS, "osD^"):
                points = sorted((r["sparsity"], r[key], r[f"{key}_std"]) for r in summary
                                if r["method"] == method and r["width"] == width and not r["variant"] and key in r)
                if points:
                    xs, ys, errors = zip(*points)
                    label = method if len(widths) == 1 else f"{method}, width x{width:g}"
                    axes.errorbar(xs, [100 * y for y in ys], yerr=[100 * e for e in errors], marker=marker,
                                  linestyle=linestyle, capsize=3, label=label)
        for r in summary:
            if r["variant"] and key in r:
                axes.errorbar([r["sparsity"]], [100 * r[key]], yerr=[100 * r[f"{key}_std"]], marker="x", color="gray",
                              capsize=3)
                axes.annotate(r["variant"], (r["sparsity"], 100 * r[key]), fontsize=6)
        task, model = summary[0]["task"], summary[0]["model"]
        title = f"{task}: {model}" + ("" if widths == [1.0] else ", width x" + "/".join(f"{w:g}" for w in widths))
        if key != "accuracy":
            title += f", {key.removeprefix('accuracy_')} test split"
        seeds = max(r["seeds"] for r in summary)
        ylabel = "test accuracy (%)" + ("" if seeds == 1 else f", mean ± std over {seeds} seeds")
        axes.set(xlabel="measured weight sparsity of the exported model", ylabel=ylabel, title=title)
        axes.grid(alpha=0.3)
        axes.legend()
    figure.tight_layout()
    with atomic_file(path) as tmp:
        figure.savefig(tmp, format="png", dpi=120)
    plt.close(figure)
