"""The training loop: phases, schedules, checkpoints, resumption, DDP.

One global step counter runs through phase 1 (pruning + QAT) and phase 2 (PQK warm-up, then mutual
distillation). Everything a step does is a function of the step number and the checkpointed state
(model with masks and observers, optimizer, RNG states), so a run interrupted at any point and
started again with the same output folder and the same number of processes continues from its last
checkpoint and ends with exactly the weights of an uninterrupted run. Resuming with another number of
processes is refused: each process normalizes its own share of a batch and draws its own dropout
masks, so the count is part of the result.

Data: ``pqk_mcu.train.run.load_run_data(config, data_dir)`` loads what a configuration trains on (its
task, seed and, for KWS, ``augment``); the augmentation is part of the configuration, so a checkpoint is
never resumed, nor a finished run reused, on differently augmented data.

Schedules (fractions of each phase's steps): fake quantization starts at ``quant_start`` of phase 1;
observers and batch norm freeze at ``freeze_at`` of each phase ("late"); pruning runs from
``prune_begin`` to ``prune_end`` of phase 1 with ``prune_updates`` mask updates (cubic schedule);
the learning rate follows a cosine from ``lr`` to ``lr/20`` within each phase (phase 2 peaks at
``lr * pqk.lr_scale``). Batches: one seeded
permutation per epoch; with N processes each takes every N-th example of the global batch.

Reproducible: every RNG is seeded from ``seed`` (torch, numpy, python ``random``; batches and augmentation
draw from their own seeded generators; no DataLoader workers), torch runs its deterministic algorithms
only, and each process uses ``threads`` intra-op threads (default 1: for these small layers PyTorch's
thread synchronization costs more than it gains: a width-0.5 DS-CNN step at batch 32 took 0.06 s of
CPU with one thread and 0.42 s with two on our busy 2-core machine). Use ``--nproc`` for parallelism instead: ``--nproc N`` (``TrainConfig.nproc``) spawns N processes with torch.distributed (gloo on CPU, NCCL
when every process has a GPU); a run started by ``torchrun`` (RANK/WORLD_SIZE in the environment)
joins that process group instead.
"""

from __future__ import annotations

import dataclasses
import math
import os
import random
import socket
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from pqk_mcu.atomic import atomic_file
from pqk_mcu.errors import PqkError
from pqk_mcu.train.data import TaskData
from pqk_mcu.train.layers import freeze_batch_norm, init_teacher_from_student, prunable_layers, set_view
from pqk_mcu.train.models import build_model
from pqk_mcu.train.pqk import DualView, PqkOptions, apply_options, training_step
from pqk_mcu.train.pruning import GRANULARITIES, PruningSchedule, mask_sparsity, update_masks
from pqk_mcu.train.qat import freeze_observers, set_fake_quant

CHECKPOINT_FORMAT = "pqk-mcu-checkpoint"
CHECKPOINT_VERSION = 1
CHECKPOINT_NAME = "checkpoint.pt"
ERROR_NAME = "training-error.txt"
# Settings that do not make a run another run. The process count changes the weights, but a torchrun
# launch sets it outside the configuration: resuming checks it against the checkpoint's RNG states instead.
RESUME_FREE_FIELDS = ("nproc", "threads", "checkpoint_every", "progress")
# KWS training augmentation: "voices" = the synthetic-voice chain (speed, reverberation, gain, noise at an
# SNR, SpecAugment) on top of TensorFlow's Speech Commands mix; "standard" = that mix alone (+-100 ms shift,
# background noise), the protocol of the PQK paper and of the MLPerf Tiny KWS reference.
AUGMENTS = ("voices", "standard")
# Fields added after checkpoints were first written, with the value those checkpoints were trained with.
ADDED_FIELDS = {"augment": "voices"}
ADDED_PQK_FIELDS = {"student_lr_scale": 1.0}


class TrainingDivergedError(PqkError):
    """The loss became NaN or infinite."""


