"""The one container every data loader returns."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

Split = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class TaskData:
    """Three splits of (x float32 NHWC, y int64 class index), their class names and per-example shape.

    ``extra_tests`` holds further test splits by name (KWS corpus v2: ``"noisy"``, the test clips mixed
    with noise), reported beside the test accuracy.
    """

    task: str
    train: Split
    val: Split
    test: Split
    class_names: tuple[str, ...]
    input_shape: tuple[int, ...]
    extra_tests: dict[str, Split] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def split(self, name: str) -> Split:
        """``"train"``, ``"val"`` or ``"test"``."""
        if name not in ("train", "val", "test"):
            raise ValueError(f"unknown split {name!r}")
        return getattr(self, name)
