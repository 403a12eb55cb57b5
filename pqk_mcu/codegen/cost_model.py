"""Per-layer kernel choice: estimated instructions and flash bytes of every kernel that can run a layer.

A weighted layer (CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED) has candidate kernels: the portable
dense and CSR kernels everywhere, and on cores with the DSP extension (``Target.has_dsp``) the
``*_dsp`` variants of ``firmware/runtime`` when the layer meets their conditions (geometry, index
widths, and the bounds under which ``pqk_dsp.h``'s fast requantization is exact). Each candidate
gets an instruction estimate from ``KERNEL_COSTS`` (fitted to instruction counts measured under QEMU
on cortex-m4, see ``benchmarks/perf``) and its flash bytes; the lowest
``instructions + INSTRUCTIONS_PER_BYTE * bytes`` wins. ``--format dense|csr`` restricts the candidates
to that storage format. The choice is data (kernel name, scratch bytes, in-place flag) that the
lowering puts into the render context; templates never decide.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pqk_mcu.codegen.weights import WEIGHT_FORMATS, CsrMatrix, PackedCsr, WideCsr, encode_csr, encode_row_quads
from pqk_mcu.errors import PqkError

# One flash byte is worth this many instructions per inference when candidates are compared.
INSTRUCTIONS_PER_BYTE = 1.0
# pqk_dsp.h fast requantization: exact for |accumulator| < 2^30 and shift in [-23, -1].
FAST_REQUANT_ACC_LIMIT = 1 << 30
FAST_REQUANT_MIN_SHIFT, FAST_REQUANT_MAX_SHIFT = -23, -1
DEPTHWISE_MAX_TAPS = 64  # MAX_TAPS of the depthwise *_dsp kernels
WIDE_CONV_KERNEL = "pqk_conv2d_s8_csr_wide_dsp"
WIDE_CONV_BLOCK = 8  # its BLOCK: output pixels computed together (a partial block costs a whole one)
REQUANT_BYTES_PER_ROW = 9  # int32 bias, int32 multiplier, int8 shift (all but the packed format)


@dataclass(frozen=True)
class Target:
    """What the cost model needs to know about the core."""

    has_dsp: bool = False

    @classmethod
    def from_board(cls, board) -> "Target":
        """From a ``pqk_mcu.boards.Board``, a board name or YAML path; None is a core without DSP."""
        if board is None:
            return cls()
        if not hasattr(board, "has_dsp"):
            from pqk_mcu.boards import load_board

            board = load_board(board)
        return cls(has_dsp=bool(board.has_dsp))


@dataclass(frozen=True)
class KernelCost:
    """instructions = per_mac * stored_weights * positions + per_output * rows * positions
    + per_tap_output * taps * rows * positions + per_column * columns * positions
    + per_position * positions + per_call + per_tap_position * taps * positions.

    Stored weights: all for dense, the nonzeros for CSR; rows: output channels; columns: the
    matrix width (im2col row length); taps: filter_h * filter_w; positions: output pixels, rounded up
    to a multiple of ``block`` for a kernel that computes whole blocks of them."""

    per_mac: float
    per_output: float
    per_tap_output: float
    per_column: float
    per_position: float
    per_call: float
    block: int = 1
    per_tap_position: float = 0.0


# Fitted by benchmarks/perf/calibrate.py to QEMU counts (cortex-m4 for *_dsp, cortex-m3 for the
# portable kernels) of the DS-CNN at 0-95% sparsity and of a graph with other shapes.
KERNEL_COSTS: dict[str, KernelCost] = {
    # per_mac, per_output, per_tap_output, per_column, per_position, per_call; fit error, layers
    "pqk_conv2d_s8": KernelCost(5.01, 82.72, 29.78, 0.58, 0.0, 0.0),  # worst error 1%, n=34
    "pqk_conv2d_s8_csr": KernelCost(31.49, 59.47, 6.1, 7.57, 0.0, 0.0),  # worst error 12%, n=37
    "pqk_conv2d_s8_csr_dsp": KernelCost(2.33, 0.53, 0.11, 5.86, 91.99, 0.0),  # worst error 15%, n=31
    # positions in blocks of 8, taps * positions: the gather's cost per filter row and at the borders;
    # fitted on the zoo's pruned layers: worst error 21% (DS-CNN's 10x4 first layer), else 11%, n=63
    WIDE_CONV_KERNEL: KernelCost(1.75, 5.28, 0.0, 2.2, 31.25, 500.0, block=WIDE_CONV_BLOCK, per_tap_position=4.08),
    "pqk_conv2d_s8_dsp": KernelCost(1.14, 11.75, 0.3, 7.24, 0.0, 0.0),  # worst error 4%, n=34
    "pqk_depthwise_conv2d_s8": KernelCost(20.75, 120.55, 0.0, 0.0, 0.0, 0.0),  # worst error 2%, n=26
    "pqk_depthwise_conv2d_s8_csr": KernelCost(27.94, 67.74, 0.0, 0.0, 0.0, 0.0),  # worst error 6%, n=29
    "pqk_depthwise_conv2d_s8_csr_dsp": KernelCost(10.24, 0.0, 0.0, 0.0, 0.0, 3986.34),  # worst error 10%, n=23
    "pqk_depthwise_conv2d_s8_dsp": KernelCost(3.16, 25.22, 0.0, 34.67, 0.0, 0.0),  # worst error 0%, n=26
    "pqk_fully_connected_s8": KernelCost(5.0, 62.66, 0.0, 0.0, 0.0, 0.0),  # worst error 0%, n=16
    "pqk_fully_connected_s8_csr": KernelCost(5.98, 0.0, 74.64, 0.0, 0.0, 0.0),  # worst error 1%, n=16
    "pqk_fully_connected_s8_dsp": KernelCost(1.51, 38.73, 0.0, 0.0, 184.73, 0.0),  # worst error 9%, n=15 (zoo)
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
    wide: WideCsr | None = None  # pqk_conv2d_s8_csr_wide_dsp's format (csr then None)
    scratch_bytes: int = 0  # the kernel's _buffer_size(); 0 = no scratch argument
    in_place: bool = False  # output may be placed over the input
    requant_checked: bool = False  # a *_dsp kernel outside pqk_dsp.h's fast bounds (requant.checked)


def estimate_instructions(kernel: str, stored_weights: int, rows: int, positions: int, columns: int,
                          taps: int) -> int:
    cost = KERNEL_COSTS[kernel]
    positions = -(-positions // cost.block) * cost.block
    return int(round(
        cost.per_mac * stored_weights * positions + cost.per_output * rows * positions
        + cost.per_tap_output * taps * rows * positions + cost.per_column * columns * positions
        + cost.per_position * positions + cost.per_call + cost.per_tap_position * taps * positions
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


def _dsp_candidates(layout: Layout, packed: PackedCsr | None,
                    wide: WideCsr | None = None) -> list[tuple[str, str, int, bool]]:
    """(format, kernel, scratch bytes, in place) of the DSP variants that can run this layer. The dense
    ones and the wide sparse conv (``weights.encode_wide``) run any requantization (channels outside
    the fast bounds: ``KernelChoice.requant_checked``); the other sparse ones need the packed format
    (``weights.encode_packed``), which needs the fast bounds."""
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
        if wide is not None and packed is None:
            # where the packed format holds the layer its kernel keeps it: the wide kernel is often
            # faster there but needs twice the scratch (DS-CNN: 9,024 B of arena instead of 8,912)
            # mirrors the C _buffer_size(): eight int16 lanes per column; beyond 1x1 nine filter rows
            rows = 0 if im2col == 0 else (1 + WIDE_CONV_BLOCK) * layout.filter_w * layout.input_c
            out.append(("csr", WIDE_CONV_KERNEL, 2 * WIDE_CONV_BLOCK * size + rows, pointwise_same))
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


def _dense_bytes(kernel: str, matrix: np.ndarray) -> int:
    """Flash bytes of the dense weights as ``kernel`` stores them (row quads are zero-padded)."""
    if kernel == "pqk_fully_connected_s8_dsp":
        return encode_row_quads(matrix).size
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
                  target: Target, fast_requant: bool, packed: PackedCsr | None = None,
                  wide: WideCsr | None = None) -> KernelChoice:
    """The cheapest kernel for ``matrix`` [rows][cols] (rows = output channels) on ``target``;
    ``packed`` is the matrix in the *_csr_dsp kernels' format where it fits, ``wide`` in
    pqk_conv2d_s8_csr_wide_dsp's."""
    if weight_format not in WEIGHT_FORMATS:
        raise PqkError(f"unknown weight format '{weight_format}' (choose from {', '.join(WEIGHT_FORMATS)})")
    rows = matrix.shape[0]
    nonzeros = int(np.count_nonzero(matrix))
    sparsity = 1.0 - nonzeros / matrix.size if matrix.size else 0.0
    csr = encode_csr(matrix)
    candidates = [("dense", dense_kernel, 0, False), ("csr", dense_kernel + "_csr", 0, False)]
    if target.has_dsp:
        candidates += _dsp_candidates(layout, packed, wide)
    choices = []
    for storage, kernel, scratch, in_place in candidates:
        if weight_format != "auto" and storage != weight_format:
            continue
        sparse = storage == "csr"
        wide_choice = wide if kernel == WIDE_CONV_KERNEL else None
        packed_choice = packed if sparse and kernel.endswith("_dsp") and wide_choice is None else None
        stored = wide_choice or packed_choice
        choices.append(KernelChoice(
            format=storage, kernel=kernel, sparsity=sparsity,
            estimated_instructions=estimate_instructions(kernel, nonzeros if sparse else int(matrix.size), rows,
                                                         layout.positions, matrix.shape[1],
                                                         layout.filter_h * layout.filter_w),
            weight_bytes=(stored.value_bytes if stored
                          else int(csr.values.nbytes) if sparse else _dense_bytes(kernel, matrix)),
            index_bytes=stored.index_bytes if stored else (csr.index_bytes if sparse else 0),
            csr=csr if sparse and stored is None else None,
            requant_bytes=stored.requant_bytes if stored else REQUANT_BYTES_PER_ROW * rows,
            packed=packed_choice, wide=wide_choice, scratch_bytes=scratch, in_place=in_place,
            requant_checked=kernel.endswith("_dsp") and not fast_requant,
        ))

    def score(choice: KernelChoice) -> tuple[float, str]:
        flash = choice.weight_bytes + choice.index_bytes + choice.requant_bytes
        return choice.estimated_instructions + INSTRUCTIONS_PER_BYTE * flash, choice.kernel

    return min(choices, key=score)


__all__ = ["ADD_KERNEL_COSTS", "KERNEL_COSTS", "AddChoice", "KernelChoice", "KernelCost", "Layout", "Target",
           "add_requantization", "average_pool_kernel", "choose_add_kernel", "choose_kernel", "estimate_instructions",
           "fast_requant_bounds_hold", "fast_requant_exact"]