@dataclass(frozen=True)
class TrainConfig:
    task: str
    model: str
    width: float = 1.0
    quantize: bool = True
    sparsity: float = 0.9
    phases: tuple[int, ...] = (1, 2)
    epochs: tuple[int, int] = (30, 20)  # phase 1, phase 2
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-4
    # Global: one magnitude threshold over all layers. Per-layer pruning at 0.8 leaves 1-2 taps per
    # depthwise 3x3 filter; on a small synthetic KWS run (DS-CNN, 360 steps, float) it reached 34%
    # test accuracy where global pruning reached 56% (dense: 71%), keeping depthwise layers at ~40%.
    granularity: str = "global"
    augment: str = "voices"  # KWS only: one of AUGMENTS (``pqk_mcu.train.run.load_run_data``)
    prune_begin: float = 0.1
    prune_end: float = 0.6
    prune_updates: int = 20
    quant_start: float = 0.05
    freeze_at: float = 0.8
    pqk: PqkOptions = field(default_factory=PqkOptions)
    seed: int = 0
    checkpoint_every: int = 200
    nproc: int = 1
    threads: int = 1  # intra-op threads per process: small conv layers run fastest on one
    progress: bool = True

    def __post_init__(self) -> None:
        if not set(self.phases) <= {1, 2} or 1 not in self.phases:
            raise PqkError(f"phases must be 1 or 1,2 (phase 2 continues phase 1), got {self.phases}")
        if any(self.epochs[phase - 1] < 1 for phase in self.phases):
            raise PqkError(f"every phase run needs at least one epoch, got epochs {self.epochs} for phases {self.phases}")
        if not math.isfinite(self.lr) or self.lr <= 0:
            raise PqkError(f"learning rate must be a positive number, got {self.lr}")
        if not 0.0 <= self.sparsity < 1.0:
            raise PqkError(f"sparsity must be in [0, 1), got {self.sparsity}")
        if 2 in self.phases and (self.sparsity == 0.0 or not self.quantize):
            raise PqkError("phase 2 (PQK) needs a pruned int8 student: set --sparsity > 0 and keep quantization on")
        if self.granularity not in GRANULARITIES:
            raise PqkError(f"granularity must be one of {', '.join(GRANULARITIES)}")
        if self.augment not in AUGMENTS:
            raise PqkError(f"augment must be one of {', '.join(AUGMENTS)}, got {self.augment!r}")
        if self.task != "kws" and self.augment != "voices":
            raise PqkError(f"augment={self.augment} applies to the kws task only (task {self.task})")
        if self.width <= 0:
            raise PqkError(f"width must be positive, got {self.width}")
        if self.nproc < 1 or self.threads < 1 or self.batch_size < self.nproc:
            raise PqkError("need nproc >= 1, threads >= 1 and batch_size >= nproc")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        values = dict(values)
        values["pqk"] = PqkOptions(**values["pqk"])
        values["phases"] = tuple(values["phases"])
        values["epochs"] = tuple(values["epochs"])
        return cls(**values)


@dataclass(frozen=True)
class Plan:
    """Step layout of a run: which phase and stage each global step belongs to."""

    config: TrainConfig
    steps_per_epoch: int

    @property
    def phase_steps(self) -> tuple[int, int]:
        first = self.config.epochs[0] * self.steps_per_epoch
        second = self.config.epochs[1] * self.steps_per_epoch if 2 in self.config.phases else 0
        return first, second

    @property
    def total_steps(self) -> int:
        return sum(self.phase_steps)

    def locate(self, step: int) -> tuple[int, int, int]:
        """(phase, step within phase, steps in phase)."""
        first, second = self.phase_steps
        return (1, step, first) if step < first else (2, step - first, second)

    def stage(self, step: int) -> str:
        phase, local, length = self.locate(step)
        if phase == 1:
            return "phase1"
        return "warmup" if local < round(self.config.pqk.warmup_fraction * length) else "mutual"

    def pruning(self) -> PruningSchedule | None:
        if self.config.sparsity == 0.0:
            return None
        first = self.phase_steps[0]
        begin, end = round(self.config.prune_begin * first), max(round(self.config.prune_end * first), 1) - 1
        begin = min(begin, end)
        return PruningSchedule(self.config.sparsity, begin, end, max(1, (end - begin) // max(self.config.prune_updates, 1)))

    def learning_rate(self, step: int) -> float:
        phase, local, length = self.locate(step)
        peak = self.config.lr * (self.config.pqk.lr_scale if phase == 2 else 1.0)
        return peak * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * local / max(length, 1))))


