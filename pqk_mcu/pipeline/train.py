"""The training commands composed: keyword corpus and test streams, ``pqk-mcu train`` and ``experiment``.

Everything of ``pqk_mcu.train`` is imported inside the functions, after ``require_training_stack`` where
torch is needed, so the other commands never load the training stack and its absence reads as the
install hint.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from pqk_mcu.train import require_training_stack


def synth_kws_corpus(out: str, variants: int | None, engines: str | None, seed: int, jobs: int, reuse: bool,
                     force: bool) -> str:
    """Synthesize the keyword corpus (or keep it with ``reuse`` when it matches); returns the line to report.

    ``engines`` is a comma-separated list of speech engines, None for all of them (corpus v2)."""
    from pqk_mcu.train.data.synth_kws import DEFAULT_ENGINES, DEFAULT_VARIANTS, corpus_matches, synthesize_corpus

    variants = variants or DEFAULT_VARIANTS
    engine_names = DEFAULT_ENGINES if engines is None else tuple(e.strip() for e in engines.split(","))
    if reuse and corpus_matches(out, variants, seed, engines=engine_names):
        return f"{out} already holds this corpus (seed {seed}, {variants} variants): reused"
    summary = synthesize_corpus(out, variants=variants, seed=seed, jobs=jobs, engines=engine_names, force=force)
    speakers = ", ".join(f"{split} {count}" for split, count in summary.speakers.items())
    return (f"{summary.clips} clips from {sum(summary.speakers.values())} speakers ({speakers}) "
            f"in {summary.out_dir} [{summary.seconds:.0f} s]")


def make_test_stream(corpus: str, out: str, seconds: float, n_keywords: int, n_unknown: int, snr_db: float,
                     split: str, seed: int) -> tuple[int, Path]:
    """Write a KWS test stream WAV and its truth; returns the number of keywords and the truth file."""
    from pqk_mcu.train.data.stream import make_stream, write_stream

    audio, truth = make_stream(corpus, seconds=seconds, n_keywords=n_keywords, seed=seed, snr_db=snr_db,
                               split=split, n_unknown=n_unknown)
    return len(truth), write_stream(out, audio, truth)


def train_model(task: str, model: str | None, sparsity: float, phases: tuple[int, ...], data_dir: str | None,
                out: str, epochs: tuple[int, int] | None, batch_size: int | None, lr: float, width: float,
                granularity: str, float_model: bool, augment: str, pqk_options: Sequence[dict], seed: int,
                nproc: int, threads: int, checkpoint_every: int) -> tuple[dict, str] | None:
    """``pqk-mcu train``: the run's summary and its metrics file; None on a non-zero torchrun rank (rank 0
    reports). ``model``, ``epochs`` and ``batch_size`` default to the task's preset."""
    require_training_stack()  # before the imports below, which need torch
    from pqk_mcu.train.experiment import PRESETS
    from pqk_mcu.train.pqk import PqkOptions
    from pqk_mcu.train.run import METRICS_NAME, load_run_data, train_and_export
    from pqk_mcu.train.trainer import TrainConfig

    preset = PRESETS[task]
    config = TrainConfig(
        task=task, model=model or preset["model"], width=width, quantize=not float_model,
        sparsity=0.0 if float_model else sparsity, phases=phases,
        epochs=epochs or preset["epochs"],
        batch_size=batch_size or preset["batch_size"], lr=lr, granularity=granularity, augment=augment,
        pqk=PqkOptions().with_overrides({k: v for options in pqk_options for k, v in options.items()}), seed=seed,
        nproc=nproc, threads=threads, checkpoint_every=checkpoint_every,
    )
    metrics = train_and_export(config, load_run_data(config, data_dir), out)
    if not metrics:
        return None
    summary = {k: metrics.get(k) for k in ("method", "sparsity", "accuracy", "tflite", "export_check")}
    summary |= {k: v for k, v in metrics.items() if k.startswith("accuracy_")}  # further test splits (noisy)
    return summary, f"{out}/{METRICS_NAME}"


def run_experiment_grid(task: str, out: str, data_dir: str | None, model: str | None, widths, epochs, sparsities,
                        ablations, augment: str, seeds: tuple[int, ...], nproc: int, jobs: int) -> list[dict]:
    """``pqk-mcu experiment``: the comparison grid's rows (results.json/.md and the plot written to ``out``)."""
    require_training_stack()  # before the imports below, which need torch
    from pqk_mcu.train.experiment import run_experiment

    return run_experiment(task, out, data_dir, model=model, widths=widths, epochs=epochs, sparsities=sparsities,
                          ablations=ablations, augment=augment, seeds=seeds, nproc=nproc, jobs=jobs)
