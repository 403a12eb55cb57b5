"""Training loop: end-to-end tiny runs, reproducibility, resume, NaN stop, DDP, CLI, experiment grid."""

from __future__ import annotations

import dataclasses
import json
import pytest
import torch

from pqk_mcu.pipeline.checkpoint import load_pqk_checkpoint
from pqk_mcu.train import trainer
from pqk_mcu.train.data import TaskData, load_task
from pqk_mcu.train.run import train_and_export
from pqk_mcu.train.trainer import TrainConfig, TrainingDivergedError, read_checkpoint, train


@pytest.fixture(scope="module")
def tiny_digits() -> TaskData:
    data = load_task("digits")
    return dataclasses.replace(
        data, train=tuple(a[:192] for a in data.train), val=tuple(a[:64] for a in data.val),
        test=tuple(a[:64] for a in data.test),
    )


def _config(**changes) -> TrainConfig:
    base = TrainConfig(task="digits", model="mnist-cnn", width=0.25, sparsity=0.8, phases=(1, 2), epochs=(2, 1),
                       batch_size=32, checkpoint_every=4, progress=False)
    return dataclasses.replace(base, **changes)


def _weights(model) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_both_phases_train_export_and_verify(tiny_digits, tmp_path):
    metrics = train_and_export(_config(), tiny_digits, tmp_path / "run")
    assert metrics["method"] == "pqk"
    assert metrics["export_check"]["bit_exact"] == metrics["export_check"]["examples"] > 0
    assert metrics["sparsity"] >= 0.79 and 0.0 <= metrics["accuracy"] <= 1.0
    assert [h["phase"] for h in metrics["history"]] == [1, 2]
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert saved["tflite"].endswith("model.tflite")
    graph = load_pqk_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert graph.metadata_map["pqk_labels"] == ",".join(tiny_digits.class_names)
    from pqk_mcu.frontends.tflite import load_tflite

    assert graph.ops == load_tflite(tmp_path / "run" / "model.tflite").ops


def test_same_seed_same_weights_and_resume_loses_no_step(tiny_digits, tmp_path, monkeypatch, capsys):
    reference = train(_config(), tiny_digits, tmp_path / "a").model
    again = train(_config(), tiny_digits, tmp_path / "b").model
    assert all(torch.equal(v, _weights(again)[k]) for k, v in _weights(reference).items())

    calls = {"n": 0}
    original = trainer.training_step

    def crash_at_step_14(*args, **kwargs):
        if calls["n"] == 14:
            raise KeyboardInterrupt
        calls["n"] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(trainer, "training_step", crash_at_step_14)
    with pytest.raises(KeyboardInterrupt):
        train(_config(), tiny_digits, tmp_path / "c")
    assert read_checkpoint(tmp_path / "c" / "checkpoint.pt")["step"] == 12  # last multiple of checkpoint_every
    monkeypatch.setattr(trainer, "training_step", original)
    # another process count would give other weights: refused before any process starts
    from pqk_mcu.errors import PqkError

    refusal = "holds a run trained with --nproc 1, stopped at step 12; resume it with --nproc 1"
    with pytest.raises(PqkError, match=refusal):
        train(_config(nproc=2), tiny_digits, tmp_path / "c")
    code, _, err = _cli(capsys, "train", "--task", "digits", "--model", "mnist-cnn", "--width", "0.25", "--sparsity",
                        "0.8", "--phases", "1,2", "--epochs", "2,1", "--batch-size", "32", "--nproc", "2",
                        "--out", str(tmp_path / "c"))
    assert code == 2 and err.startswith("error: ") and refusal in err and len(err.splitlines()) == 1
    resumed = train(_config(), tiny_digits, tmp_path / "c")
    assert read_checkpoint(resumed.checkpoint)["step"] == 18
    assert all(torch.equal(v, _weights(resumed.model)[k]) for k, v in _weights(reference).items())


def test_nan_loss_stops_naming_the_step_and_keeps_the_checkpoint(tiny_digits, tmp_path, monkeypatch):
    calls = {"n": 0}
    original = trainer.training_step

    def nan_inputs_from_step_9(engine, model, optimizer, inputs, *args, **kwargs):
        if calls["n"] >= 9:
            inputs = torch.full_like(inputs, float("nan"))
        calls["n"] += 1
        return original(engine, model, optimizer, inputs, *args, **kwargs)

    monkeypatch.setattr(trainer, "training_step", nan_inputs_from_step_9)
    with pytest.raises(TrainingDivergedError, match=r"not finite at step 9 .*\(step 8\) kept"):
        train(_config(), tiny_digits, tmp_path / "run")
    payload = read_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert payload["step"] == 8
    assert all(torch.isfinite(v).all() for v in payload["model"].values() if v.is_floating_point())


def test_two_process_ddp_training(tiny_digits, tmp_path):
    result = train(_config(nproc=2, epochs=(1, 1)), tiny_digits, tmp_path / "ddp")
    payload = read_checkpoint(result.checkpoint)
    assert payload["step"] == 12 and len(payload["rng"]) == 2
    assert [h["phase"] for h in payload["history"]] == [1, 2]
    # a finished run is only read back, by any number of processes
    reread = train(_config(nproc=1, epochs=(1, 1)), tiny_digits, tmp_path / "ddp")
    assert all(torch.equal(v, _weights(reread.model)[k]) for k, v in _weights(result.model).items())
    assert read_checkpoint(reread.checkpoint)["step"] == 12