@dataclass
class TrainResult:
    model: nn.Module
    checkpoint: Path
    history: list[dict]


# --------------------------------------------------------------------------------------------
# Checkpoints.


def _rng_state() -> dict:
    numpy_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "numpy_keys": torch.from_numpy(numpy_state[1].astype(np.int64)),
        "numpy_pos": int(numpy_state[2]),
        "python": random.getstate(),
    }


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(("MT19937", state["numpy_keys"].numpy().astype(np.uint32), state["numpy_pos"], 0, 0.0))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))


def save_checkpoint(path: Path, payload: dict) -> None:
    with atomic_file(path) as tmp:
        torch.save(payload, tmp)


def read_checkpoint(path: str | os.PathLike) -> dict:
    """The checkpoint's payload; a one-line PqkError when it is not a pqk-mcu checkpoint."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise PqkError(f"checkpoint {path} does not exist") from None
    except Exception as error:  # torch.load raises many types on foreign or damaged files
        raise PqkError(f"{path} is not a readable PyTorch checkpoint ({error.__class__.__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise PqkError(f"{path} is not a pqk-mcu training checkpoint")
    if payload.get("version") != CHECKPOINT_VERSION:
        raise PqkError(f"{path}: checkpoint version {payload.get('version')} is not supported")
    return payload


def model_from_checkpoint(payload: dict) -> nn.Module:
    config = TrainConfig.from_dict(payload["config"])
    model = build_model(config.model, len(payload["class_names"]), tuple(payload["input_shape"]), config.width)
    apply_options(model, config.pqk)
    model.load_state_dict(payload["model"])
    model.eval()
    return model


# --------------------------------------------------------------------------------------------
# Data.


def _nchw(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).permute(0, 3, 1, 2)


def batch_indices(plan: Plan, n_examples: int, step: int, rank: int, world: int) -> np.ndarray:
    """This process's example indices for ``step`` (seeded permutation per epoch)."""
    epoch, position = divmod(step, plan.steps_per_epoch)
    generator = torch.Generator().manual_seed(plan.config.seed * 100_003 + epoch)
    order = torch.randperm(n_examples, generator=generator).numpy()
    size = plan.config.batch_size
    return order[position * size : (position + 1) * size][rank::world]


@torch.no_grad()
def evaluate(model: nn.Module, x: np.ndarray, y: np.ndarray, batch_size: int = 512, view: str = "student") -> float:
    """Accuracy of the student (fake-quantized when QAT is on) or of PQK's teacher (``view``) on NHWC features."""
    model.eval()
    set_view(model, view)
    correct = 0
    for start in range(0, len(y), batch_size):
        logits = model(_nchw(x[start : start + batch_size]))
        correct += int((logits.argmax(dim=1).numpy() == y[start : start + batch_size]).sum())
    return correct / max(len(y), 1)


