"""Command line: thin click commands over library functions.

Every ``PqkError``, bad option value and unwritable path becomes one line ``error: <message>`` on
stderr and exit code 2; so do SIGINT and SIGTERM, after the outputs in progress are cleaned up.
Option values are range- and finiteness-checked as they are parsed (``pqk_mcu.options``). Output files
accept ``-`` for standard output (``pqk_mcu.atomic``).
"""

from __future__ import annotations

import signal
import sys
import threading

import click

from pqk_mcu import __version__
from pqk_mcu.atomic import is_stdout
from pqk_mcu.errors import PqkError
from pqk_mcu.options import EPOCHS, MAX_WIDTH, MODEL_NAMES, SEED, SPARSITY, FiniteFloat, KeyValues, NumberList


def _console():
    """A rich console on stdout; off a terminal it does not wrap, so saved logs keep whole table rows."""
    from rich.console import Console

    return Console(width=None if sys.stdout.isatty() else 10_000)


def _wrote(message: str, path: str) -> None:
    """Say what was written; on stderr when the output itself went to stdout."""
    click.echo(message, err=is_stdout(path))


force_option = click.option("--force", is_flag=True,
                            help="Replace the output folder even when it holds files this command did not write.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pqk-mcu")
def cli() -> None:
    """pqk-mcu: train pruned int8 networks with PQK and compile them for Cortex-M."""


@cli.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON instead of a table.")
def inspect(model: str, as_json: bool) -> None:
    """Table of a .tflite model's ops: shapes, params, weights, MACs, weight sparsity."""
    from pqk_mcu.pipeline.load import inspect_model

    summary = inspect_model(model, as_json)
    if as_json:
        click.echo(summary)
    else:
        _console().print(summary)


@cli.group()
def data() -> None:
    """Data sets: the synthesized keyword corpus and KWS test streams."""


@data.command("synth-kws")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Corpus folder (replaced when done).")
@click.option("--variants", type=click.IntRange(1, 100),
              help="Speakers (voice variant, pitch, speed, level) per English voice [default: 50].")
@click.option("--engines", help="Speech engines, comma-separated [default: espeak-ng,flite,festival (corpus v2)].")
@click.option("--seed", default=0, show_default=True, type=SEED)
@click.option("--jobs", default=2, show_default=True, type=click.IntRange(1, 64), help="Parallel engine processes.")
@click.option("--reuse", is_flag=True, help="Keep OUT when it already holds the corpus of these settings.")
@force_option
def synth_kws(out: str, variants: int | None, engines: str | None, seed: int, jobs: int, reuse: bool,
              force: bool) -> None:
    """Synthesize the keyword corpus with speech engines in the Speech Commands layout (speaker-disjoint splits)."""
    from pqk_mcu.pipeline.train import synth_kws_corpus

    click.echo(synth_kws_corpus(out, variants, engines, seed, jobs, reuse, force))


@data.command("stream")
@click.argument("corpus", type=click.Path(file_okay=False))
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Stream WAV (+ .truth.json beside it).")
@click.option("--seconds", default=60.0, show_default=True, type=FiniteFloat(0, 1800, min_open=True))
@click.option("--keywords", "n_keywords", default=20, show_default=True, type=click.IntRange(0, 10_000))
@click.option("--unknown", "n_unknown", default=0, show_default=True, type=click.IntRange(0, 10_000),
              help="Non-keyword distractors.")
@click.option("--snr", "snr_db", default=20.0, show_default=True, type=FiniteFloat(-60, 120),
              help="Keyword level over noise, dB.")
@click.option("--split", default="test", show_default=True, type=click.Choice(["train", "val", "test"]))
@click.option("--seed", default=0, show_default=True, type=SEED)
def stream(corpus: str, out: str, seconds: float, n_keywords: int, n_unknown: int, snr_db: float, split: str,
           seed: int) -> None:
    """A KWS test stream: keywords of held-out speakers at known times over background noise."""
    from pqk_mcu.pipeline.train import make_test_stream

    if is_stdout(out):
        raise PqkError("--out: the stream needs a file name (its truth is written beside it)")
    keywords, truth_path = make_test_stream(corpus, out, seconds, n_keywords, n_unknown, snr_db, split, seed)
    click.echo(f"{out}: {seconds:g} s, {keywords} keywords; truth in {truth_path}")


