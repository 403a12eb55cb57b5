"""``load_task``: the one entry point of training for every task's data."""

from __future__ import annotations

from pathlib import Path

from pqk_mcu.errors import PqkError
from pqk_mcu.train.data.images import load_cifar10, load_digits, load_mnist
from pqk_mcu.train.data.kws import load_kws
from pqk_mcu.audio.speech_commands_layout import KWS_CLASSES
from pqk_mcu.train.data.taskdata import TaskData

TASKS = ("kws", "mnist", "digits", "cifar10")
__all__ = ["KWS_CLASSES", "TASKS", "TaskData", "load_task"]


def load_task(task: str, data_dir: str | Path | None = None, *, seed: int = 0, progress: bool = True,
              **options) -> TaskData:
    """Data of ``task`` (one of ``TASKS``); ``options`` go to the task's loader (e.g. ``augment_copies`` for kws).

    ``kws`` and ``cifar10`` need ``data_dir``; ``mnist`` and ``digits`` ship with their libraries and
    ignore it. ``seed`` fixes the image splits and the KWS augmentation draws.
    """
    if task == "kws":
        if data_dir is None:
            raise PqkError("task kws needs a data folder (Speech Commands layout, e.g. from `pqk-mcu data synth-kws`)")
        return load_kws(data_dir, seed=seed, progress=progress, **options)
    if task == "cifar10":
        if data_dir is None:
            raise PqkError("task cifar10 needs a data folder holding cifar-10-batches-py")
        return load_cifar10(data_dir, **options)
    if task == "mnist":
        return load_mnist(seed=seed, **options)
    if task == "digits":
        return load_digits(seed=seed, **options)
    raise PqkError(f"unknown task {task!r}, expected one of {', '.join(TASKS)}")