# --------------------------------------------------------------------------------------------
# The loop.


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def train(config: TrainConfig, data: TaskData, out_dir: str | os.PathLike) -> TrainResult:
    """Train (or resume) into ``out_dir``; returns the final student and its checkpoint path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / ERROR_NAME).unlink(missing_ok=True)
    launched = int(os.environ.get("WORLD_SIZE", "1"))
    _check_resumable(out / CHECKPOINT_NAME, config, launched if launched > 1 else config.nproc)
    if launched > 1:  # torchrun: this process is one rank of an existing group
        return _worker(int(os.environ["RANK"]), launched, config, data, out, from_env=True)
    if config.nproc == 1:
        return _worker(0, 1, config, data, out, from_env=False)
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ["MASTER_PORT"] = str(_free_port())
    try:
        torch.multiprocessing.spawn(_spawned, args=(config, data, out), nprocs=config.nproc, join=True)
    except Exception as error:
        message = (out / ERROR_NAME).read_text().strip() if (out / ERROR_NAME).exists() else None
        if message:
            raise PqkError(message) from None
        raise PqkError(f"distributed training failed: {str(error).strip().splitlines()[-1]}") from None
    payload = read_checkpoint(out / CHECKPOINT_NAME)
    return TrainResult(model_from_checkpoint(payload), out / CHECKPOINT_NAME, payload["history"])


def _check_resumable(path: Path, config: TrainConfig, world: int) -> None:
    """Refuse, before any process starts, a checkpoint of another configuration, or an unfinished one of
    another number of processes (a finished one is only read back, which any number of processes can)."""
    if not path.exists():
        return
    payload = read_checkpoint(path)
    if comparable_config(payload["config"]) != comparable_config(config.to_dict()):
        raise PqkError(f"{path} was written by a different training configuration; use a new --out folder")
    trained_by = len(payload["rng"])  # one RNG state per process
    if trained_by != world and payload["step"] < payload["total_steps"]:
        raise PqkError(f"{path} holds a run trained with --nproc {trained_by}, stopped at step {payload['step']}; "
                       f"resume it with --nproc {trained_by} (the number of processes changes the weights) "
                       "or use a new --out folder")


def _spawned(rank: int, config: TrainConfig, data: TaskData, out: Path) -> None:
    try:
        _worker(rank, config.nproc, config, data, out, from_env=False)
    except PqkError as error:
        if rank == 0:
            (out / ERROR_NAME).write_text(str(error) + "\n")
        raise


def _worker(rank: int, world: int, config: TrainConfig, data: TaskData, out: Path, from_env: bool) -> TrainResult:
    if world > 1:
        backend = "nccl" if torch.cuda.is_available() and torch.cuda.device_count() >= world else "gloo"
        if from_env:
            dist.init_process_group(backend)
        else:
            dist.init_process_group(backend, rank=rank, world_size=world)
    torch.set_num_threads(config.threads)
    # The same run gives the same weights: no kernel may pick a nondeterministic algorithm (the thread
    # count is fixed above; another CPU may still round differently in its own SIMD kernels).
    torch.use_deterministic_algorithms(True)
    try:
        return _TrainingRun(rank, world, config, data, out).run()
    finally:
        if world > 1:
            dist.destroy_process_group()


def comparable_config(config_dict: dict) -> dict:
    """The fields that make two runs the same run: not how many processes or progress bars ran it, nor
    the PQK options of a run without phase 2."""
    fields = {k: v for k, v in {**ADDED_FIELDS, **config_dict}.items() if k not in RESUME_FREE_FIELDS}
    if 2 in fields["phases"]:
        fields["pqk"] = {**ADDED_PQK_FIELDS, **fields["pqk"]}
    else:
        del fields["pqk"]
    return fields


def _phase1_fields(config_dict: dict) -> dict:
    """What determines phase 1: everything but the phase list, phase 2's epochs and the PQK options
    (teacher options change attributes, not the model's state)."""
    fields = {k: v for k, v in comparable_config(config_dict).items() if k not in ("phases", "pqk")}
    fields["epochs"] = list(fields["epochs"])[:1]
    return fields


def start_from_phase1(phase1_checkpoint: str | os.PathLike, config: TrainConfig, out_dir: str | os.PathLike) -> bool:
    """Seed ``out_dir`` for the PQK run ``config`` with a finished phase-1-only run of the same phase 1.

    Phase 1 is a function of its configuration and seed, so that run's final checkpoint is exactly the
    one this run would write at the end of its own phase 1; training then resumes into phase 2 instead
    of repeating phase 1. Returns False, writing nothing, when ``out_dir`` already holds a checkpoint
    or the other run does not qualify (unfinished, different phase 1 or number of processes, or not
    phase 1 only).
    """
    target = Path(out_dir) / CHECKPOINT_NAME
    source = Path(phase1_checkpoint)
    if 2 not in config.phases or target.exists() or not source.exists():
        return False
    payload = read_checkpoint(source)
    finished = payload["step"] == payload["total_steps"]
    if tuple(payload["config"]["phases"]) != (1,) or not finished or len(payload["rng"]) != config.nproc:
        return False
    if _phase1_fields(payload["config"]) != _phase1_fields(config.to_dict()):
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    steps_per_epoch = payload["total_steps"] // config.epochs[0]
    save_checkpoint(target, {**payload, "config": config.to_dict(), "total_steps": Plan(config, steps_per_epoch).total_steps})
    return True


def _make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    weights = {id(layer.weight) for layer in prunable_layers(model)}
    decayed = [p for p in model.parameters() if id(p) in weights]
    others = [p for p in model.parameters() if id(p) not in weights]
    groups = [{"params": decayed, "weight_decay": config.weight_decay}, {"params": others, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=config.lr)


class _TrainingRun:
    """One process's share of a run: model, optimizer and step counter, and the named parts of a step
    (schedule, train, evaluate, checkpoint)."""

    def __init__(self, rank: int, world: int, config: TrainConfig, data: TaskData, out: Path) -> None:
        x_train, y_train = data.train
        if len(y_train) < config.batch_size:
            raise PqkError(f"the training split has {len(y_train)} examples, "
                           f"fewer than one batch ({config.batch_size})")
        self.rank, self.world, self.config, self.data = rank, world, config, data
        self.plan = Plan(config, len(y_train) // config.batch_size)
        self.path = out / CHECKPOINT_NAME
        torch.manual_seed(config.seed)
        np.random.seed(config.seed)
        random.seed(config.seed)
        self.model = build_model(config.model, data.num_classes, data.input_shape, config.width)
        apply_options(self.model, config.pqk)
        dual = DualView(self.model)
        self.engine = nn.parallel.DistributedDataParallel(dual, find_unused_parameters=True) if world > 1 else dual
        self.pruning = self.plan.pruning()
        self.inputs = _nchw(x_train)
        self.labels = torch.from_numpy(np.asarray(y_train, dtype=np.int64))
        self.step = 0
        self.stage = ""
        self.history: list[dict] = []
        self.optimizer: torch.optim.Optimizer | None = None
        self.resumed_optimizer: dict | None = None  # the checkpoint's, for the optimizer of the phase it stopped in
        self.saved_step: int | None = None
        if self.path.exists():
            self._resume()

    def _resume(self) -> None:
        payload = read_checkpoint(self.path)  # train() has checked its configuration and process count
        self.model.load_state_dict(payload["model"])
        self.step, self.history = payload["step"], payload["history"]
        self.resumed_optimizer = payload["optimizer"]
        self.saved_step = self.step
        if len(payload["rng"]) == self.world:  # differs only for a finished run, which draws nothing more
            _set_rng_state(payload["rng"][self.rank])

    def run(self) -> TrainResult:
        progress = self._progress_bar()
        while self.step < self.plan.total_steps:
            phase, local, length = self.plan.locate(self.step)
            self.stage = self.plan.stage(self.step)
            self._schedule(phase, local, length)
            losses = self._train_step()
            self.step += 1
            if progress is not None:
                progress.update(1)
                progress.set_postfix(stage=self.stage, loss=f"{losses['total']:.3f}",
                                     sparsity=f"{mask_sparsity(self.model):.2f}")
            end_of_phase = local == length - 1
            if end_of_phase and self.rank == 0:
                self.history.append(self._evaluate(phase, losses))
            if self.step % self.config.checkpoint_every == 0 or end_of_phase:
                self._checkpoint()
        if progress is not None:
            progress.close()
        if self.saved_step != self.step:
            self._checkpoint()
        return TrainResult(self.model, self.path, self.history)

    def _progress_bar(self):
        if self.rank != 0 or not self.config.progress:
            return None
        from tqdm import tqdm

        return tqdm(total=self.plan.total_steps, initial=self.step, desc=f"train {self.config.model}", unit="step",
                    dynamic_ncols=True)

    def _schedule(self, phase: int, local: int, length: int) -> None:
        """Set what the schedules prescribe at this step: optimizer, learning rate, fake quantization,
        frozen observers and batch norm, pruning masks."""
        if self.optimizer is None or local == 0:
            self._start_optimizer(phase, local)
        for group in self.optimizer.param_groups:
            group["lr"] = self.plan.learning_rate(self.step)
        config = self.config
        late = local >= round(config.freeze_at * length)
        set_fake_quant(self.model, config.quantize and (phase == 2 or local >= round(config.quant_start * length)))
        freeze_observers(self.model, config.quantize and late)
        freeze_batch_norm(self.model, config.quantize and late)
        if phase == 1 and self.pruning is not None and self.pruning.is_update_step(local):
            update_masks(self.model, self.pruning.sparsity_at(local), config.granularity)

    def _start_optimizer(self, phase: int, local: int) -> None:
        """A fresh optimizer at the start of each phase (phase 2 also starts its teacher); a resumed run's
        optimizer continues from the checkpoint's state unless the checkpoint ended a phase."""
        if phase == 2 and local == 0:
            init_teacher_from_student(self.model)
        self.optimizer = _make_optimizer(self.model, self.config)
        if self.resumed_optimizer is not None and local != 0:
            self.optimizer.load_state_dict(self.resumed_optimizer)
        self.resumed_optimizer = None

    def _train_step(self) -> dict[str, float]:
        indices = batch_indices(self.plan, len(self.labels), self.step, self.rank, self.world)
        self.model.train()
        return training_step(self.engine, self.model, self.optimizer, self.inputs[indices], self.labels[indices],
                             self.stage, self.config.pqk, check_finite=self._check_finite)

    def _check_finite(self, loss: torch.Tensor) -> None:
        """Stop every process when any one's loss is NaN or infinite, before the update."""
        bad = torch.tensor([0.0 if torch.isfinite(loss) else 1.0])
        if self.world > 1:
            dist.all_reduce(bad, op=dist.ReduceOp.MAX)
        if bad.item():
            kept = ("no checkpoint saved yet" if self.saved_step is None
                    else f"checkpoint {self.path} (step {self.saved_step}) kept")
            raise TrainingDivergedError(
                f"loss is not finite at step {self.step} ({self.stage}); training stopped, {kept}")

    def _evaluate(self, phase: int, losses: dict[str, float]) -> dict:
        """The history record of a finished phase: sparsity, validation accuracy, last losses."""
        return {"step": self.step, "phase": phase, "mask_sparsity": mask_sparsity(self.model),
                "val_accuracy": evaluate(self.model, *self.data.val), **{f"loss_{k}": v for k, v in losses.items()}}

    def _checkpoint(self) -> None:
        """Save the state after ``step`` steps: rank 0 writes, with every process's RNG state."""
        if self.world > 1:
            shared = [self.history]  # rank 0 alone evaluates
            dist.broadcast_object_list(shared, src=0)
            self.history = shared[0]
            states = [None] * self.world
            dist.all_gather_object(states, _rng_state())
        else:
            states = [_rng_state()]
        if self.rank == 0:
            save_checkpoint(self.path, {
                "format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "config": self.config.to_dict(),
                "class_names": list(self.data.class_names), "input_shape": list(self.data.input_shape),
                "step": self.step, "total_steps": self.plan.total_steps, "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict() if self.optimizer is not None else None,
                "rng": states, "history": self.history,
            })
        if self.world > 1:
            dist.barrier()
        self.saved_step = self.step
