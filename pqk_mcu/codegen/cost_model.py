"""Per-layer kernel choice: estimated instructions and flash bytes of every kernel that can run a layer.

A weighted layer (CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED) has candidate kernels: the portable
dense and CSR kernels everywhere, and on cores with the DSP extension (``Target.has_dsp``) the
``*_dsp`` variants of ``firmware/runtime`` when the layer meets their conditions (geometry, index
widths, and the bounds under which ``pqk_dsp.h``'s fast requantization is exact). Each candidate
gets an instruction estimate from ``KERNEL_COSTS`` (fitted to instruction counts measured under QEMU
on cortex-m4, see ``benchmarks/perf``; the Helium ``*_mve`` variants, candidates where ``Target.has_mve``, on
cortex-m55) and its flash bytes; the lowest
``instructions + INSTRUCTIONS_PER_BYTE * bytes`` wins. ``--format dense|csr`` restricts the candidates
to that storage format. The choice is data (kernel name, scratch bytes, in-place flag) that the
lowering puts into the render context; templates never decide.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pqk_mcu.codegen.weights import (MVE_ROWS, WEIGHT_FORMATS, CsrMatrix, PackedCsr, encode_csr,
                                     encode_row_chunks, encode_row_quads)
from pqk_mcu.errors import PqkError

# One flash byte is worth this many instructions per inference when candidates are compared.
INSTRUCTIONS_PER_BYTE = 1.0
# pqk_dsp.h fast requantization: exact for |accumulator| < 2^30 and shift in [-23, -1].
FAST_REQUANT_ACC_LIMIT = 1 << 30
FAST_REQUANT_MIN_SHIFT, FAST_REQUANT_MAX_SHIFT = -23, -1
DEPTHWISE_MAX_TAPS = 64  # MAX_TAPS of the depthwise *_dsp kernels
REQUANT_BYTES_PER_ROW = 9  # int32 bias, int32 multiplier, int8 shift (all but the packed format)


@dataclass(frozen=True)
class Target:
    """What the cost model needs to know about the core."""

    has_dsp: bool = False
    has_mve: bool = False  # Helium: the *_mve kernels

    @classmethod
    def from_board(cls, board) -> "Target":
        """From a ``pqk_mcu.boards.Board``, a board name or YAML path; None is a core without DSP."""
        if board is None:
            return cls()
        if not hasattr(board, "has_dsp"):
            from pqk_mcu.boards import load_board

            board = load_board(board)
        return cls(has_dsp=bool(board.has_dsp), has_mve=bool(board.has_mve))


@dataclass(frozen=True)
class KernelCost:
    """instructions = per_mac * stored_weights * positions + per_output * rows * positions
    + per_tap_output * taps * rows * positions + per_column * columns * positions
    + per_position * positions + per_call.

    Stored weights: all for dense, the nonzeros for CSR; rows: output channels; columns: the
    matrix width (im2col row length); taps: filter_h * filter_w; positions: output pixels."""

    per_mac: float
    per_output: float
    per_tap_output: float
    per_column: float
    per_position: float
    per_call: float


# Fitted by benchmarks/perf/calibrate.py to QEMU counts (cortex-m4 for *_dsp, cortex-m3 for the
# portable kernels) of the DS-CNN at 0-95% sparsity and of a graph with other shapes.
KERNEL_COSTS: dict[str, KernelCost] = {
    # per_mac, per_output, per_tap_output, per_column, per_position, per_call; fit error, layers
    "pqk_conv2d_s8": KernelCost(5.01, 82.72, 29.78, 0.58, 0.0, 0.0),  # worst error 1%, n=34
    "pqk_conv2d_s8_csr": KernelCost(31.49, 59.47, 6.1, 7.57, 0.0, 0.0),  # worst error 12%, n=37
    "pqk_conv2d_s8_csr_dsp": KernelCost(2.33, 0.53, 0.11, 5.86, 91.99, 0.0),  # worst error 15%, n=31
    "pqk_conv2d_s8_dsp": KernelCost(1.14, 11.75, 0.3, 7.24, 0.0, 0.0),  # worst error 4%, n=34
    "pqk_depthwise_conv2d_s8": KernelCost(20.75, 120.55, 0.0, 0.0, 0.0, 0.0),  # worst error 2%, n=26
    "pqk_depthwise_conv2d_s8_csr": KernelCost(27.94, 67.74, 0.0, 0.0, 0.0, 0.0),  # worst error 6%, n=29
    "pqk_depthwise_conv2d_s8_csr_dsp": KernelCost(10.24, 0.0, 0.0, 0.0, 0.0, 3986.34),  # worst error 10%, n=23
    "pqk_depthwise_conv2d_s8_dsp": KernelCost(3.16, 25.22, 0.0, 34.67, 0.0, 0.0),  # worst error 0%, n=26
    "pqk_fully_connected_s8": KernelCost(5.0, 62.66, 0.0, 0.0, 0.0, 0.0),  # worst error 0%, n=16
    "pqk_fully_connected_s8_csr": KernelCost(5.98, 0.0, 74.64, 0.0, 0.0, 0.0),  # worst error 1%, n=16
    "pqk_fully_connected_s8_dsp": KernelCost(1.51, 38.73, 0.0, 0.0, 184.73, 0.0),  # worst error 9%, n=15 (zoo)
    # Helium kernels: cortex-m55 counts of the dense DS-CNN, the small graphs and the zoo (the conv's
    # im2col spans and 16-column chunks are not linear in these terms: its worst layers are the 3x3 ones)
    "pqk_conv2d_s8_mve": KernelCost(0.14, 1.55, 0.27, 1.37, 234.61, 0.0),  # worst error 19%, n=36
    "pqk_depthwise_conv2d_s8_mve": KernelCost(0.0, 16.2, 0.0, 26.95, 209.58, 3257.58),  # worst error 11%, n=21
    "pqk_fully_connected_s8_mve": KernelCost(0.16, 0.0, 6.41, 1.05, 202.02, 0.0),  # worst error 8%, n=18
}


@dataclass(frozen=True)
class Layout:
    """Geometry of a weighted layer as the kernels see it."""

    kind: str  # CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED
    positions: int  # output pixels (batches x height x width) or FC batches
    filter_h: int = 1
    filter_w: int = 1
    input_c: int = 1
    input_w: int = 1
    stride_h: int = 1
    stride_w: int = 1
    dilation_h: int = 1
    dilation_w: int = 1
    pad_top: int = 0
    pad_left: int = 0
    input_h: int = 1
    batches: int = 1
    depth_multiplier: int = 1
    same_shape: bool = False  # output shape == input shape (in place possible)
    padded_h: int = 1  # depthwise padded plane (output span of the taps)
    padded_w: int = 1


@dataclass(frozen=True)
class KernelChoice:
    format: str  # dense / csr
    kernel: str
    sparsity: float
    estimated_instructions: int
    weight_bytes: int
    index_bytes: int
    csr: CsrMatrix | None
    requant_bytes: int = 0  # per-channel bias, multiplier and shift as stored
    packed: PackedCsr | None = None  # the *_csr_dsp kernels' format (csr then None)
    scratch_bytes: int = 0  # the kernel's _buffer_size(); 0 = no scratch argument
    in_place: bool = False  # output may be placed over the input
    requant_checked: bool = False  # a *_dsp kernel outside pqk_dsp.h's fast bounds (requant.checked)


def estimate_instructions(kernel: str, stored_weights: int, rows: int, positions: int, columns: int,
                          taps: int) -> int:
    cost = KERNEL_COSTS[kernel]
    return int(round(
        cost.per_mac * stored_weights * positions + cost.per_output * rows * positions
        + cost.per_tap_output * taps * rows * positions + cost.per_column * columns * positions
        + cost.per_position * positions + cost.per_call
    ))


def fast_requant_bounds_hold(acc_bound, multiplier, shift) -> bool:
    """pqk_dsp.h's conditions for accumulators of magnitude at most ``acc_bound`` (per channel): below
    2^30, shifts in [-23, -1], multipliers 0 or in [2^30, 2^31)."""
    shift = np.asarray(shift, dtype=np.int64)
    multiplier = np.asarray(multiplier, dtype=np.int64)
    if shift.size and (shift.max() > FAST_REQUANT_MAX_SHIFT or shift.min() < FAST_REQUANT_MIN_SHIFT):
        return False
    if np.any((multiplier != 0) & ((multiplier < (1 << 30)) | (multiplier >= (1 << 31)))):
        return False
    return bool(np.asarray(acc_bound, dtype=np.int64).max(initial=0) < FAST_REQUANT_ACC_LIMIT)


def fast_requant_exact(matrix: np.ndarray, folded_bias: np.ndarray, multiplier, shift) -> bool:
    """pqk_dsp.h's conditions for the accumulators of ``matrix`` times int8 inputs plus the folded bias."""
    bound = np.abs(np.asarray(folded_bias, dtype=np.int64)) + 128 * np.abs(matrix.astype(np.int64)).sum(axis=1)
    return fast_requant_bounds_hold(bound, multiplier, shift)


