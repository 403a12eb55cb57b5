"""``make demo``: the main job end to end on built-in data.

synthesize the keyword corpus (espeak-ng) -> PQK-train a DS-CNN at 80% sparsity (short schedule) ->
export int8 .tflite -> verify it bit-exact (reference vs TFLite Micro, QEMU vs reference) -> build the
KWS firmware for cortex-m4 -> stream a synthesized test stream (held-out voices, keywords at known
times, background noise) through it in QEMU -> detections vs truth, flash/RAM, instructions.

Artifacts stay in ``build/demo/`` (``kws_model.tflite``, ``kws_firmware/firmware.elf``,
``stream.wav`` + truth) so each step can be rerun by hand with the commands printed along the way.
Exit code 0 only when every bit-exactness check passes and the firmware agrees with the Python
streaming reference.

Deterministic: the corpus, the augmentation, the training and the test stream are seeded, training runs
in one process on ``DEMO_THREADS`` intra-op thread with torch's deterministic algorithms, so two runs on
one machine print the same numbers (another CPU may round differently in torch's SIMD kernels).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from pqk_mcu.atomic import write_bytes_atomic, write_text_atomic
from pqk_mcu.errors import PqkError
from pqk_mcu.train import require_training_stack

console = Console()

DETECTION = re.compile(r"^kws: t=(?P<t>[0-9.]+)s word=(?P<word>\S+) score=(?P<score>[0-9.]+)$")
# A detection belongs to a keyword when it names the word and is reported between the keyword's
# speech centre and 1.5 s later: the window must first contain the word and the posterior average
# needs a few hops to rise.
MATCH_WINDOW_S = (0.0, 1.5)
DEMO_ENGINE = "espeak-ng"  # corpus v1: the README's numbers are the demo's on it
DEMO_SEED = 0
# torch.set_num_threads for training: the thread count changes how sums are split, so it is part of the result.
DEMO_THREADS = 1


@dataclass(frozen=True)
class DemoConfig:
    out: Path
    variants: int  # espeak-ng variants per voice in the corpus
    epochs: tuple[int, int]  # phase 1, phase 2
    batch_size: int
    stream_seconds: float
    stream_keywords: int
    verify_inputs: int


# The demo trains with the synthetic-voice augmentation chain (the default; the accuracy grid of
# benchmarks/kws uses TensorFlow's standard mix alone), for a model that hears noisy, reverberant speech. With
# the chain the 80%-sparse PQK model reaches 88.1% at the grid's (8, 4) epochs and finds 17/20 keywords of the
# test stream with 2 false alarms (tau=4); at twice the schedule, (16, 8), 95.0% and 18/20 with 2 (tau=4:
# 94.5%, 18/20 with 1).
FULL = DemoConfig(Path("build/demo"), variants=100, epochs=(16, 8), batch_size=100, stream_seconds=60.0,
                  stream_keywords=20, verify_inputs=20)
# The CI test's shortened demo: the same steps on a tiny corpus and schedule.
QUICK = DemoConfig(Path("build/demo-quick"), variants=2, epochs=(1, 1), batch_size=64, stream_seconds=12.0,
                   stream_keywords=4, verify_inputs=2)


def score_detections(lines: list[str], truth: list[tuple[float, str]]) -> dict:
    """Match detections to truth keywords (each used once); the rest are false alarms."""
    detections = [(float(m["t"]), m["word"]) for m in map(DETECTION.match, lines) if m]
    unmatched = list(range(len(detections)))
    hits = []
    for centre, word in truth:
        match = next((i for i in unmatched if detections[i][1] == word
                      and MATCH_WINDOW_S[0] <= detections[i][0] - centre <= MATCH_WINDOW_S[1]), None)
        hits.append(match is not None)
        if match is not None:
            unmatched.remove(match)
    return {"keywords": len(truth), "detected": sum(hits), "false_alarms": len(unmatched),
            "hits": hits, "detections": detections}


def _step(title: str, command: str | None = None) -> float:
    console.rule(f"[bold]{title}")
    if command:
        console.print(f"[dim]$ {command}")
    return time.monotonic()


def run_demo(config: DemoConfig) -> bool:
    from pqk_mcu.frontends.tflite import load_tflite
    from pqk_mcu.pipeline.kws import bench_kws, build_kws, run_kws
    from pqk_mcu.pipeline.verify import verify_model
    from pqk_mcu.train.data import load_task
    from pqk_mcu.train.data.stream import make_stream, write_stream
    from pqk_mcu.train.data.synth_kws import corpus_matches, synthesize_corpus
    from pqk_mcu.train.run import TFLITE_NAME, train_and_export
    from pqk_mcu.train.trainer import CHECKPOINT_NAME, TrainConfig, comparable_config, read_checkpoint
    from pqk_mcu.verify import random_inputs

    # Its folders under ``out`` are the demo's own (older runs wrote them without markers): force replaces them.
    out = config.out
    out.mkdir(parents=True, exist_ok=True)
    corpus = out / "corpus"
    started = time.monotonic()

    _step("1. keyword corpus (espeak-ng, speaker-disjoint splits)",
          f"pqk-mcu data synth-kws --out {corpus} --variants {config.variants} --engines {DEMO_ENGINE}")
    if corpus_matches(corpus, variants=config.variants, seed=DEMO_SEED, engines=(DEMO_ENGINE,)):
        console.print(f"reusing {corpus}")
    else:
        summary = synthesize_corpus(corpus, variants=config.variants, seed=DEMO_SEED, jobs=2, engines=(DEMO_ENGINE,),
                                    force=True)
        console.print(f"{summary.clips} clips, speakers {summary.speakers}")

    train_dir = out / "train"
    _step("2. PQK training: DS-CNN, 80% sparsity, phase 1 (pruning + int8 QAT) + phase 2 (mutual KD)",
          f"pqk-mcu train --task kws --model ds-cnn --sparsity 0.8 --phases 1,2 --epochs "
          f"{config.epochs[0]},{config.epochs[1]} --batch-size {config.batch_size} --data {corpus} --out {train_dir}")
    train_config = TrainConfig(task="kws", model="ds-cnn", sparsity=0.8, phases=(1, 2), epochs=config.epochs,
                               batch_size=config.batch_size, seed=DEMO_SEED, threads=DEMO_THREADS)
    data = load_task("kws", corpus, seed=train_config.seed)
    checkpoint = train_dir / CHECKPOINT_NAME
    if checkpoint.exists() and comparable_config(read_checkpoint(checkpoint)["config"]) != comparable_config(
            train_config.to_dict()):
        console.print(f"{train_dir} holds a run of another schedule (an older demo): training afresh")
        shutil.rmtree(train_dir)
    metrics = train_and_export(train_config, data, train_dir)
    model_path = out / "kws_model.tflite"
    model_bytes = (train_dir / TFLITE_NAME).read_bytes()
    write_bytes_atomic(model_path, model_bytes)
    console.print(f"test accuracy (int8, speaker-disjoint) {metrics['accuracy']:.3f}, "
                  f"sparsity {metrics['sparsity']:.3f} -> {model_path}")

    graph = load_tflite(model_bytes)
    verified = True
    for board in ("reference", "cortex-m4"):
        _step(f"3. verify on {board}", f"pqk-mcu verify {model_path} --board {board} --inputs {config.verify_inputs}")
        report = verify_model(graph, model_bytes, board, random_inputs(graph, config.verify_inputs, 0))
        console.print(report.summary())
        verified &= report.passed

    stream_path = out / "stream.wav"
    _step("4. test stream: held-out voices, keywords at known times, background noise",
          f"pqk-mcu data stream {corpus} --out {stream_path} --seconds {config.stream_seconds:g} "
          f"--keywords {config.stream_keywords}")
    audio, truth = make_stream(corpus, seconds=config.stream_seconds, n_keywords=config.stream_keywords, seed=1)
    write_stream(stream_path, audio, truth)

    firmware_dir = out / "kws_firmware"
    _step("5. KWS firmware for cortex-m4 in QEMU",
          f"pqk-mcu kws run --board cortex-m4 --model {model_path} --wav {stream_path} -o {firmware_dir}")
    build = build_kws(model_path, "cortex-m4", firmware_dir, force=True)
    run = run_kws(build, audio)
    for line in run.lines:
        console.print(line)
    scores = score_detections(run.lines, [(t.time_s, t.word) for t in truth])
    bench = bench_kws(model_path, "cortex-m4", out / "kws_bench", force=True)

    _step("6. results")
    table = Table("truth t (s)", "word", "detected")
    for (centre, word), hit in zip(((t.time_s, t.word) for t in truth), scores["hits"]):
        table.add_row(f"{centre:.2f}", word, "yes" if hit else "[red]missed")
    console.print(table)
    summary = {
        "model_accuracy": metrics["accuracy"],
        "model_sparsity": metrics["sparsity"],
        "keywords": scores["keywords"],
        "detected": scores["detected"],
        "false_alarms": scores["false_alarms"],
        "firmware_agrees_with_reference": run.agrees,
        "bit_exact": verified,
        "flash_bytes": build.size.flash_bytes,
        "ram_bytes_with_stack_reserve": build.size.ram_bytes,
        "stack_bytes_painted": run.stack_bytes,
        "instructions_per_inference": bench["instructions"]["inference"],
        "instructions_per_mfcc_frame": bench["instructions"]["mfcc_frame"],
        "seconds": round(time.monotonic() - started, 1),
    }
    write_text_atomic(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    result = Table("measure", "value")
    for key, value in summary.items():
        result.add_row(key, f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value))
    console.print(result)
    ok = verified and run.agrees
    console.print(f"[bold]{'demo ok' if ok else 'demo FAILED'}[/]: {scores['detected']}/{scores['keywords']} keywords, "
                  f"{scores['false_alarms']} false alarms; artifacts in {out}/")
    return ok


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pqk_mcu.pipeline.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny corpus and schedule (the CI test)")
    parser.add_argument("--out", type=Path, help="artifact folder (default build/demo)")
    args = parser.parse_args(argv)
    config = QUICK if args.quick else FULL
    if args.out:
        config = dataclasses.replace(config, out=args.out)
    try:
        require_training_stack()
        ok = run_demo(config)
    except PqkError as error:
        console.print(f"error: {error}", style="red", highlight=False)
        sys.exit(2)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