@cli.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--board", default="reference", show_default=True,
              help="Backend to check: 'reference' (against TFLite Micro), 'host' or a board (against the reference).")
@click.option("--inputs", "count", type=click.IntRange(min=1), default=10, show_default=True,
              help="Random inputs to run (made one at a time).")
@click.option("--seed", type=SEED, default=0, show_default=True, help="Seed of the random inputs.")
@click.option("--input", "input_file", type=click.Path(dir_okay=False), help="Inputs from a .npy file instead.")
def verify(model: str, board: str, count: int, seed: int, input_file: str | None) -> None:
    """Run inputs through BOARD and its oracle; compare every output, and on mismatch every layer."""
    from pqk_mcu.pipeline.verify import verify_model_file

    report = verify_model_file(model, board, count, seed, input_file)
    for mismatch in report.mismatches:
        for line in mismatch.describe():
            click.echo(line)
    click.echo(report.summary())
    if not report.passed:
        sys.exit(1)


@cli.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--sparsity", type=SPARSITY, required=True,
              help="Fraction of each weight tensor set to zero.")
@click.option("-o", "--out", "out_path", required=True, type=click.Path(dir_okay=False),
              help="Pruned .tflite ('-': standard output).")
def prune(model: str, sparsity: float, out_path: str) -> None:
    """Zero the smallest-magnitude weights of every weighted layer of MODEL (.tflite): conv, depthwise, FC and
    TRANSPOSE_CONV filters, SVDF feature weights, LSTM gate weights."""
    from pqk_mcu.pipeline.load import prune_model

    prune_model(model, sparsity, out_path)
    _wrote(f"wrote {out_path} (weights {sparsity:.0%} zero per layer)", out_path)


@cli.command("compile")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Library folder: model sources, runtime kernels, CMake/Make/Zephyr files, README (replaced "
                   "atomically when an earlier compile wrote it).")
@click.option("--format", "weight_format", type=click.Choice(["auto", "dense", "csr"]), default="auto",
              show_default=True, help="Weight storage: chosen per layer by the cost model, or forced.")
@click.option("--board", help="Target board: enables its DSP kernels (default: portable C only).")
@click.option("--name", help="Prefix of every file, C symbol and macro (NAME_model.h, NAME_model_invoke, NAME_MODEL_*), "
              "for several models in one firmware [default: model.h, pqk_model_invoke, PQK_MODEL_*].")
@force_option
def compile_command(model: str, out_dir: str, weight_format: str, board: str | None, name: str | None,
                    force: bool) -> None:
    """Generate int8 C for MODEL (.tflite) as a library folder a firmware project can build."""
    from pqk_mcu.pipeline.build import compile_model

    table, memory = compile_model(model, out_dir, weight_format, board, name, force)
    _console().print(table)
    click.echo(f"{out_dir}: {memory}")