def _width_padded_bytes(layout: Layout) -> int:
    """pqk_conv2d_s8_csr_dsp's copy of the input with its width padding filled in and its padding
    row (mirrors the C pads_width(); padded_w is the undilated span of the windows then)."""
    if layout.filter_h == layout.filter_w == 1 or layout.dilation_w != 1:
        return 0
    if layout.pad_left == 0 and layout.padded_w - layout.pad_left <= layout.input_w:
        return 0
    return (layout.batches * layout.input_h * layout.padded_w + layout.filter_w) * layout.input_c


def _dsp_candidates(layout: Layout, packed: PackedCsr | None) -> list[tuple[str, str, int, bool]]:
    """(format, kernel, scratch bytes, in place) of the DSP variants that can run this layer. The dense
    ones run any requantization (channels outside the fast bounds: ``KernelChoice.requant_checked``);
    the sparse ones need the packed format (``weights.encode_packed``), which needs the fast bounds."""
    pointwise_same = (
        layout.same_shape and layout.filter_h == layout.filter_w == 1 and layout.stride_h == layout.stride_w == 1
    )
    out: list[tuple[str, str, int, bool]] = []
    if layout.kind == "FULLY_CONNECTED":
        out.append(("dense", "pqk_fully_connected_s8_dsp", 0, False))
    elif layout.kind == "CONV_2D":
        size = layout.filter_h * layout.filter_w * layout.input_c
        im2col = 0 if layout.filter_h == layout.filter_w == 1 else size  # mirrors the C _buffer_size()
        out.append(("dense", "pqk_conv2d_s8_dsp", 4 * ((size + 3) & ~3) * 2 + im2col, pointwise_same))
        if packed is not None:
            out.append(("csr", "pqk_conv2d_s8_csr_dsp", 8 * size + _width_padded_bytes(layout), pointwise_same))
    elif layout.kind == "DEPTHWISE_CONV_2D" and layout.depth_multiplier == 1:
        taps = layout.filter_h * layout.filter_w
        in_place = layout.same_shape and layout.stride_h == layout.stride_w == 1 and layout.dilation_h == 1
        if layout.input_c % 4 == 0 and taps <= DEPTHWISE_MAX_TAPS:
            scratch = ((layout.input_c + 3) & ~3) + (layout.pad_top + 1) * layout.input_w * layout.input_c
            out.append(("dense", "pqk_depthwise_conv2d_s8_dsp", scratch, in_place))
        if packed is not None and taps <= DEPTHWISE_MAX_TAPS:
            out.append(("csr", "pqk_depthwise_conv2d_s8_csr_dsp", layout.padded_h * layout.padded_w,
                        layout.same_shape))
    return out