def test_resume_refuses_a_different_configuration(tiny_digits, tmp_path):
    from pqk_mcu.errors import PqkError

    train(_config(epochs=(1, 0), phases=(1,)), tiny_digits, tmp_path / "run")
    with pytest.raises(PqkError, match="different training configuration"):
        train(_config(epochs=(1, 0), phases=(1,), sparsity=0.5), tiny_digits, tmp_path / "run")


def _cli(capsys, *args) -> tuple[int, str, str]:
    from pqk_mcu.cli import main

    try:
        main(list(args))
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_train_and_bad_input(tmp_path, capsys):
    code, out, err = _cli(capsys, "train", "--task", "digits", "--width", "0.25", "--epochs", "1", "--phases", "1",
                          "--sparsity", "0.5", "--batch-size", "64", "--out", str(tmp_path / "run"))
    assert code == 0, err
    assert json.loads(out.splitlines()[0])["method"] == "phase1"
    assert {p.name for p in (tmp_path / "run").iterdir()} >= {"checkpoint.pt", "model.tflite", "metrics.json"}
    code, _, err = _cli(capsys, "train", "--task", "digits", "--sparsity", "0", "--phases", "1,2",
                        "--out", str(tmp_path / "bad"))
    assert code == 2 and err.startswith("error: ") and len(err.splitlines()) == 1
    assert not (tmp_path / "bad").exists()
    for command, option in (("train", "--width"), ("experiment", "--widths")):
        code, _, err = _cli(capsys, command, "--task", "digits", option, "0", "--out", str(tmp_path / "bad"))
        assert code == 2 and err.startswith("error: ") and len(err.splitlines()) == 1
    assert not (tmp_path / "bad").exists()


def test_augment_is_a_kws_option_and_older_checkpoints_trained_with_voices():
    from pqk_mcu.errors import PqkError
    from pqk_mcu.train.trainer import comparable_config

    with pytest.raises(PqkError, match="applies to the kws task only"):
        _config(augment="standard")
    with pytest.raises(PqkError, match="augment must be one of voices, standard"):
        TrainConfig(task="kws", model="ds-cnn", augment="loud")
    kws = TrainConfig(task="kws", model="ds-cnn")
    older = {k: v for k, v in kws.to_dict().items() if k != "augment"}  # written before the field existed
    assert comparable_config(older) == comparable_config(kws.to_dict())
    assert comparable_config(older) != comparable_config(dataclasses.replace(kws, augment="standard").to_dict())


def test_pqk_options_matter_only_to_runs_with_phase_2():
    from pqk_mcu.train.pqk import PqkOptions
    from pqk_mcu.train.trainer import comparable_config

    phase1 = TrainConfig(task="kws", model="ds-cnn", sparsity=0.8, phases=(1,))
    pqk = dataclasses.replace(phase1, phases=(1, 2))
    other = PqkOptions(tau=4.0)
    assert comparable_config(phase1.to_dict()) == comparable_config(dataclasses.replace(phase1, pqk=other).to_dict())
    assert comparable_config(pqk.to_dict()) != comparable_config(dataclasses.replace(pqk, pqk=other).to_dict())
    older = pqk.to_dict()
    del older["pqk"]["student_lr_scale"]  # written before the option existed: trained at 1
    assert comparable_config(older) == comparable_config(pqk.to_dict())


def test_experiment_grid_repeats_for_each_width():
    from pqk_mcu.errors import PqkError
    from pqk_mcu.train.experiment import experiment_grid

    runs = experiment_grid("kws", sparsities=(0.8,), ablations=({"tau": "4"},), widths=(1.0, 2.0))
    assert [(r.name, r.config.width, r.continues) for r in runs] == [
        ("float", 1.0, None), ("int8", 1.0, None), ("phase1-s0.8", 1.0, None), ("phase1-s0.8-long", 1.0, None),
        ("pqk-s0.8", 1.0, "phase1-s0.8"), ("pqk-s0.8-tau-4", 1.0, "phase1-s0.8"),
        ("float-w2", 2.0, None), ("int8-w2", 2.0, None), ("phase1-s0.8-w2", 2.0, None),
        ("phase1-s0.8-long-w2", 2.0, None), ("pqk-s0.8-w2", 2.0, "phase1-s0.8-w2"),
        ("pqk-s0.8-tau-4-w2", 2.0, "phase1-s0.8-w2")]
    with pytest.raises(PqkError, match="widths must be positive"):
        experiment_grid("kws", widths=(0.0,))