@cli.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--board", required=True, help="Board name (pqk_mcu/boards/*.yaml) or a board YAML file.")
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Folder for gen/, firmware.elf, firmware.map, size.txt/size.json (replaced atomically "
                   "when an earlier build wrote it).")
@click.option("--format", "weight_format", type=click.Choice(["auto", "dense", "csr"]), default="auto",
              show_default=True, help="Weight storage: chosen per layer by the cost model, or forced.")
@click.option("--app", default="harness", show_default=True, help="Firmware app in firmware/apps/.")
@force_option
def build(model: str, board: str, out_dir: str, weight_format: str, app: str, force: bool) -> None:
    """Generate C for MODEL (.tflite) and build firmware for BOARD; print the size report."""
    from pqk_mcu.pipeline.build import build_model

    firmware = build_model(model, board, out_dir, weight_format=weight_format, app=app, force=force)
    click.echo(firmware.size.table())
    click.echo(f"wrote {firmware.elf} (map, size.json, size.txt, gen/ beside it)")


@cli.command()
@click.argument("elf", type=click.Path(dir_okay=False))
@click.option("--board", required=True, help="Emulated board the ELF was built for.")
@click.option("--input", "input_path", required=True, type=click.Path(dir_okay=False), help="int8 input tensor (.npy).")
@click.option("--output", "output_path", required=True, type=click.Path(dir_okay=False),
              help="Output tensor (.npy; '-': standard output).")
@click.option("--timeout", default=60.0, show_default=True, type=FiniteFloat(min=0, min_open=True),
              help="Seconds before a silent firmware counts as hung.")
def run(elf: str, board: str, input_path: str, output_path: str, timeout: float) -> None:
    """Run firmware ELF once under QEMU on one input; write its output."""
    from pqk_mcu.pipeline.build import run_npy

    result = run_npy(elf, board, input_path, output_path, timeout=timeout)
    _wrote(f"wrote {output_path} ({len(result.output)} bytes); peak stack {result.stack_bytes} B", output_path)


@cli.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--board", required=True, help="Emulated board (cortex-m3/m4/m7/m33/m55 or a board YAML file).")
@click.option("--format", "weight_format", type=click.Choice(["auto", "dense", "csr"]), default="auto",
              show_default=True, help="Weight storage: chosen per layer by the cost model, or forced.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None,
              help="Also write the results as JSON here ('-': standard output, instead of the tables).")
def bench(model: str, board: str, weight_format: str, json_path: str | None) -> None:
    """Instructions per inference and per layer (QEMU), flash by section and RAM of MODEL on BOARD."""
    from pqk_mcu.pipeline.bench import bench_model, render, write_json

    result = bench_model(model, board, weight_format)
    if not (json_path and is_stdout(json_path)):
        console = _console()
        for renderable in render(result):
            console.print(renderable)
    if json_path:
        write_json(result, json_path)
        _wrote(f"wrote {json_path}", json_path)
    if not result.bit_exact:
        raise PqkError(f"{model} on {board}: firmware output differs from the reference")



# KWS training augmentation (trainer.AUGMENTS; spelled out here so the CLI starts without importing torch).
augment_option = click.option(
    "--augment", default="voices", show_default=True, type=click.Choice(["voices", "standard"]),
    help="kws: synthetic-voice augmentation chain + TensorFlow's mix (voices) or the mix alone (standard).")


def _epochs_per_phase(epochs: tuple[int, ...], phases: tuple[int, ...]) -> tuple[int, int]:
    """``--epochs`` as (phase 1, phase 2): exactly one count per phase run (phase 2: 0 when not run)."""
    if len(epochs) != len(phases):
        raise click.BadParameter(f"{len(epochs)} number(s) for {len(phases)} phase(s) "
                                 f"(--phases {','.join(map(str, phases))}); give one per phase",
                                 param_hint="'--epochs'")
    return epochs[0], epochs[1] if len(epochs) > 1 else 0


@cli.command()
@click.option("--task", required=True, type=click.Choice(["kws", "mnist", "digits", "cifar10"]))
@click.option("--model", default=None, type=click.Choice(MODEL_NAMES), help="Model (default: the task's preset).")
@click.option("--sparsity", default=0.9, show_default=True, type=SPARSITY,
              help="Target fraction of pruned weights (0 = dense).")
@click.option("--phases", default="1,2", show_default=True, type=click.Choice(["1", "1,2"]),
              help="1 (pruning + QAT) or 1,2 (+ PQK distillation).")
@click.option("--data", "data_dir", type=click.Path(file_okay=False), help="Data folder (kws: Speech Commands layout).")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Run folder: checkpoint, model.tflite, metrics.json.")
@click.option("--epochs", default=None, type=EPOCHS,
              help="Epochs of each phase: N for --phases 1 (and --float), N1,N2 for 1,2 (default: the task's preset).")
@click.option("--batch-size", default=None, type=click.IntRange(1, 65_536))
@click.option("--lr", default=2e-3, show_default=True, type=FiniteFloat(0, 10, min_open=True))
@click.option("--width", default=1.0, show_default=True, type=FiniteFloat(0, MAX_WIDTH, min_open=True),
              help="Channel width multiplier of the model.")
@click.option("--granularity", default="global", show_default=True, type=click.Choice(["global", "layer"]),
              help="Pruning threshold over all layers together or per layer.")
@click.option("--float", "float_model", is_flag=True, help="Train a float model (no QAT, no export).")
@augment_option
@click.option("--pqk-option", "pqk_options", multiple=True, type=KeyValues(), help="PQK option key=value (tau, "
              "ce_weight, kd_weight, warmup_fraction, lr_scale, student_lr_scale, teacher_precision=fp32|int8, "
              "teacher_bn=separate|shared).")
@click.option("--seed", default=0, show_default=True, type=SEED)
@click.option("--nproc", default=1, show_default=True, type=click.IntRange(1, 64), help="DDP processes.")
@click.option("--threads", default=1, show_default=True, type=click.IntRange(1, 256), help="Intra-op threads per process.")
@click.option("--checkpoint-every", default=200, show_default=True, type=click.IntRange(min=1), help="Steps between checkpoints.")
def train(task, model, sparsity, phases, data_dir, out, epochs, batch_size, lr, width, granularity, float_model,
          augment, pqk_options, seed, nproc, threads, checkpoint_every) -> None:
    """Train with pruning + int8 QAT (phase 1) and PQK (phase 2); export the student to int8 .tflite.

    Rerunning with the same --out resumes from the last checkpoint.
    """
    import json

    from pqk_mcu.pipeline.train import train_model

    phase_list = (1,) if float_model else tuple(int(p) for p in phases.split(","))
    reported = train_model(
        task, model, sparsity, phase_list, data_dir, out, _epochs_per_phase(epochs, phase_list) if epochs else None,
        batch_size, lr, width, granularity, float_model, augment, pqk_options, seed, nproc, threads, checkpoint_every,
    )
    if reported is None:  # a non-zero torchrun rank: rank 0 reports
        return
    summary, metrics_path = reported
    click.echo(json.dumps(summary))
    click.echo(f"metrics: {metrics_path}")


@cli.command()
@click.option("--task", required=True, type=click.Choice(["kws", "mnist", "digits", "cifar10"]))
@click.option("--out", required=True, type=click.Path(file_okay=False), help="results.json, results.md, plot, runs/.")
@click.option("--data", "data_dir", type=click.Path(file_okay=False), help="Data folder (kws: Speech Commands layout).")
@click.option("--model", default=None, type=click.Choice(MODEL_NAMES), help="Model (default: the task's preset).")
@click.option("--widths", default="1", show_default=True, type=NumberList(FiniteFloat(0, MAX_WIDTH, min_open=True)),
              help="Channel width multipliers: the grid for each.")
@click.option("--epochs", default=None, type=EPOCHS, help="Epochs of phase 1,phase 2 (others train for their sum).")
@click.option("--sparsities", default="0.5,0.8,0.9", show_default=True, type=NumberList(SPARSITY))
@click.option("--ablation", "ablations", multiple=True, type=KeyValues(),
              help="Extra PQK run with options key=value[,key=value].")
@augment_option
@click.option("--seeds", default="0", show_default=True, type=NumberList(SEED),
              help="Training seeds: the grid for each (the data is drawn with the first).")
@click.option("--nproc", default=1, show_default=True, type=click.IntRange(1, 64), help="DDP processes per run.")
@click.option("--jobs", default=1, show_default=True, type=click.IntRange(1, 64), help="Runs trained at once (processes).")
def experiment(task, out, data_dir, model, widths, epochs, sparsities, ablations, augment, seeds, nproc, jobs) -> None:
    """Comparison grid: float, int8 QAT, phase 1 and PQK at each sparsity -> results.json/.md + plot."""
    from pqk_mcu.pipeline.train import run_experiment_grid

    rows = run_experiment_grid(
        task, out, data_dir, model, widths, _epochs_per_phase(epochs, (1, 2)) if epochs else None, sparsities,
        ablations, augment, seeds, nproc, jobs,
    )
    for row in rows:
        extra = "".join(f"  {key.removeprefix('accuracy_')} {value:.4f}" for key, value in row.items()
                        if key.startswith("accuracy_"))
        click.echo(f"{row['method']:7s} x{row['width']:<5g} {row['variant'] or '':24s} seed {row['seed']:<3d} "
                   f"sparsity {row['sparsity']:.3f}  accuracy {row['accuracy']:.4f}{extra}")
    click.echo(f"results: {out}/results.json, {out}/results.md, {out}/accuracy_vs_sparsity.png")


@cli.group()
def kws() -> None:
    """Keyword spotting firmware: the KWS app streaming audio through a model."""


@kws.command("run")
@click.option("--board", default="cortex-m4", show_default=True, help="Emulated board (pqk_mcu/boards) or 'host' (gcc).")
@click.option("--model", required=True, type=click.Path(dir_okay=False), help="int8 KWS .tflite with a 49x10 MFCC input.")
@click.option("--wav", required=True, type=click.Path(dir_okay=False), help="Speech WAV (resampled to 16 kHz mono).")
@click.option("--labels", default=None, help="Class names a,b,c (default: the model's pqk_labels metadata).")
@click.option("--stride-ms", default=250, show_default=True, type=click.IntRange(20, 1000),
              help="Window hop, a multiple of 10 ms.")
@click.option("--average", default=3, show_default=True, type=click.IntRange(1, 16),
              help="Windows whose posteriors are averaged.")
@click.option("--threshold", default=0.5, show_default=True, type=FiniteFloat(0, 1, min_open=True),
              help="Averaged posterior that detects.")
@click.option("--suppression-ms", default=1000, show_default=True, type=click.IntRange(0, 60_000),
              help="Quiet time after a detection.")
@click.option("-o", "--out", "out_dir", default="build/kws", show_default=True, type=click.Path(file_okay=False),
              help="Build folder (gen/, firmware.elf, size report), replaced atomically when an earlier kws run wrote it.")
@click.option("--timeout", default=None, type=FiniteFloat(min=0, min_open=True),
              help="Seconds before a silent app counts as hung [default: scales with the WAV's length].")
@force_option
def kws_run(board, model, wav, labels, stride_ms, average, threshold, suppression_ms, out_dir, timeout, force) -> None:
    """Build the KWS app for BOARD, stream WAV through it, check its lines against the Python reference."""
    from pqk_mcu.pipeline.kws import prepare_kws_session, run_kws

    session = prepare_kws_session(model, board, wav, labels, stride_ms, average, threshold, suppression_ms, out_dir,
                                  timeout, force)
    if session.build.size is not None:
        click.echo(session.build.size.table())
    click.echo(f"streaming {session.seconds:.1f} s of audio through the app on {board} "
               f"(hung after {session.timeout:g} s)...", err=True)
    result = run_kws(session.build, session.audio, timeout=session.timeout, progress=True)
    for line in result.lines:
        click.echo(line)
    click.echo(f"{result.seconds:.2f} s of audio on {board}: {len(result.lines)} result line(s), "
               f"peak stack {result.stack_bytes} B")
    if not result.agrees:
        raise PqkError("the app's lines differ from the Python streaming reference: "
                       + " | ".join(result.reference or ["(no lines)"]))
    click.echo("same lines as the Python streaming reference")


@kws.command("classify")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--data", "data_dir", required=True, type=click.Path(file_okay=False),
              help="Speech Commands layout: <word>/<clip>.wav, only the clips of testing_list.txt when it exists.")
@click.option("--board", default="host", show_default=True, help="Emulated board (pqk_mcu/boards) or 'host' (gcc).")
@click.option("--labels", default=None, help="Class names a,b,c (default: the model's pqk_labels metadata).")
@click.option("-o", "--out", "out_dir", default="build/kws-classify", show_default=True,
              type=click.Path(file_okay=False),
              help="Output folder (app/, classification.json, confusion.png), replaced atomically when an earlier "
                   "kws classify wrote it.")
@force_option
def kws_classify(model, data_dir, board, labels, out_dir, force) -> None:
    """Label every clip of a Speech Commands folder with the KWS app for MODEL: accuracy, confusion matrix.

    A clip's label is the app's one line for a clip: the class with the largest posterior averaged over
    the clip's windows (one window for a clip of up to 1 s). Words the model has no label for count as
    _unknown_; _background_noise_ is not a word.
    """
    from pqk_mcu.pipeline.kws import classify_kws

    result = classify_kws(model, board, data_dir, out_dir, labels, force=force, progress=True)
    click.echo(result.table())
    skipped = f" ({result.skipped} clips of words without a label skipped)" if result.skipped else ""
    click.echo(f"accuracy {100 * result.accuracy:.2f}% on {len(result.clips)} clips on {board}{skipped}")
    plot = " and confusion.png" if (result.out_dir / "confusion.png").exists() else ""
    click.echo(f"results: {result.out_dir}/classification.json{plot}")


@cli.command()
@click.argument("elf", type=click.Path(dir_okay=False))
@click.option("--board", required=True, help="Board to program (nucleo-f446re, stm32f4-discovery, nucleo-l4r5zi).")
@click.option("--tool", type=click.Choice(["pyocd", "openocd"]), default=None,
              help="Programmer (default: the first of pyocd, openocd installed).")
@click.option("--dry-run", is_flag=True, help="Print the command instead of running it.")
def flash(elf: str, board: str, tool: str | None, dry_run: bool) -> None:
    """Program firmware ELF into a real board through pyOCD or OpenOCD."""
    import shlex

    from pqk_mcu.pipeline.build import flash_firmware

    command = shlex.join(flash_firmware(elf, board, dry_run=dry_run, tool=tool))
    click.echo(command if dry_run else f"flashed {elf} into {board}: {command}")


def _on_signals(handler) -> dict:
    """Route SIGINT and SIGTERM to ``handler`` (signals ignored at start, as in background jobs, stay
    ignored); returns the previous handlers. Only the main thread may set handlers."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    previous = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    for number, old in previous.items():
        if old is not signal.SIG_IGN:
            signal.signal(number, handler)
    return previous


def main(argv: list[str] | None = None) -> None:
    received: list[str] = []

    def interrupt(number, frame) -> None:
        # One path for both signals: unwind like Ctrl-C, so every output in progress is cleaned up.
        if not received:  # a second signal must not cut the cleanup short
            received.append(signal.Signals(number).name)
            raise KeyboardInterrupt

    previous = _on_signals(interrupt)
    try:
        exit_code = cli.main(args=argv, prog_name="pqk-mcu", standalone_mode=False)
    except PqkError as error:
        # Tool output quoted in a message (compiler errors) keeps its line breaks as " | ".
        click.echo("error: " + " | ".join(line.strip() for line in str(error).splitlines() if line.strip()), err=True)
        sys.exit(2)
    except OSError as error:  # a path given cannot be read or written (a file in the way, no access, disk full)
        where = f"{error.filename}: " if error.filename else ""
        click.echo(f"error: {where}{error.strerror or error}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo(f"error: interrupted by {received[0]}" if received else "error: aborted", err=True)
        sys.exit(2)
    except click.ClickException as error:
        # Usage errors too get one line; `pqk-mcu CMD --help` shows the usage.
        click.echo(f"error: {' '.join(error.format_message().split())}", err=True)  # choices come one per line
        sys.exit(2)
    except click.exceptions.Exit as exit_:
        sys.exit(exit_.exit_code)
    finally:
        for number, old in previous.items():
            signal.signal(number, old)
    # Without standalone mode click returns ctx.exit()'s code instead of exiting.
    if isinstance(exit_code, int):
        sys.exit(exit_code)


if __name__ == "__main__":
    main()