def _mve_candidates(layout: Layout, matrix: np.ndarray) -> list[tuple[str, str, int, bool]]:
    """(format, kernel, scratch bytes, in place) of the Helium variants that can run this layer; they run
    any requantization exactly. Scratch mirrors the C _buffer_size()s."""
    row_bytes = (matrix.shape[1] + 15) & ~15
    # two pixels' (or batches') columns and sums (pqk_mve.h pqk_mve_sums_bytes(): rows rounded up to 3)
    block = 2 * row_bytes + 2 * -(-matrix.shape[0] // MVE_ROWS) * MVE_ROWS * 4
    if layout.kind == "FULLY_CONNECTED":
        return [("dense", "pqk_fully_connected_s8_mve", block, False)]
    if layout.kind == "CONV_2D":
        pointwise = layout.filter_h == layout.filter_w == 1
        in_place = layout.same_shape and pointwise and layout.stride_h == layout.stride_w == 1
        return [("dense", "pqk_conv2d_s8_mve", block + (0 if pointwise else row_bytes), in_place)]
    if (layout.kind == "DEPTHWISE_CONV_2D" and layout.filter_h * layout.filter_w <= DEPTHWISE_MAX_TAPS
            and matrix.min(initial=0) > -128):  # int16 sums of two products
        return [("dense", "pqk_depthwise_conv2d_s8_mve", (layout.input_c + 15) & ~15, False)]
    return []


def _dense_bytes(kernel: str, matrix: np.ndarray, depth_multiplier: int = 1) -> int:
    """Flash bytes of the dense weights as ``kernel`` stores them (row quads and chunks are zero-padded)."""
    if kernel == "pqk_fully_connected_s8_dsp":
        return encode_row_quads(matrix).size
    if kernel in ("pqk_conv2d_s8_mve", "pqk_fully_connected_s8_mve"):
        return encode_row_chunks(matrix).size
    if kernel == "pqk_depthwise_conv2d_s8_mve":
        return depth_multiplier * -(-matrix.shape[0] // depth_multiplier // 16) * 16 * matrix.shape[1]
    return int(matrix.size)


def average_pool_kernel(channels: int, filter_h: int, filter_w: int, target: Target) -> str:
    """pqk_avg_pool2d_s8_dsp where it applies (int16 sums: at most 256 taps), else the portable kernel."""
    if target.has_dsp and channels % 4 == 0 and filter_h * filter_w <= 256:
        return "pqk_avg_pool2d_s8_dsp"
    return "pqk_avg_pool2d_s8"


@dataclass(frozen=True)
class AddChoice:
    kernel: str
    estimated_instructions: int


# ADD kernels on cortex-m4 (QEMU counts; tests/test_kernel_add.py checks them within 5%): instructions per
# output element in rows where both inputs advance, per element in rows where one input repeats, per row
# and per call. pqk_add_s8_lut's cost depends on its requantization: the fast form's modes (pqk_dsp.h's
# pqk_fast_mode(): "full_range_clamped" = PQK_FAST_FULL_RANGE | PQK_FAST_NEGATIVES_CLAMPED, "full_range",
# "general" = 0, which also runs PQK_FAST_NEGATIVES_CLAMPED alone) or the exact pqk_requantize().
ADD_KERNEL_COSTS: dict[tuple[str, str], tuple[float, float, float, float]] = {
    ("pqk_add_s8", "exact"): (114.54, 109.1, 7.2, 47.0),
    ("pqk_add_s8_lut", "full_range_clamped"): (10.25, 13.0, 46.0, 176.0),
    ("pqk_add_s8_lut", "full_range"): (11.25, 14.0, 49.0, 176.0),
    ("pqk_add_s8_lut", "general"): (17.25, 22.0, 54.0, 173.0),
    ("pqk_add_s8_lut", "exact"): (43.52, 41.88, 39.7, 146.0),
}


def add_requantization(fast: bool, zero_point: int, activation_min: int, activation_max: int) -> str:
    """pqk_add_s8_lut's requantization (a key of ADD_KERNEL_COSTS), as the kernel picks it at run time."""
    if not fast:
        return "exact"
    if (activation_min, activation_max) == (-128, 127):
        return "full_range_clamped" if activation_min >= zero_point else "full_range"
    return "general"


def choose_add_kernel(elements: int, rows: int, contiguous: bool, requantization: str, table_bytes: int) -> AddChoice:
    """pqk_add_s8_lut where the instructions it saves outweigh ``table_bytes``, the flash its two tables
    add (identical tables are stored once), else the table-free pqk_add_s8. ``rows``: innermost rows of
    the collapsed shape; ``contiguous``: both inputs advance along them; ``requantization``: see
    ``add_requantization``."""

    def estimate(kernel: str, requant: str) -> int:
        per_contiguous, per_repeated, per_row, per_call = ADD_KERNEL_COSTS[(kernel, requant)]
        return int(round((per_contiguous if contiguous else per_repeated) * elements + per_row * rows + per_call))

    plain = AddChoice("pqk_add_s8", estimate("pqk_add_s8", "exact"))
    table = AddChoice("pqk_add_s8_lut", estimate("pqk_add_s8_lut", requantization))
    if table.estimated_instructions + INSTRUCTIONS_PER_BYTE * table_bytes < plain.estimated_instructions:
        return table
    return plain


def choose_kernel(matrix: np.ndarray, dense_kernel: str, layout: Layout, weight_format: str,
                  target: Target, fast_requant: bool, packed: PackedCsr | None = None) -> KernelChoice:
    """The cheapest kernel for ``matrix`` [rows][cols] (rows = output channels) on ``target``;
    ``packed`` is the matrix in the *_csr_dsp kernels' format where it fits."""
    if weight_format not in WEIGHT_FORMATS:
        raise PqkError(f"unknown weight format '{weight_format}' (choose from {', '.join(WEIGHT_FORMATS)})")
    rows = matrix.shape[0]
    nonzeros = int(np.count_nonzero(matrix))
    sparsity = 1.0 - nonzeros / matrix.size if matrix.size else 0.0
    csr = encode_csr(matrix)
    candidates = [("dense", dense_kernel, 0, False), ("csr", dense_kernel + "_csr", 0, False)]
    mve = _mve_candidates(layout, matrix) if target.has_mve else []
    if target.has_dsp:
        # A dense Helium kernel makes the dense DSP one moot (16 MACs per instruction against 2; their
        # fits come from different cores and disagree most on small layers, e.g. a 3x3 over one channel)
        candidates += [c for c in _dsp_candidates(layout, packed) if not (mve and c[0] == "dense")]
    candidates += mve
    choices = []
    for storage, kernel, scratch, in_place in candidates:
        if weight_format != "auto" and storage != weight_format:
            continue
        sparse = storage == "csr"
        packed_choice = packed if sparse and kernel.endswith("_dsp") else None
        choices.append(KernelChoice(
            format=storage, kernel=kernel, sparsity=sparsity,
            estimated_instructions=estimate_instructions(kernel, nonzeros if sparse else int(matrix.size), rows,
                                                         layout.positions, matrix.shape[1],
                                                         layout.filter_h * layout.filter_w),
            weight_bytes=(packed_choice.value_bytes if packed_choice
                          else int(csr.values.nbytes) if sparse else _dense_bytes(kernel, matrix, layout.depth_multiplier)),
            index_bytes=packed_choice.index_bytes if packed_choice else (csr.index_bytes if sparse else 0),
            csr=csr if sparse and packed_choice is None else None,
            requant_bytes=packed_choice.requant_bytes if packed_choice else REQUANT_BYTES_PER_ROW * rows,
            packed=packed_choice, scratch_bytes=scratch, in_place=in_place,
            requant_checked=kernel.endswith(("_dsp", "_mve")) and not fast_requant,
        ))

    def score(choice: KernelChoice) -> tuple[float, str]:
        flash = choice.weight_bytes + choice.index_bytes + choice.requant_bytes
        return choice.estimated_instructions + INSTRUCTIONS_PER_BYTE * flash, choice.kernel

    return min(choices, key=score)


__all__ = ["ADD_KERNEL_COSTS", "KERNEL_COSTS", "AddChoice", "KernelChoice", "KernelCost", "Layout", "Target",
           "add_requantization", "average_pool_kernel", "choose_add_kernel", "choose_kernel", "estimate_instructions",
           "fast_requant_bounds_hold", "fast_requant_exact"]