def test_experiment_grid_repeats_for_each_seed_and_summarizes_them():
    from pqk_mcu.errors import PqkError
    from pqk_mcu.train.experiment import experiment_grid, summarize, summary_table

    runs = experiment_grid("kws", sparsities=(0.8,), seeds=(0, 3))
    assert [(r.name, r.config.seed, r.continues) for r in runs] == [
        ("float", 0, None), ("int8", 0, None), ("phase1-s0.8", 0, None), ("phase1-s0.8-long", 0, None),
        ("pqk-s0.8", 0, "phase1-s0.8"), ("float-seed3", 3, None), ("int8-seed3", 3, None),
        ("phase1-s0.8-seed3", 3, None), ("phase1-s0.8-long-seed3", 3, None), ("pqk-s0.8-seed3", 3, "phase1-s0.8-seed3")]
    with pytest.raises(PqkError, match="seeds must be distinct"):
        experiment_grid("kws", seeds=(1, 1))
    row = dict(task="kws", model="ds-cnn", width=1.0, method="pqk", variant="", target_sparsity=0.8, sparsity=0.8)
    summary = summarize([{**row, "seed": 0, "accuracy": 0.90, "accuracy_noisy": 0.70},
                         {**row, "seed": 1, "accuracy": 0.94, "accuracy_noisy": 0.74}])
    assert summary == [{**row, "seeds": 2, "sparsity_std": 0.0, "accuracy": 0.92, "accuracy_std": 0.0283,
                        "accuracy_noisy": 0.72, "accuracy_noisy_std": 0.0283}]
    assert "| pqk | - | 0.80 | 2 | 0.800 | 92.00 ± 2.83% | 72.00 ± 2.83% |" in summary_table(summary)


def test_experiment_grid_writes_results_table_and_plot(tiny_digits, tmp_path):
    from pqk_mcu.train.experiment import run_experiment

    grid = dict(data=tiny_digits, epochs=(1, 1), sparsities=(0.8,), ablations=({"tau": "2"},), widths=(0.25,),
                progress=False)
    rows = run_experiment("digits", tmp_path, **grid)
    assert [(r["method"], r["variant"], r["epochs"]) for r in rows] == [
        ("float", "", 2), ("int8", "", 2), ("phase1", "", 1), ("phase1", "1+1 epochs", 2), ("pqk", "", 2),
        ("pqk", "tau=2", 2)]
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved == rows
    for row in rows:
        assert 0.0 <= row["accuracy"] <= 1.0 and {"task", "model", "method", "sparsity", "tflite"} <= row.keys()
        if row["method"] in ("phase1", "pqk"):
            assert row["sparsity"] >= 0.79 and (tmp_path / row["tflite"]).exists()
    assert rows[0]["tflite"] is None
    assert {r["width"] for r in rows} == {0.25}
    assert "| digits | mnist-cnn | 0.25 | pqk |" in (tmp_path / "results.md").read_text()
    assert (tmp_path / "accuracy_vs_sparsity.png").read_bytes()[:4] == b"\x89PNG"
    assert run_experiment("digits", tmp_path, **grid) == rows  # finished runs are reused, not retrained
    parallel = run_experiment("digits", tmp_path / "parallel", jobs=2, **grid)
    assert [{**r, "seconds": 0} for r in parallel] == [{**r, "seconds": 0} for r in rows]
    for row in rows[2:]:
        assert (tmp_path / "parallel" / row["tflite"]).read_bytes() == (tmp_path / row["tflite"]).read_bytes()
    # how a run was driven (processes, progress bars) does not make it another run: reused, seconds and all
    assert run_experiment("digits", tmp_path / "parallel", **{**grid, "progress": True}) == parallel


def test_pqk_run_continuing_a_phase1_run_equals_one_trained_from_scratch(tiny_digits, tmp_path):
    from pqk_mcu.train.trainer import CHECKPOINT_NAME, start_from_phase1, train

    pqk = TrainConfig(task="digits", model="mnist-cnn", width=0.25, sparsity=0.8, phases=(1, 2), epochs=(1, 1),
                      batch_size=32, progress=False)
    phase1 = dataclasses.replace(pqk, phases=(1,), epochs=(1, 0))
    train(phase1, tiny_digits, tmp_path / "phase1")
    assert not start_from_phase1(tmp_path / "phase1" / CHECKPOINT_NAME, dataclasses.replace(pqk, lr=1e-3), tmp_path / "x")
    assert not start_from_phase1(tmp_path / "phase1" / CHECKPOINT_NAME, dataclasses.replace(pqk, nproc=2), tmp_path / "x")
    assert start_from_phase1(tmp_path / "phase1" / CHECKPOINT_NAME, pqk, tmp_path / "continued")
    continued = train(pqk, tiny_digits, tmp_path / "continued").model.state_dict()
    scratch = train(pqk, tiny_digits, tmp_path / "scratch").model.state_dict()
    assert continued.keys() == scratch.keys()
    assert all(torch.equal(continued[k], scratch[k]) for k in scratch)


def test_checkpoint_frontend_rejects_foreign_files(tmp_path):
    from pqk_mcu.errors import PqkError

    garbage = tmp_path / "model.pt"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(PqkError, match="not a readable PyTorch checkpoint"):
        load_pqk_checkpoint(garbage)
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(PqkError, match="not a pqk-mcu training checkpoint"):
        load_pqk_checkpoint(tmp_path / "other.pt")
