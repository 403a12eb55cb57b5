"""Click parameter types of the CLI: every numeric option range- and finiteness-checked, every list and
key=value option parsed, with click's one-line ``Invalid value for '--option': ...`` on bad input."""

from __future__ import annotations

import math

import click

SEED = click.IntRange(0, 2**32 - 1)
# Training models (pqk_mcu.train.models.MODELS; spelled out so the CLI starts without importing torch).
MODEL_NAMES = ("ds-cnn", "res8", "tc-resnet8", "resnet8", "mnist-cnn")
MAX_WIDTH = 8.0  # channel multiplier: wider networks do not fit a microcontroller, or this machine's memory


class FiniteFloat(click.FloatRange):
    """A float range that also refuses nan and infinity."""

    name = "number"

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


class NumberList(click.ParamType):
    """Comma-separated numbers, each checked by ``item`` (a click IntRange or FiniteFloat)."""

    name = "list"

    def __init__(self, item: click.ParamType) -> None:
        self.item = item

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        parts = [part.strip() for part in str(value).split(",")]
        kind = int if isinstance(self.item, click.IntRange) else float
        try:
            numbers = [kind(part) for part in parts]
        except ValueError:
            self.fail(f"expected comma-separated numbers, got {value!r}", param, ctx)
        return tuple(self.item.convert(number, param, ctx) for number in numbers)


class KeyValues(click.ParamType):
    """``key=value[,key=value]`` as a dict of strings."""

    name = "key=value"

    def convert(self, value, param, ctx):
        if isinstance(value, dict):
            return value
        pairs = {}
        for part in str(value).split(","):
            key, sep, text = part.partition("=")
            if not sep or not key.strip():
                self.fail(f"expected key=value, got {part!r}", param, ctx)
            pairs[key.strip()] = text.strip()
        return pairs


EPOCHS = NumberList(click.IntRange(min=1))
SPARSITY = FiniteFloat(0, 1, max_open=True)
