"""The .tflite reader under fuzzing: any bytes give a Graph or one ``PqkError``, never another exception or a hang.

Inputs are random bytes (with and without the ``TFL3`` identifier), the fixture models mutated
the ways that break flatbuffers (bit flips, 32-bit words overwritten with boundary values where
offsets, vector lengths and indices live, truncations, splices of one model's bytes into another),
and valid flatbuffers that lie: one field of a tensor, operator, option table or the subgraph set
to an odd value through the schema's object API and packed again. A model that
loads goes on through ``summarize`` (what ``pqk-mcu inspect`` prints), which must not fail either.
Every case runs under a wall-clock alarm, so a loop on a cyclic or huge offset fails the test
instead of hanging it.

``make test`` runs a fixed (derandomized) sample; ``make fuzz`` runs the ``fuzz``-marked variants
with the profile's 10,000 examples each and fresh randomness.
"""

from __future__ import annotations

import contextlib
import signal
import struct

import flatbuffers
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import FIXTURES
from pqk_mcu.errors import PqkError
from pqk_mcu.frontends.tflite import load_tflite
from pqk_mcu.frontends.tflite_schema import BUILTIN_CODES, FILE_IDENTIFIER, schema
from pqk_mcu.ir.summary import summarize

CASE_SECONDS = 10  # the largest fixture loads in well under a second; ten is a hang
SEEDS = ("hello_world_int8", "micro_speech_quantized", "mlperf_tiny_ic_resnet8_int8", "mlperf_tiny_ad_toycar_float_io")
FIXTURE_BYTES = {name: (FIXTURES / f"{name}.tflite").read_bytes() for name in SEEDS}
# Values that flatbuffer offsets, vector lengths and indices trip over.
BOUNDARY_WORDS = (0, 1, 2, 3, 4, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000,
                  0xFFFFFFFE, 0xFFFFFFFF)
EXAMPLES = 150  # per test in make test


class ParserHung(Exception):
    pass


@contextlib.contextmanager
def alarm(seconds: float):
    """Raise ``ParserHung`` in the main thread if the block runs longer than ``seconds``."""

    def expired(signum, frame):
        raise ParserHung(f"no answer after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def check_reader(data: bytes) -> None:
    """Loads to a verified Graph that summarizes, or fails with one PqkError line."""
    with alarm(CASE_SECONDS):
        try:
            graph = load_tflite(data)
        except PqkError as error:
            assert str(error) and "\n" not in str(error), repr(str(error))
            return
        summarize(graph)


@st.composite
def mutated_models(draw) -> bytes:
    """A fixture with 1-8 mutations: bit flips, boundary words, truncation, splices."""
    data = bytearray(FIXTURE_BYTES[draw(st.sampled_from(SEEDS))])
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(("flip", "word", "word", "truncate", "splice", "duplicate")))
        if not data:
            break
        position = draw(st.integers(8, len(data) - 1)) if len(data) > 8 else 0  # mostly past the header
        if kind == "flip":
            data[position] ^= 1 << draw(st.integers(0, 7))
        elif kind == "word":
            # Flatbuffer fields are 4-byte aligned: hit offsets and lengths where they live.
            position -= position % 4
            if position + 4 <= len(data):
                data[position : position + 4] = struct.pack("<I", draw(st.sampled_from(BOUNDARY_WORDS)))
        elif kind == "truncate":
            data = data[: max(8, position)]
        elif kind == "splice":
            donor = FIXTURE_BYTES[draw(st.sampled_from(SEEDS))]
            start = draw(st.integers(0, len(donor) - 1))
            chunk = donor[start : start + draw(st.integers(1, 256))]
            data[position : position + len(chunk)] = chunk
        else:
            length = draw(st.integers(1, 64))
            data[position:position] = data[position : position + length]
    return bytes(data)


SEMANTIC_SEEDS = ("hello_world_int8", "micro_speech_quantized", "mlperf_tiny_ic_resnet8_int8")
ODD_INTS = st.sampled_from((-2, -1, 0, 1, 2, 3, 7, 127, 128, 255, 1 << 16, (1 << 31) - 1))
ODD_FLOATS = st.sampled_from((0.0, -1.0, 1e-30, 1e30, float("inf"), float("nan"), 1.0))


def _odd_value(draw, current):
    """A replacement of the kind ``current`` holds: a vector, an int or a float."""
    if isinstance(current, np.ndarray) or isinstance(current, list):
        values = [int(v) if np.issubdtype(np.asarray(current).dtype, np.integer) else float(v) for v in np.asarray(current)]
        choice = draw(st.sampled_from(("empty", "drop", "append", "set")))
        if choice == "empty":
            return []
        if choice == "drop" and values:
            return values[:-1]
        if choice == "append":
            return values + [draw(ODD_INTS)]
        if not values:
            return [draw(ODD_INTS)]
        values[draw(st.integers(0, len(values) - 1))] = draw(ODD_INTS if isinstance(values[0], int) else ODD_FLOATS)
        return values
    if isinstance(current, bool):
        return not current
    if isinstance(current, float):
        return draw(ODD_FLOATS)
    return draw(ODD_INTS)


def _numeric_fields(obj) -> list[str]:
    return sorted(name for name, value in vars(obj).items()
                  if isinstance(value, (int, float, np.ndarray, list)) and not isinstance(value, (bytes, str))
                  and not (isinstance(value, list) and value and not isinstance(value[0], (int, float))))


@st.composite
def lying_models(draw) -> bytes:
    """A fixture unpacked, one numeric field of a tensor / quantization / operator / options /
    subgraph / opcode replaced by an odd value (or a builtin code swapped), packed again."""
    model = schema.ModelT.InitFromPackedBuf(FIXTURE_BYTES[draw(st.sampled_from(SEMANTIC_SEEDS))], 0)
    subgraph = model.subgraphs[0]
    for _ in range(draw(st.integers(1, 2))):
        tensor = subgraph.tensors[draw(st.integers(0, len(subgraph.tensors) - 1))]
        operator = subgraph.operators[draw(st.integers(0, len(subgraph.operators) - 1))]
        opcode = model.operatorCodes[draw(st.integers(0, len(model.operatorCodes) - 1))]
        targets = [tensor, operator, subgraph, opcode]
        if tensor.quantization is not None:
            targets.append(tensor.quantization)
        if operator.builtinOptions is not None:
            targets.append(operator.builtinOptions)
        target = draw(st.sampled_from(targets))
        if target is opcode and draw(st.booleans()):
            code = draw(st.sampled_from(sorted(BUILTIN_CODES.values())))
            opcode.builtinCode, opcode.deprecatedBuiltinCode = code, min(code, 127)
            continue
        fields = _numeric_fields(target)
        if not fields:
            continue
        name = draw(st.sampled_from(fields))
        setattr(target, name, _odd_value(draw, getattr(target, name)))
    builder = flatbuffers.Builder(1024)
    try:
        builder.Finish(model.Pack(builder), file_identifier=FILE_IDENTIFIER)
    except (struct.error, TypeError, ValueError, OverflowError):
        # The value does not fit the field's flatbuffer type (e.g. a negative count in a uint):
        # the same file cannot exist on disk, so there is nothing to read.
        return FIXTURE_BYTES["hello_world_int8"]
    return bytes(builder.Output())


random_files = st.one_of(
    st.binary(max_size=2048),
    st.binary(min_size=4, max_size=4096).map(lambda b: b[:4] + b"TFL3" + b[4:]),
)


def test_fixtures_load_under_the_alarm():
    for data in FIXTURE_BYTES.values():
        check_reader(data)


def test_alarm_interrupts_a_hang():
    with pytest.raises(ParserHung):
        with alarm(0.2):
            while True:
                pass


@settings(max_examples=EXAMPLES, derandomize=True, database=None)
@given(random_files)
def test_random_bytes_give_clean_errors(data):
    check_reader(data)


@settings(max_examples=EXAMPLES, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_models())
def test_mutated_models_give_clean_errors(data):
    check_reader(data)


@settings(max_examples=EXAMPLES, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(lying_models())
def test_lying_models_give_clean_errors(data):
    check_reader(data)


@pytest.mark.fuzz
@given(random_files)
def test_fuzz_random_bytes(data):
    check_reader(data)


@pytest.mark.fuzz
@given(mutated_models())
def test_fuzz_mutated_models(data):
    check_reader(data)


@pytest.mark.fuzz
@given(lying_models())
def test_fuzz_lying_models(data):
    check_reader(data)
