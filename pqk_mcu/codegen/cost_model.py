"""Per-layer kernel choice: estimated instructions and flash bytes of every kernel that can run a layer.

A weighted layer (CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED) has candidate kernels: the portable
dense and CSR kernels everywhere, and on cores with the DSP extension (``Target.has_dsp``) the
``*_dsp`` variants of ``firmware/runtime`` when the layer meets their conditions (geometry, index
widths, and the bounds under which ``pqk_dsp.h``'s fast requantization is exact); on Thumb-2 cores
without it (cortex-m3) the ``*_smlal`` / ``*_mla`` variants under their conditions. Each candidate
gets an instruction estimate from ``KERNEL_COSTS`` (fitted to instruction counts measured under QEMU
on cortex-m4, cortex-m3 for the portable and non-DSP kernels, cortex-m55 for the Helium ``*_mve``
variants, candidates where ``Target.has_mve``; see ``benchmarks/perf``) and its flash bytes; the lowest
``instructions + INSTRUCTIONS_PER_BYTE * bytes`` wins. ``--format dense|csr`` restricts the candidates
to that storage format. The choice is data (kernel name, scratch bytes, in-place flag) that the
lowering puts into the render context; templates never decide.
A kernel's own code is linked once per model: after the per-layer choice, ``choose_model_kernels`` moves the
layers of a kernel onto kernels the model links anyway where its code bytes (measured per core,
``kernel_code_bytes.KERNEL_CODE_BYTES``, at the same ``INSTRUCTIONS_PER_BYTE``) outweigh what they cost, as
long as the layers slow down by at most ``MODEL_CHOICE_MAX_SLOWDOWN`` (1%) in all.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pqk_mcu.codegen.kernel_code_bytes import KERNEL_CODE_BYTES
from pqk_mcu.codegen.weights import (
    GATHER_LANES,
    MVE_ROWS,
    NARROW_FEATURES,
    PAIRS_MAX_FEATURES,
    PAIRS_NARROW_FEATURES,
    ROWS_GROUP,
    ROWS_LANES,
    ROWS_PANEL,
    WEIGHT_FORMATS,
    ColumnPairs,
    CsrMatrix,
    GatherCsr,
    GatherRows,
    GatherTaps,
    PackedCsr,
    WideCsr,
    channel_pair_lanes_fit,
    column_pair_slots,
    conv_column_offsets,
    encode_channel_pairs,
    encode_channel_quads,
    encode_column_pairs,
    encode_csr,
    encode_gather_taps,
    encode_row_chunks,
    encode_row_quads,
    narrow_fits,
    narrow_record_pairs,
    pixel_pair_lanes_fit,
)
from pqk_mcu.errors import PqkError

# One flash byte is worth this many instructions per inference when candidates are compared.
INSTRUCTIONS_PER_BYTE = 1.0
# The most that choose_model_kernels may slow the layers down (a fraction of their estimated instructions) to
# drop kernel code from the image.
MODEL_CHOICE_MAX_SLOWDOWN = 0.01
# pqk_dsp.h fast requantization: exact for |accumulator| < 2^30 and shift in [-23, -1].
FAST_REQUANT_ACC_LIMIT = 1 << 30
FAST_REQUANT_MIN_SHIFT, FAST_REQUANT_MAX_SHIFT = -23, -1
DEPTHWISE_MAX_TAPS = 64  # MAX_TAPS of the depthwise *_dsp and *_mla kernels
DIRECT_OUTPUTS = 8  # pqk_fully_connected_s8_dsp's DIRECT_OUTPUTS: up to this many rows it reads its input directly
DIRECT_WHOLE_OUTPUTS = 16  # its DIRECT_WHOLE_OUTPUTS: so does a layer of up to this many over whole column groups
WIDE_CONV_KERNEL = "pqk_conv2d_s8_csr_wide_dsp"
WIDE_CONV_BLOCK = 8  # its BLOCK: output pixels computed together (a partial block costs a whole one)
# Few input channels, filters beyond 1x1: the wide stream's nonzeros applied as taps to eight pixels of a row
DSP_TAPS_CONV_KERNEL = "pqk_conv2d_s8_csr_taps_dsp"
TAPS_CONV_BLOCK = 8  # its BLOCK: output pixels of one output row computed together
TAPS_CONV_STEPS = (1, 2, 3, 4, 6, 8)  # the pixel steps (stride_w x input_c) it has an instance for
# Cores without the DSP extension: the wide stream over pixel pairs' lanes (one SMLAL, two pixels)
WIDE_SMLAL_CONV_KERNEL = "pqk_conv2d_s8_csr_wide_smlal"
WIDE_STREAM_KERNELS = frozenset({WIDE_CONV_KERNEL, DSP_TAPS_CONV_KERNEL,
                                 WIDE_SMLAL_CONV_KERNEL})  # weights as weights.WideCsr
GATHER_CONV_BLOCK = 4  # PQK_MVE_GATHER_PIXELS: output pixels the *_csr_mve convolutions compute together
REQUANT_BYTES_PER_ROW = 9  # int32 bias, int32 multiplier, int8 shift (all but the packed format)
FULLY_CONNECTED_CSR_DSP = "pqk_fully_connected_s8_csr_dsp"  # the one *_csr_dsp kernel on plain CSR (not packed)
FULLY_CONNECTED_PAIRS_DSP = "pqk_fully_connected_s8_csr_pairs_dsp"  # on column pairs (weights.ColumnPairs)
FULLY_CONNECTED_NARROW_DSP = "pqk_fully_connected_s8_narrow_dsp"  # few inputs or outputs (weights.encode_narrow)
NARROW_HEADER_BYTES = 16  # its header: four words

BASELINE_CORES = ("cortex-m0", "cortex-m0plus", "cortex-m1", "cortex-m23")  # Thumb without Thumb-2


@dataclass(frozen=True)
class Target:
    """What the cost model needs to know about the core."""

    has_dsp: bool = False
    # Thumb-2 (ARMv7-M, ARMv8-M mainline): SMLAL, LDM, SXTB with rotation; without the DSP extension the
    # *_smlal / *_mla variants are candidates. False: portable C for any compiler (no board).
    thumb2: bool = False
    has_mve: bool = False  # Helium: the *_mve kernels
    # the core (-mcpu): its own costs (``KernelCost.core_costs``) and its kernels' code bytes
    # (kernel_code_bytes.KERNEL_CODE_BYTES); "": no board: the fit board's costs, kernel code not counted
    cpu: str = ""

    @classmethod
    def from_board(cls, board) -> "Target":
        """From a ``pqk_mcu.boards.Board``, a board name or YAML path; None is a core without DSP."""
        if board is None:
            return cls()
        if not hasattr(board, "has_dsp"):
            from pqk_mcu.boards import load_board

            board = load_board(board)
        return cls(has_dsp=bool(board.has_dsp), thumb2=board.cpu not in BASELINE_CORES, has_mve=bool(board.has_mve),
                   cpu=board.cpu)


@dataclass(frozen=True)
class KernelCost:
    """instructions = the sum over ``COUNTS`` of ``per_<count>`` times that count of the layer
    (``layer_counts``): each term is a loop of the kernel that runs that many times.

    mac: stored weights (all for dense, the nonzeros for CSR) x positions; output: rows (output
    channels) x positions; tap_output: filter taps x rows x positions; column: matrix width (im2col
    row length) x positions; position: output pixels (FC: batches); call: 1; group_output: column
    groups of four x rows x positions; im2col_row / im2col_byte: filter rows / matrix width per
    position of filters larger than one tap (the gathered rows); tapped_output / empty_output /
    single_output / multi_output: outputs of rows with some / no / one / several nonzeros; row: rows;
    tail_output: outputs of rows whose width is not a multiple of four; multi_padded: padded plane
    bytes x rows with several nonzeros; tapped_row / single_row: rows with some / one nonzero;
    tapped_line: output lines (batches x output rows) x rows with a nonzero; padded_call: padded
    plane bytes; tap_position: filter taps x positions (a gather's cost per tap and at the borders);
    border_tap: filter taps x positions whose window reaches into the padding; general_mac: mac where
    the requantization takes a kernel's general path (``Layout.general_requant``); chunk: the rows'
    chunks of ``lanes`` nonzeros (each row's nonzeros / lanes rounded up) x positions;
    group_chunk: chunks of pqk_fully_connected_s8_csr_mve's format (``weights.GatherRows``) x positions;
    unclamped_output: outputs (rows x positions) of a layer whose clamp does not start at or above the
    output zero point (the general vector requantization); pair_slot / single_slot / narrow_single_slot: the
    pairs and singles (halfword singles of narrow layers) of pqk_fully_connected_s8_csr_pairs_dsp's format
    (``weights.ColumnPairs``, padding included) x positions; row_block_mac / row_block_output: stored
    weights (at least one per row when sparse) / rows x the blocks of ``TAPS_CONV_BLOCK`` pixels of one
    output row (x its pixels for the macs); patch_row / patch_byte: the rows and bytes
    pqk_conv2d_s8_csr_taps_dsp copies into its patches; band_row / band_byte: filter rows and their
    bytes that the *_csr_mve convolutions copy into bands (``gather_row_width``) where windows pad.
    pqk_fully_connected_s8_dsp's row quads (``_row_quad_counts``): quad_group: row quads x column groups
    of four x positions; direct_group: those of a layer that reads its input directly
    (``fully_connected_direct``); widened_group: column groups x positions of the others (the widened input
    row); direct_tail: row quads x positions of a direct layer whose width is not a multiple of four;
    partial_quad: positions of a layer whose rows are not a multiple of four; channel_output /
    general_output / checked_output: outputs (rows x positions) of a layer with a multiplier per row /
    whose requantization takes the general path / with channels outside the fast bounds.
    pqk_depthwise_conv2d_s8_csr_dsp's channels (``_packed_depthwise_counts``, x batches): tapped_channel /
    single_channel: rows with some / one nonzero; constant_group: the passes over rows without nonzeros
    (up to four adjacent ones each); fill_eight / fill_rest: the outputs that its constant runs store
    (those passes' and the single-nonzero rows' outputs whose tap is in the padding), eights of a run /
    the rest; tap_run / unit_tap_output / strided_tap_output: the runs of a single-nonzero row's outputs
    whose tap is inside the input and those outputs, stride 1 / larger; copy_row / copy_byte: input rows
    and bytes copied into the padded plane for the rows with several nonzeros; looped_output: outputs of
    rows with more than four nonzeros; multi_mac: nonzeros of rows with several x positions.
    copied_column: column x positions of a FULLY_CONNECTED layer whose input rows pqk_fully_connected_s8_mve
    copies (all but a single batch's row of whole vectors, which it reads in place). row_block: the blocks
    of ``TAPS_CONV_BLOCK`` pixels of one output row (pqk_conv2d_s8_csr_taps_dsp's offsets and patch per block,
    whatever its rows). pass_chunk: pqk_fully_connected_s8_mve's passes (``MVE_ROWS`` rows each) x the
    row's 16-byte chunks x positions. pqk_fully_connected_s8_narrow_dsp (``weights.encode_narrow``): narrow_pair:
    the int16 pairs of its row records x outputs (rows x positions); narrow_eight_output: those outputs with
    eight pairs (reloaded from the stack); narrow_quad / narrow_quad_group: row quads / row quads x column groups
    x positions of a layer that it takes in quads.
    partial_channel_group: positions (rounded up to ``block``) of a windowed layer whose rows are not a
    multiple of four (pqk_mve.h's gather convolutions requantize the last, partial group of four channels
    apart, per block). order_tap: filter taps of a depthwise layer whose output has another shape than its
    input (pqk_depthwise_conv2d_s8_csr_dsp checks each tap's order, single_taps_in_order(), when it runs
    over its own input: the cost model assumes it does).
    border_byte: border_tap x input channels (the bytes of the windows that reach into the padding, which
    the wide kernels' gather copies filter row by filter row).
    ``block``: the kernel computes this many positions together, so the per-output terms count positions
    rounded up to it. ``core_costs``: (cpu, count, instructions) added per that count on a core other than
    the fit board's, whose compiler builds the kernel otherwise: per call (its prologue and epilogue), per
    mac (its inner loop; Armv8.1-M's low-overhead loops close it in one instruction)."""

    per_mac: float
    per_output: float
    per_tap_output: float
    per_column: float
    per_position: float
    per_call: float
    per_group_output: float = 0.0
    per_im2col_row: float = 0.0
    per_im2col_byte: float = 0.0
    per_tapped_output: float = 0.0
    per_row: float = 0.0
    per_tail_output: float = 0.0
    per_empty_output: float = 0.0
    per_single_output: float = 0.0
    per_multi_output: float = 0.0
    per_multi_padded: float = 0.0
    per_tapped_row: float = 0.0
    per_single_row: float = 0.0
    per_tapped_line: float = 0.0
    per_padded_call: float = 0.0
    per_tap_position: float = 0.0
    per_border_tap: float = 0.0
    per_general_mac: float = 0.0
    per_chunk: float = 0.0
    per_group_chunk: float = 0.0
    per_unclamped_output: float = 0.0
    per_pair_slot: float = 0.0
    per_single_slot: float = 0.0
    per_narrow_single_slot: float = 0.0
    per_row_block_mac: float = 0.0
    per_row_block_output: float = 0.0
    per_patch_row: float = 0.0
    per_patch_byte: float = 0.0
    per_band_row: float = 0.0
    per_band_byte: float = 0.0
    per_quad_group: float = 0.0
    per_direct_group: float = 0.0
    per_widened_group: float = 0.0
    per_direct_tail: float = 0.0
    per_partial_quad: float = 0.0
    per_channel_output: float = 0.0
    per_general_output: float = 0.0
    per_checked_output: float = 0.0
    per_tapped_channel: float = 0.0
    per_single_channel: float = 0.0
    per_constant_group: float = 0.0
    per_fill_eight: float = 0.0
    per_fill_rest: float = 0.0
    per_tap_run: float = 0.0
    per_unit_tap_output: float = 0.0
    per_strided_tap_output: float = 0.0
    per_copy_row: float = 0.0
    per_copy_byte: float = 0.0
    per_looped_output: float = 0.0
    per_multi_mac: float = 0.0
    per_copied_column: float = 0.0
    per_row_block: float = 0.0
    per_pass_chunk: float = 0.0
    per_narrow_pair: float = 0.0
    per_narrow_eight_output: float = 0.0
    per_narrow_quad: float = 0.0
    per_narrow_quad_group: float = 0.0
    per_partial_channel_group: float = 0.0
    per_order_tap: float = 0.0
    per_border_byte: float = 0.0
    block: int = 1
    lanes: int = 1  # nonzeros per chunk (the chunk count)
    core_costs: tuple[tuple[str, str, float], ...] = ()

    def instructions(self, counts: dict[str, int], cpu: str = "") -> float:
        """The estimate for a layer's ``layer_counts`` on core ``cpu`` ("": the fit board's)."""
        return (sum(getattr(self, "per_" + name) * counts[name] for name in COUNTS)
                + sum(value * counts[name] for core, name, value in self.core_costs if core == cpu))


COUNTS = ("mac", "output", "tap_output", "column", "position", "call", "group_output", "im2col_row", "im2col_byte",
          "tapped_output", "row", "tail_output", "empty_output", "single_output", "multi_output", "multi_padded",
          "tapped_row", "single_row", "tapped_line", "padded_call", "tap_position", "border_tap", "general_mac",
          "chunk", "group_chunk", "unclamped_output", "pair_slot", "single_slot",
          "narrow_single_slot", "row_block_mac", "row_block_output", "patch_row", "patch_byte", "band_row",
          "band_byte", "quad_group", "direct_group", "widened_group", "direct_tail", "partial_quad",
          "channel_output", "general_output", "checked_output", "tapped_channel", "single_channel",
          "constant_group", "fill_eight", "fill_rest", "tap_run", "unit_tap_output", "strided_tap_output",
          "copy_row", "copy_byte", "looped_output", "multi_mac", "copied_column", "row_block", "pass_chunk",
          "narrow_pair", "narrow_eight_output", "narrow_quad", "narrow_quad_group",
          "partial_channel_group", "order_tap", "border_byte")


# Fitted by benchmarks/perf/calibrate.py to the per-layer QEMU counts of `make bench` (the model zoo and
# the DS-CNN at 0-95% sparsity; cortex-m4 for *_dsp, cortex-m3 for the portable, *_smlal and *_mla kernels),
# core_costs on the zoo's other cores.
KERNEL_COSTS: dict[str, KernelCost] = {
    # fitted terms (the rest 0); worst relative error and layers fitted
    "pqk_conv2d_s8": KernelCost(  # worst error 3%, n=27
        per_mac=2.82, per_output=0.0, per_tap_output=28.84, per_column=0.0, per_position=0.0, per_call=77.03,
        per_group_output=8.61, per_im2col_byte=0.87, per_tail_output=15.92, per_single_output=125.44,
        per_multi_output=84.66, per_multi_padded=0.36, per_tapped_line=6.44),
    "pqk_conv2d_s8_csr": KernelCost(  # worst error 15%, n=28
        per_mac=32.43, per_output=24.31, per_tap_output=5.94, per_column=0.0, per_position=16.04, per_call=0.0,
        per_tapped_output=3.03, per_row=10.36, per_tail_output=26.23, per_multi_output=27.87),
    "pqk_conv2d_s8_csr_dsp": KernelCost(  # worst error 6%, n=86
        per_mac=0.0, per_output=0.66, per_tap_output=0.0, per_column=1.59, per_position=15.19, per_call=0.0,
        per_im2col_byte=2.29, per_tapped_output=5.02, per_tail_output=0.24, per_empty_output=7.14,
        per_single_output=0.36, per_multi_padded=0.07, per_tapped_row=13.24, per_padded_call=12.77,
        per_chunk=2.25, per_unclamped_output=2.9, per_row_block_output=0.21, per_patch_byte=0.02,
        per_band_byte=0.26, block=8),
    "pqk_conv2d_s8_csr_mve": KernelCost(  # worst error 5%, n=74
        per_mac=0.01, per_output=2.97, per_tap_output=0.0, per_column=0.0, per_position=25.71, per_call=213.46,
        per_tapped_output=0.93, per_tail_output=0.02, per_empty_output=10.59, per_single_output=0.3,
        per_tapped_line=1.43, per_chunk=2.55, per_unclamped_output=4.78, per_row_block_mac=0.01,
        per_patch_byte=0.05, per_band_row=35.76, per_band_byte=0.36, per_partial_channel_group=16.87, block=4,
        lanes=8),
    "pqk_conv2d_s8_csr_taps_mve": KernelCost(  # worst error 4%, n=16
        per_mac=0.0, per_output=3.71, per_tap_output=0.0, per_column=0.0, per_position=21.76, per_call=340.08,
        per_empty_output=0.49, per_tapped_line=1.76, per_chunk=1.35, per_unclamped_output=4.7,
        per_band_row=30.76, per_band_byte=0.65, per_partial_channel_group=18.58, block=4),
    "pqk_conv2d_s8_csr_wide_dsp": KernelCost(  # worst error 2%, n=44
        per_mac=0.02, per_output=0.0, per_tap_output=0.01, per_column=1.03, per_position=67.76, per_call=0.0,
        per_group_output=0.06, per_im2col_byte=0.63, per_tapped_output=1.43, per_tail_output=0.84,
        per_multi_output=1.07, per_single_row=3.12, per_border_tap=0.15, per_chunk=1.69,
        per_unclamped_output=1.53, per_row_block_mac=0.05, per_patch_row=258.01, block=8),
    "pqk_conv2d_s8_csr_wide_smlal": KernelCost(  # worst error 4%, n=41 (its cortex-m3 zoo layers; the
        # calibration's small graphs and the forced test layers up to 22% off); general_mac kept from the fit on
        # those (the zoo has no general requantization)
        per_mac=0.42, per_output=11.44, per_tap_output=0.16, per_column=2.42, per_position=46.37, per_call=198.39,
        per_im2col_byte=0.01, per_border_tap=5.38, per_general_mac=0.5, per_chunk=0.96, per_border_byte=0.99,
        block=8),
    "pqk_conv2d_s8_csr_taps_dsp": KernelCost(  # worst error 0%, n=9
        per_mac=0.0, per_output=8.0, per_tap_output=0.0, per_column=0.0, per_position=0.0, per_call=0.0,
        per_row_block_mac=2.75, per_patch_row=56.94, per_patch_byte=2.1, per_row_block=87.9),
    "pqk_conv2d_s8_dsp": KernelCost(  # worst error 0%, n=54
        per_mac=0.24, per_output=10.5, per_tap_output=0.0, per_column=2.18, per_position=95.87, per_call=0.0,
        per_group_output=3.52, per_im2col_row=45.8, per_im2col_byte=3.92, per_tapped_output=4.0, per_row=2.92,
        per_empty_output=4.02, per_multi_output=0.02, per_padded_call=1.22, per_unclamped_output=1.19, block=4),
    "pqk_conv2d_s8_mve": KernelCost(  # worst error 5%, n=67
        per_mac=0.0, per_output=3.84, per_tap_output=0.02, per_column=0.0, per_position=182.82, per_call=0.0,
        per_group_output=0.51, per_im2col_row=29.48, per_im2col_byte=0.97, per_tail_output=1.35,
        per_empty_output=1.01, per_single_output=2.23, per_tapped_line=3.36, per_unclamped_output=1.19,
        per_band_row=9.22),
    "pqk_conv2d_s8_smlal": KernelCost(  # worst error 1%, n=81
        per_mac=0.0, per_output=15.5, per_tap_output=0.01, per_column=5.0, per_position=124.52, per_call=0.0,
        per_group_output=3.51, per_im2col_row=42.12, per_im2col_byte=3.85, per_tapped_output=13.9,
        per_tail_output=1.06, per_empty_output=13.99, per_multi_output=0.28, per_padded_call=2.88,
        per_unclamped_output=0.81, block=2),
    "pqk_depthwise_conv2d_s8": KernelCost(  # worst error 6%, n=17
        per_mac=20.97, per_output=66.9, per_tap_output=0.0, per_column=0.0, per_position=0.0, per_call=0.0,
        per_empty_output=70.94, per_multi_output=46.81, per_multi_padded=0.37, per_padded_call=7.36),
    "pqk_depthwise_conv2d_s8_csr": KernelCost(  # worst error 3%, n=13
        per_mac=26.67, per_output=58.06, per_tap_output=0.0, per_column=0.0, per_position=25.16, per_call=0.0,
        per_tapped_output=7.96, per_single_output=4.81),
    "pqk_depthwise_conv2d_s8_csr_dsp": KernelCost(  # worst error 5%, n=82
        per_mac=0.0, per_output=0.0, per_tap_output=0.0, per_column=0.0, per_position=0.0, per_call=125.2,
        per_multi_output=0.83, per_padded_call=0.39, per_tapped_channel=197.85, per_single_channel=84.97,
        per_constant_group=151.38, per_fill_eight=14.21, per_fill_rest=5.25, per_tap_run=25.43,
        per_unit_tap_output=7.07, per_strided_tap_output=8.37, per_copy_row=21.43, per_copy_byte=4.71,
        per_looped_output=23.17, per_multi_mac=6.7, per_order_tap=67.08),
    "pqk_depthwise_conv2d_s8_csr_mve": KernelCost(  # worst error 2%, n=53
        per_mac=0.0, per_output=0.0, per_tap_output=0.0, per_column=0.0, per_position=24.44, per_call=0.0,
        per_tail_output=3.92, per_empty_output=0.25, per_multi_output=0.43, per_single_row=2.54, per_chunk=0.99,
        per_row_block_mac=0.01, per_band_row=72.36, per_fill_eight=6.04, per_fill_rest=0.43, per_tap_run=0.15,
        per_unit_tap_output=0.73, per_strided_tap_output=1.28, per_copy_byte=0.13, per_looped_output=0.02,
        per_multi_mac=0.24, per_partial_channel_group=21.86, block=4),
    "pqk_depthwise_conv2d_s8_dsp": KernelCost(  # worst error 1%, n=31
        per_mac=0.0, per_output=0.0, per_tap_output=4.31, per_column=7.64, per_position=0.0, per_call=1131.87,
        per_empty_output=0.63, per_single_output=1.4, per_padded_call=5.15, per_border_tap=30.9, per_chunk=0.02,
        per_patch_row=42.59, per_band_byte=0.05),
    "pqk_depthwise_conv2d_s8_mla": KernelCost(  # worst error 5%, n=37
        per_mac=0.0, per_output=35.64, per_tap_output=2.6, per_column=39.2, per_position=0.0, per_call=0.0,
        per_single_output=2.84, per_multi_output=1.01, per_single_row=0.06, per_tapped_line=1.46,
        per_border_tap=4.41),
    "pqk_depthwise_conv2d_s8_mve": KernelCost(  # worst error 16%, n=14
        per_mac=0.03, per_output=17.88, per_tap_output=0.0, per_column=39.96, per_position=0.0, per_call=0.0,
        per_empty_output=3.08, per_single_output=11.33, per_chunk=0.1),
    "pqk_fully_connected_s8": KernelCost(  # worst error 4%, n=67
        per_mac=4.98, per_output=56.73, per_tap_output=0.0, per_column=0.0, per_position=15.07, per_call=10.1,
        per_tail_output=0.44, per_empty_output=6.18, per_multi_output=1.96, per_chunk=0.03,
        per_widened_group=0.81, per_partial_quad=10.46, per_channel_output=0.28, core_costs=(('cortex-m4',
        'call', -2.63), ('cortex-m55', 'call', 3.55), ('cortex-m55', 'mac', -1.19), ('cortex-m7', 'call',
        7.47))),
    "pqk_fully_connected_s8_csr": KernelCost(  # worst error 2%, n=65
        per_mac=5.94, per_output=58.89, per_tap_output=0.0, per_column=0.0, per_position=0.0, per_call=0.0,
        per_tapped_output=9.77, per_multi_output=1.94, per_padded_call=13.24, per_pair_slot=0.12,
        per_single_slot=0.06, per_narrow_single_slot=0.17, per_widened_group=0.61, per_direct_tail=2.34,
        per_partial_quad=27.08, per_channel_output=0.27, core_costs=(('cortex-m55', 'call', 4.44), ('cortex-m7',
        'call', 12.44))),
    "pqk_fully_connected_s8_csr_dsp": KernelCost(  # worst error 2%, n=52
        per_mac=4.45, per_output=0.0, per_tap_output=25.74, per_column=0.01, per_position=0.0, per_call=88.43,
        per_tapped_output=0.2, per_multi_output=2.84, per_group_chunk=3.09, per_unclamped_output=1.95),
    # its FC layers of the zoo at 50-95% forced onto it; the per-channel and narrow-clamp layers of
    # tests/test_perf_kernels_fully_connected.py cost more per output (up to 39% under, the tiny ones)
    "pqk_fully_connected_s8_csr_pairs_dsp": KernelCost(  # worst error 4%, n=50 (zoo); since refitted by
        # hand on AD toycar 80/90%: the per-layer requantization in the assembly (requant_rows) 3.1 and the
        # TBB dispatch 4.9 fewer per output; per-channel or general requantization (sums on the stack) +3.1
        per_mac=0.0, per_output=12.31, per_tap_output=0.0, per_column=2.29, per_position=118.12, per_call=0.0,
        per_tapped_output=3.91, per_unclamped_output=1.61, per_pair_slot=2.99, per_single_slot=3.53,
        per_narrow_single_slot=3.93, per_channel_output=3.1, per_general_output=3.1),
    "pqk_fully_connected_s8_csr_mve": KernelCost(  # worst error 7%, n=53
        per_mac=0.0, per_output=0.0, per_tap_output=0.0, per_column=0.0, per_position=0.0, per_call=0.0,
        per_multi_output=3.69, per_tapped_row=0.23, per_single_row=6.11, per_padded_call=58.86,
        per_tap_position=55.09, per_general_mac=0.01, per_group_chunk=16.99, per_unclamped_output=3.33,
        per_pair_slot=0.05, per_single_slot=0.02, per_quad_group=0.03, per_direct_group=0.04,
        per_widened_group=0.84, per_direct_tail=1.0, per_partial_quad=23.88, per_channel_output=0.53,
        per_checked_output=1.06),
    "pqk_fully_connected_s8_dsp": KernelCost(  # worst error 4%, n=78
        per_mac=0.0, per_output=16.24, per_tap_output=0.0, per_column=0.0, per_position=51.68, per_call=82.69,
        per_quad_group=18.91, per_direct_group=2.05, per_widened_group=9.23, per_direct_tail=24.73,
        per_partial_quad=74.06, per_channel_output=4.15, per_general_output=16.65, per_checked_output=10.4),
    # fitted on per-tensor ReLU layers of 1-16 inputs (records) and 4-16 outputs (quads) forced onto it; the
    # layers of 100-150 instructions are up to 12% off (odd row counts, the entry)
    "pqk_fully_connected_s8_narrow_dsp": KernelCost(  # worst error 12%, n=32
        per_mac=0.0, per_output=5.65, per_tap_output=0.0, per_column=0.17, per_position=45.98, per_call=40.25,
        per_narrow_pair=1.06, per_narrow_eight_output=4.18, per_narrow_quad_group=20.45),
    "pqk_fully_connected_s8_mve": KernelCost(  # worst error 4%, n=18
        per_mac=0.0, per_output=5.6, per_tap_output=0.0, per_column=0.0, per_position=0.0, per_call=165.14,
        per_tail_output=1.26, per_empty_output=5.47, per_unclamped_output=1.96, per_channel_output=3.62,
        per_copied_column=1.36, per_pass_chunk=7.95),
}


# Kernels that compute output pixels this many at a time, write a block only after reading its inputs
# and run backward when their output starts after their input: they can run over their own input
# with the output a little ahead of it or behind it (memory.write_lead).
ORDERED_WRITE_BLOCKS: dict[str, int] = {"pqk_conv2d_s8_dsp": 4, "pqk_conv2d_s8_csr_dsp": 8, WIDE_CONV_KERNEL: 8,
                                        DSP_TAPS_CONV_KERNEL: 1,  # its blocks start at each output row: any pixel
                                        WIDE_SMLAL_CONV_KERNEL: 8}

# Kernels that compute output pixels this many at a time and write a block only after reading its inputs,
# always forward: they can run over their own input with the output ahead of it (memory.write_lead).
FORWARD_WRITE_BLOCKS: dict[str, int] = {"pqk_conv2d_s8_mve": 2, "pqk_conv2d_s8_csr_mve": 4,
                                        "pqk_conv2d_s8_csr_taps_mve": 4, "pqk_depthwise_conv2d_s8_csr_mve": 4,
                                        "pqk_conv2d_s8_smlal": 2}


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
    general_requant: bool = False  # a clamp inside int8 or channels outside pqk_dsp.h's fast bounds
    padded_h: int = 1  # depthwise padded plane (output span of the taps)
    padded_w: int = 1
    output_c: int = 1  # output channels (FULLY_CONNECTED: output features)
    negatives_clamped: bool = True  # activation_min >= output zero point (the requantization's usual mode)
    per_channel: bool = True  # a multiplier per row (FULLY_CONNECTED may have one for the layer)
    outside_fast_bounds: bool = False  # channels outside pqk_dsp.h's fast bounds (*_dsp: requant.checked)


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
    gather: GatherCsr | GatherTaps | GatherRows | None = None  # the *_csr_mve kernels' format (csr then None)
    pairs: ColumnPairs | None = None  # pqk_fully_connected_s8_csr_pairs_dsp's format (csr then None)
    scratch_bytes: int = 0  # the kernel's _buffer_size() (``scratch_bytes()``); 0 = no scratch argument
    in_place: bool = False  # output may be placed over the input
    requant_checked: bool = False  # a *_dsp / *_smlal kernel outside pqk_dsp.h's fast bounds (requant.checked)


def layer_counts(matrix: np.ndarray, layout: "Layout", sparse: bool, block: int = 1, lanes: int = 1) -> dict[str, int]:
    """The counts of ``KernelCost`` for ``matrix`` [rows][cols] run as ``layout`` by a kernel that stores
    the nonzeros only (``sparse``), computes ``block`` positions together and takes them ``lanes`` at a time."""
    rows, columns = matrix.shape
    per_row = np.count_nonzero(matrix, axis=1)
    stored = int(per_row.sum()) if sparse else int(matrix.size)
    taps = layout.filter_h * layout.filter_w
    positions = layout.positions
    blocked = -(-positions // block) * block
    gathered = taps > 1
    output_h, _ = _output_size(layout)
    padded = layout.batches * layout.padded_h * layout.padded_w
    tapped, single = int(np.count_nonzero(per_row)), int(np.count_nonzero(per_row == 1))
    pair_slots, single_slots = (column_pair_slots(matrix) if sparse and layout.kind == "FULLY_CONNECTED"
                                else (0, 0))
    return {
        "mac": stored * positions, "output": rows * blocked, "tap_output": taps * rows * positions,
        "column": columns * blocked, "position": blocked, "call": 1, "group_output": -(-columns // 4) * rows * blocked,
        "im2col_row": gathered * layout.filter_h * blocked, "im2col_byte": gathered * columns * blocked,
        "tapped_output": tapped * positions, "row": rows, "tail_output": (columns % 4 != 0) * rows * blocked,
        "empty_output": (rows - tapped) * blocked, "single_output": single * blocked,
        "multi_output": (tapped - single) * blocked,
        "multi_padded": (tapped - single) * padded, "tapped_row": tapped, "single_row": single, "tapped_line": tapped * layout.batches * output_h,
        "padded_call": padded, "tap_position": taps * blocked,
        "border_tap": taps * (positions - _inside_positions(layout)),
        "general_mac": layout.general_requant * stored * positions,
        "chunk": int((-(-per_row // lanes)).sum()) * blocked,
        "group_chunk": _group_chunks(matrix) * positions if sparse and layout.kind == "FULLY_CONNECTED" else 0,
        "unclamped_output": (not layout.negatives_clamped) * rows * blocked,
        "pair_slot": pair_slots * positions,
        "single_slot": (columns > PAIRS_NARROW_FEATURES) * single_slots * positions,
        "narrow_single_slot": (columns <= PAIRS_NARROW_FEATURES) * single_slots * positions,
        **_row_block_counts(layout, int(np.maximum(per_row, 1).sum()) if sparse else stored, rows),
        "band_row": _band_rows(layout), "band_byte": _band_rows(layout) * gather_row_width(layout) * layout.input_c,
        **_row_quad_counts(layout, rows, columns),
        **_packed_depthwise_counts(matrix, layout, sparse),
        "copied_column": (layout.kind == "FULLY_CONNECTED" and not (positions == 1 and columns % 16 == 0))
        * columns * positions,
        "pass_chunk": (layout.kind == "FULLY_CONNECTED") * -(-rows // MVE_ROWS) * -(-columns // 16) * positions,
        **_narrow_counts(layout, rows, columns),
        "partial_channel_group": (layout.kind != "FULLY_CONNECTED" and rows % 4 != 0) * blocked,
        "order_tap": (layout.kind == "DEPTHWISE_CONV_2D" and _output_size(layout) != (layout.input_h, layout.input_w))
        * taps,
        "border_byte": taps * (positions - _inside_positions(layout)) * layout.input_c,
    }


def narrow_requantization(layout: "Layout") -> bool:
    """pqk_fully_connected_s8_narrow_dsp's requantization: per tensor, onto all of int8, with the clamp at or above
    the output zero point (ReLU onto zero point -128)."""
    return not layout.per_channel and not layout.general_requant and layout.negatives_clamped


def _narrow_counts(layout: "Layout", rows: int, columns: int) -> dict[str, int]:
    """pqk_fully_connected_s8_narrow_dsp's record pairs x outputs, or its quads."""
    counts = dict.fromkeys(("narrow_pair", "narrow_eight_output", "narrow_quad", "narrow_quad_group"), 0)
    if layout.kind != "FULLY_CONNECTED" or not narrow_fits(rows, columns):
        return counts
    outputs = rows * layout.positions
    if columns <= NARROW_FEATURES:
        counts["narrow_pair"] = narrow_record_pairs(columns) * outputs
        counts["narrow_eight_output"] = (narrow_record_pairs(columns) == 8) * outputs
    else:
        counts["narrow_quad"] = rows // 4 * layout.positions
        counts["narrow_quad_group"] = rows // 4 * columns // 4 * layout.positions
    return counts


def fully_connected_direct(rows: int, columns: int) -> bool:
    """pqk_fully_connected_s8_dsp's is_direct(): the layer reads its input directly, without scratch."""
    return rows <= DIRECT_OUTPUTS or (rows <= DIRECT_WHOLE_OUTPUTS and columns % 4 == 0)


def _row_quad_counts(layout: "Layout", rows: int, columns: int) -> dict[str, int]:
    """pqk_fully_connected_s8_dsp's loops over its row quads (``weights.encode_row_quads``): a pass of
    the quad's sums per column group, the input row widened per batch unless the layer has at most
    ``DIRECT_OUTPUTS`` rows or ``DIRECT_WHOLE_OUTPUTS`` over whole column groups (then read directly,
    its partial last group through a second pass), the outputs requantized per row."""
    if layout.kind != "FULLY_CONNECTED":
        return dict.fromkeys(("quad_group", "direct_group", "widened_group", "direct_tail", "partial_quad",
                              "channel_output", "general_output", "checked_output"), 0)
    positions = layout.positions
    quads, groups = -(-rows // 4), -(-columns // 4)
    direct = fully_connected_direct(rows, columns)
    outputs = rows * positions
    return {"quad_group": quads * groups * positions, "direct_group": direct * quads * groups * positions,
            "widened_group": (not direct) * groups * positions,
            "direct_tail": (direct and columns % 4 != 0) * quads * positions,
            "partial_quad": (rows % 4 != 0) * positions, "channel_output": layout.per_channel * outputs,
            "general_output": layout.general_requant * outputs,
            "checked_output": layout.outside_fast_bounds * outputs}


def _packed_depthwise_counts(matrix: np.ndarray, layout: "Layout", sparse: bool) -> dict[str, int]:
    """pqk_depthwise_conv2d_s8_csr_dsp's work per channel, from its row's nonzeros: a row without any
    is a constant (up to four adjacent ones stored together, a run of constants per pixel); one with
    a single nonzero reads the input directly where its tap is inside it (one run, or one per output
    row where input and output rows step differently) and stores constants elsewhere; the others copy
    their input plane into the padded plane and take every nonzero at every output (unrolled up to
    four). Single-nonzero channels that the kernel copies when it runs in place over an input of
    another shape (single_taps_in_order()) count as direct: the cost model does not know the memory
    plan."""
    counts = dict.fromkeys(("tapped_channel", "single_channel", "constant_group", "fill_eight", "fill_rest", "tap_run",
                            "unit_tap_output", "strided_tap_output", "copy_row", "copy_byte", "looped_output",
                            "multi_mac"), 0)
    if not sparse or layout.kind != "DEPTHWISE_CONV_2D":
        return counts
    output_h, output_w = _output_size(layout)
    pixels = output_h * output_w

    def fill(outputs: int, runs: int = 1) -> None:
        counts["fill_eight"] += runs * (outputs // 8)
        counts["fill_rest"] += runs * (outputs % 8)

    def inside(start: int, step: int, size: int, count: int) -> tuple[int, int]:  # the C inside_range()
        low = 0 if start >= 0 else (step - 1 - start) // step
        high = 0 if size - start <= 0 else (size - start + step - 1) // step
        first = min(low, count)
        return first, max(first, min(high, count))

    copied_rows = min(layout.input_h, layout.padded_h - layout.pad_top)
    copied_columns = min(layout.input_w, layout.padded_w - layout.pad_left)
    nonzeros = np.count_nonzero(matrix, axis=1)
    channel = 0
    while channel < nonzeros.size:
        count = int(nonzeros[channel])
        if count == 0:
            group = 1
            while group < 4 and channel + group < nonzeros.size and nonzeros[channel + group] == 0:
                group += 1
            counts["constant_group"] += 1
            fill(pixels, 2 if group == 3 else 1)  # a word, halfword or byte per pixel (three: halfword and byte)
            channel += group
            continue
        counts["tapped_channel"] += 1
        if count == 1:
            counts["single_channel"] += 1
            column = int(np.flatnonzero(matrix[channel])[0])
            tap_y, tap_x = divmod(column, layout.filter_w)
            first_y, end_y = inside(tap_y * layout.dilation_h - layout.pad_top, layout.stride_h, layout.input_h,
                                    output_h)
            first_x, end_x = inside(tap_x * layout.dilation_w - layout.pad_left, layout.stride_w, layout.input_w,
                                    output_w)
            if first_y == end_y or first_x == end_x:
                fill(pixels)
            else:
                width, height = end_x - first_x, end_y - first_y
                one_run = layout.stride_h * layout.input_w == output_w * layout.stride_w
                counts["tap_run"] += 1 if one_run else height
                counts["unit_tap_output" if layout.stride_w == 1 else "strided_tap_output"] += (
                    (height - 1) * output_w + width if one_run else height * width)
                fill(first_y * output_w)
                fill((output_h - end_y) * output_w)
                fill(height, output_w - width)
        else:
            counts["copy_row"] += copied_rows
            counts["copy_byte"] += copied_rows * copied_columns
            counts["looped_output"] += (count > 4) * pixels
            counts["multi_mac"] += count * pixels
        channel += 1
    return {name: value * layout.batches for name, value in counts.items()}


def _row_block_counts(layout: "Layout", stored: int, rows: int) -> dict[str, int]:
    """pqk_conv2d_s8_csr_taps_dsp's blocks: ``TAPS_CONV_BLOCK`` pixels of one output row, a patch of the
    block's filter rows for those that are partial or reach past the input. ``stored``: its stream's
    entries (a row without nonzeros has one)."""
    if layout.kind == "FULLY_CONNECTED":
        return {"row_block_mac": 0, "row_block_output": 0, "patch_row": 0, "patch_byte": 0, "row_block": 0}
    output_h, output_w = _output_size(layout)
    per_line = -(-output_w // TAPS_CONV_BLOCK)
    blocks = layout.batches * output_h * per_line
    starts = np.arange(per_line) * TAPS_CONV_BLOCK * layout.stride_w - layout.pad_left
    span_w = (TAPS_CONV_BLOCK - 1) * layout.stride_w + (layout.filter_w - 1) * layout.dilation_w + 1  # input columns
    last_column = layout.input_w - span_w  # the last start of a block inside the input
    full = np.arange(per_line) * TAPS_CONV_BLOCK + TAPS_CONV_BLOCK <= output_w
    columns_inside = int(np.count_nonzero(full & (starts >= 0) & (starts <= last_column)))
    tops = np.arange(output_h) * layout.stride_h - layout.pad_top
    bottoms = tops + (layout.filter_h - 1) * layout.dilation_h
    rows_inside = int(np.count_nonzero((tops >= 0) & (bottoms < layout.input_h)))
    patched = blocks - layout.batches * rows_inside * columns_inside
    pitch = span_w * layout.input_c
    return {"row_block_mac": stored * blocks * TAPS_CONV_BLOCK, "row_block_output": rows * blocks,
            "patch_row": patched * layout.filter_h, "patch_byte": patched * layout.filter_h * pitch,
            "row_block": blocks}


def _inside_positions(layout: "Layout") -> int:
    """Output pixels of a windowed layer whose taps all fall inside the input (all of them for FC)."""
    if layout.kind == "FULLY_CONNECTED":
        return layout.positions
    output_h, output_w = _output_size(layout)

    def inside(pad: int, stride: int, span: int, size: int, count: int) -> int:
        first = -(-pad // stride)  # first output whose window starts inside
        end = (size - span + pad) // stride + 1 if size - span + pad >= 0 else 0  # past the last ending inside
        return max(0, min(end, count) - first)

    rows = inside(layout.pad_top, layout.stride_h, (layout.filter_h - 1) * layout.dilation_h + 1, layout.input_h,
                  output_h)
    columns = inside(layout.pad_left, layout.stride_w, (layout.filter_w - 1) * layout.dilation_w + 1,
                     layout.input_w, output_w)
    return layout.batches * rows * columns


def _group_chunks(matrix: np.ndarray) -> int:
    """Chunks of ``weights.GatherRows`` (its groups of four rows, panels of 256 columns, 16 nonzeros per chunk;
    at least one per group), counted without encoding."""
    rows, cols = matrix.shape
    padded = np.zeros((-(-rows // ROWS_GROUP) * ROWS_GROUP, -(-max(cols, 1) // ROWS_PANEL) * ROWS_PANEL), dtype=bool)
    padded[:rows, :cols] = matrix != 0
    per_panel = padded.reshape(padded.shape[0], -1, ROWS_PANEL).sum(axis=2)  # [rows][panels]
    chunks = (-(-per_panel // ROWS_LANES)).reshape(-1, ROWS_GROUP, per_panel.shape[1]).max(axis=1).sum(axis=1)
    return int(np.maximum(chunks, 1).sum())


def estimate_instructions(kernel: str, matrix: np.ndarray, layout: "Layout", sparse: bool, cpu: str = "") -> int:
    """``kernel``'s instructions for ``matrix`` run as ``layout`` on core ``cpu`` ("": its fit board's)."""
    cost = KERNEL_COSTS[kernel]
    return int(round(cost.instructions(layer_counts(matrix, layout, sparse, cost.block, cost.lanes), cpu)))


def _output_size(layout: "Layout") -> tuple[int, int]:
    """Output height and width of a windowed layer (from the span of its windows)."""
    output_h = (layout.padded_h - (layout.filter_h - 1) * layout.dilation_h - 1) // layout.stride_h + 1
    output_w = (layout.padded_w - (layout.filter_w - 1) * layout.dilation_w - 1) // layout.stride_w + 1
    return output_h, output_w


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


def portable_depthwise_ring_row(layout: Layout) -> int:
    """Bytes of an output row of pqk_depthwise_conv2d_s8_csr run in place (its ring holds pad_top + 1 of
    them); 0 where it cannot run in place (an output row longer than an input row)."""
    output_h, output_w = _output_size(layout)
    row = output_w * layout.input_c * layout.depth_multiplier
    return row if output_h <= layout.input_h and row <= layout.input_w * layout.input_c else 0


MVE_FULLY_CONNECTED_STACK_OUTPUTS = 32  # pqk_fully_connected_s8_mve.c STACK_OUTPUTS
MVE_FULLY_CONNECTED_STACK_ROW = 32  # and STACK_ROW_BYTES


def mve_fully_connected_on_stack(rows: int, columns: int) -> bool:
    """pqk_fully_connected_s8_mve's on_stack() for a single batch: its sums and row on the stack, no scratch."""
    row = (columns + 15) & ~15
    return rows <= MVE_FULLY_CONNECTED_STACK_OUTPUTS and (row == columns or row <= MVE_FULLY_CONNECTED_STACK_ROW)


def scratch_bytes(kernel: str, layout: Layout, rows: int, columns: int) -> int:
    """Bytes of the scratch argument of ``kernel`` run as ``layout`` with a weight matrix [rows][columns]
    (0: a kernel without one), which the memory plan reserves. The C ``<kernel>_buffer_size()`` is the
    truth: this is its twin for compile time, and tests/test_codegen_scratch.py compiles every one on the
    host and checks the two agree over a set of shapes."""
    pointwise = layout.filter_h == layout.filter_w == 1
    im2col_row = 0 if pointwise else columns  # one im2col row of a filter beyond 1x1
    mve_row = (columns + 15) & ~15  # pqk_mve.h: a row rounded up to a vector
    # two pixels' (or batches') rows and sums (pqk_mve.h pqk_mve_sums_bytes(): rows rounded up to 3)
    mve_sums = 2 * -(-rows // MVE_ROWS) * MVE_ROWS * 4
    mve_block = 2 * mve_row + mve_sums
    # the depthwise *_dsp / *_mla kernels: a padding row and the in-place ring of pad_top + 1 input rows
    depthwise_ring = ((layout.input_c + 3) & ~3) + (layout.pad_top + 1) * layout.input_w * layout.input_c
    sizes = {
        # one input row widened to int16 pairs, none where the kernel reads the row directly
        "pqk_fully_connected_s8_dsp": 0 if fully_connected_direct(rows, columns) else 8 * ((columns + 3) // 4),
        FULLY_CONNECTED_PAIRS_DSP: 2 * ((columns + 4) & ~3),  # the input row widened to int16, a zero after it
        # four pixels' columns widened to int16
        "pqk_conv2d_s8_dsp": 4 * ((columns + 3) & ~3) * 2 + im2col_row,
        # eight pixels' columns as bytes, and the input with its width padding filled in
        "pqk_conv2d_s8_csr_dsp": 8 * columns + _width_padded_bytes(layout),
        # eight int16 lanes per column; beyond 1x1 nine filter rows
        WIDE_CONV_KERNEL: (2 * WIDE_CONV_BLOCK * columns
                           + (0 if pointwise else (1 + WIDE_CONV_BLOCK) * layout.filter_w * layout.input_c)),
        # two int32 offsets per column, a patch row of eight windows per filter row
        DSP_TAPS_CONV_KERNEL: 8 * columns + layout.filter_h * layout.input_c * (
            (TAPS_CONV_BLOCK - 1) * layout.stride_w + (layout.filter_w - 1) * layout.dilation_w + 1),
        "pqk_depthwise_conv2d_s8_dsp": depthwise_ring,
        "pqk_depthwise_conv2d_s8_csr_dsp": layout.padded_h * layout.padded_w,  # one channel's padded plane
        # the in-place ring of output rows, none where the layer cannot run in place
        "pqk_depthwise_conv2d_s8_csr": (layout.pad_top + 1) * portable_depthwise_ring_row(layout),
        # two pixels of int32 columns, rounded up to 4
        "pqk_conv2d_s8_smlal": 2 * 4 * ((columns + 3) & ~3) + im2col_row,
        "pqk_depthwise_conv2d_s8_mla": depthwise_ring,
        WIDE_SMLAL_CONV_KERNEL: (2 * WIDE_CONV_BLOCK * columns  # as the DSP kernel's: four words per column
                                 + (0 if pointwise else (1 + WIDE_CONV_BLOCK) * layout.filter_w * layout.input_c)),
        # a single batch: its row only where it is not whole vectors (else read in place), one pixel's sums;
        # none where they fit on the stack
        "pqk_fully_connected_s8_mve": (mve_block if layout.positions > 1
                                       else 0 if mve_fully_connected_on_stack(rows, columns)
                                       else (0 if columns % 16 == 0 else mve_row) + mve_sums // 2),
        "pqk_conv2d_s8_mve": mve_block + (0 if pointwise else mve_row),
        "pqk_depthwise_conv2d_s8_mve": (layout.input_c + 15) & ~15,  # a padding row of a vector's width
        "pqk_fully_connected_s8_csr_mve": 4 * -(-rows // ROWS_GROUP) * ROWS_GROUP,  # every group's sums
        "pqk_conv2d_s8_csr_mve": _gather_buffer_size(layout, rows),
        "pqk_depthwise_conv2d_s8_csr_mve": _gather_buffer_size(layout, rows),
        "pqk_conv2d_s8_csr_taps_mve": _gather_buffer_size(layout, rows),
    }
    return sizes.get(kernel, 0)


def _width_padded_bytes(layout: Layout) -> int:
    """pqk_conv2d_s8_csr_dsp's copy of the input with its width padding filled in and its padding
    row, where it pads the width (the C pads_width(); padded_w is the undilated span of the windows then)."""
    if layout.filter_h == layout.filter_w == 1 or layout.dilation_w != 1:
        return 0
    if layout.pad_left == 0 and layout.padded_w - layout.pad_left <= layout.input_w:
        return 0
    return (layout.batches * layout.input_h * layout.padded_w + layout.filter_w) * layout.input_c


def _windows_pad(layout: Layout) -> bool:
    """pqk_mve.h pqk_mve_windows_pad(): some window reaches past the input."""
    return (layout.pad_top > 0 or layout.pad_left > 0 or layout.padded_h - layout.pad_top > layout.input_h
            or layout.padded_w - layout.pad_left > layout.input_w)


def gather_row_width(layout: Layout) -> int:
    """Columns between the input rows of the *_csr_mve convolutions' gathered offsets: where windows pad,
    the width of the bands they read (pqk_mve.h pqk_mve_band_w(): the columns of an output row's
    windows), else the input's."""
    if not _windows_pad(layout):
        return layout.input_w
    _, output_w = _output_size(layout)
    return (output_w - 1) * layout.stride_w + (layout.filter_w - 1) * layout.dilation_w + 1


def conv_gather_offsets(layout: Layout) -> np.ndarray:
    """Byte offset from a window's origin of every column of a CONV_2D row as the *_csr_mve convolutions
    gather it (input rows ``gather_row_width`` columns apart)."""
    return conv_column_offsets(layout.filter_h, layout.filter_w, layout.dilation_h, layout.dilation_w,
                               gather_row_width(layout), layout.input_c)


def _band_rows(layout: Layout) -> int:
    """Filter rows the *_csr_mve convolutions copy into bands: each output row's where windows pad."""
    output_h, _ = _output_size(layout)
    return _windows_pad(layout) * layout.batches * output_h * layout.filter_h


def _gather_buffer_size(layout: Layout, rows: int) -> int:
    """pqk_mve.h pqk_mve_gather_buffer_size(): four pixels' sums (channels rounded up to four), and where
    windows pad, a band per output row that a block of four pixels can span (the rows of the row's
    windows, ``gather_row_width`` columns each)."""
    sums = GATHER_CONV_BLOCK * 4 * (-(-rows // 4) * 4)
    if not _windows_pad(layout):
        return sums
    _, output_w = _output_size(layout)
    bands = min(GATHER_CONV_BLOCK, 1 + (GATHER_CONV_BLOCK - 2 + output_w) // output_w)
    reach = (layout.filter_h - 1) * layout.dilation_h + 1
    return sums + bands * reach * gather_row_width(layout) * layout.input_c


def _dsp_candidates(layout: Layout, matrix: np.ndarray, packed: PackedCsr | None,
                    wide: WideCsr | None = None, fast_requant: bool = False) -> list[tuple[str, str, int, bool]]:
    """(format, kernel, scratch bytes, in place) of the DSP variants that can run this layer. The dense
    ones and the wide sparse conv (``weights.encode_wide``) run any requantization (channels outside
    the fast bounds: ``KernelChoice.requant_checked``); the other sparse ones need the packed format
    (``weights.encode_packed``), which needs the fast bounds, as does pqk_fully_connected_s8_narrow_dsp (its
    doubled accumulators: ``fast_requant``; per-tensor ReLU layers only)."""
    pointwise_same = (
        layout.same_shape and layout.filter_h == layout.filter_w == 1 and layout.stride_h == layout.stride_w == 1
    )

    def scratch(kernel: str) -> int:
        return scratch_bytes(kernel, layout, *matrix.shape)

    out: list[tuple[str, str, int, bool]] = []
    if layout.kind == "FULLY_CONNECTED":
        out.append(("dense", "pqk_fully_connected_s8_dsp", scratch("pqk_fully_connected_s8_dsp"), False))
        out.append(("csr", FULLY_CONNECTED_CSR_DSP, 0, False))
        if matrix.shape[1] <= PAIRS_MAX_FEATURES:
            out.append(("csr", FULLY_CONNECTED_PAIRS_DSP, scratch(FULLY_CONNECTED_PAIRS_DSP), False))
        if fast_requant and narrow_requantization(layout) and narrow_fits(*matrix.shape):
            out.append(("dense", FULLY_CONNECTED_NARROW_DSP, 0, False))
    elif layout.kind == "CONV_2D":
        out.append(("dense", "pqk_conv2d_s8_dsp", scratch("pqk_conv2d_s8_dsp"), pointwise_same))
        if packed is not None:
            out.append(("csr", "pqk_conv2d_s8_csr_dsp", scratch("pqk_conv2d_s8_csr_dsp"), pointwise_same))
        if wide is not None and packed is None:
            # where the packed format holds the layer its kernel keeps it: the wide kernel is often
            # faster there but needs twice the scratch (DS-CNN: 9,024 B of arena instead of 8,912)
            out.append(("csr", WIDE_CONV_KERNEL, scratch(WIDE_CONV_KERNEL), pointwise_same))
        if (wide is not None and layout.stride_w * layout.input_c in TAPS_CONV_STEPS
                and layout.filter_h * layout.filter_w > 1):
            out.append(("csr", DSP_TAPS_CONV_KERNEL, scratch(DSP_TAPS_CONV_KERNEL), False))
    elif layout.kind == "DEPTHWISE_CONV_2D" and layout.depth_multiplier == 1:
        taps = layout.filter_h * layout.filter_w
        # The ring of pad_top + 1 input rows keeps every row an output row would overwrite before a later
        # one reads it, whatever the stride, while no output row is longer than an input row.
        output_h, output_w = _output_size(layout)
        in_place = output_h <= layout.input_h and output_w <= layout.input_w and layout.dilation_h == 1
        if taps <= DEPTHWISE_MAX_TAPS:
            out.append(("dense", "pqk_depthwise_conv2d_s8_dsp", scratch("pqk_depthwise_conv2d_s8_dsp"), in_place))
        if packed is not None and taps <= DEPTHWISE_MAX_TAPS:
            # over its own input whatever the stride: output channel c overwrites input channel c only
            out.append(("csr", "pqk_depthwise_conv2d_s8_csr_dsp", scratch("pqk_depthwise_conv2d_s8_csr_dsp"), True))
    return out


MVE_TAPS_CONV_KERNEL = "pqk_conv2d_s8_csr_taps_mve"
MVE_GATHER_KERNELS = frozenset({"pqk_conv2d_s8_csr_mve", MVE_TAPS_CONV_KERNEL,
                                "pqk_depthwise_conv2d_s8_csr_mve",
                                "pqk_fully_connected_s8_csr_mve"})


# Kernels for cores without the DSP extension that take pqk_dsp.h's fast requantization (requant.checked
# where a channel is outside its bounds, as the *_dsp kernels).
MLA_FAST_REQUANT_KERNELS = frozenset({"pqk_conv2d_s8_smlal", "pqk_depthwise_conv2d_s8_mla", WIDE_SMLAL_CONV_KERNEL})


def _mla_candidates(layout: Layout, matrix: np.ndarray,
                    wide: WideCsr | None = None) -> list[tuple[str, str, int, bool]]:
    """(format, kernel, scratch bytes, in place) of the variants for cores without the DSP extension that
    can run this layer: the *_smlal kernels where the channel pairs' (pixel pairs') lanes hold every sum,
    the sparse one where ``wide`` holds the matrix, the depthwise *_mla kernel for depth multiplier 1 and
    at most 64 taps."""
    out: list[tuple[str, str, int, bool]] = []
    if layout.kind == "CONV_2D":
        pointwise = layout.filter_h == layout.filter_w == 1
        in_place = layout.same_shape and pointwise and layout.stride_h == layout.stride_w == 1
        if channel_pair_lanes_fit(matrix):
            out.append(("dense", "pqk_conv2d_s8_smlal",
                        scratch_bytes("pqk_conv2d_s8_smlal", layout, *matrix.shape), in_place))
        if wide is not None and pixel_pair_lanes_fit(matrix):
            out.append(("csr", WIDE_SMLAL_CONV_KERNEL, scratch_bytes(WIDE_SMLAL_CONV_KERNEL, layout, *matrix.shape),
                        in_place))
    elif layout.kind == "DEPTHWISE_CONV_2D" and layout.depth_multiplier == 1:
        if layout.filter_h * layout.filter_w <= DEPTHWISE_MAX_TAPS:
            # the ring of pad_top + 1 input rows, as pqk_depthwise_conv2d_s8_dsp's: any stride
            output_h, output_w = _output_size(layout)
            in_place = output_h <= layout.input_h and output_w <= layout.input_w and layout.dilation_h == 1
            out.append(("dense", "pqk_depthwise_conv2d_s8_mla",
                        scratch_bytes("pqk_depthwise_conv2d_s8_mla", layout, *matrix.shape), in_place))
    return out


def _mve_candidates(layout: Layout, matrix: np.ndarray, gather: GatherCsr | GatherTaps | GatherRows | None = None,
                    conv_taps: GatherTaps | None = None) -> list[tuple[str, str, int, bool]]:
    """(format, kernel, scratch bytes, in place) of the Helium variants that can run this layer; they run
    any requantization exactly. The sparse ones where ``gather`` holds the matrix in their format
    (``weights.encode_gather`` / ``encode_gather_rows``), pqk_conv2d_s8_csr_taps_mve where ``conv_taps``
    holds a CONV_2D's in its own (``weights.encode_gather_taps``)."""

    def scratch(kernel: str) -> int:
        return scratch_bytes(kernel, layout, *matrix.shape)

    pointwise_same = (layout.same_shape and layout.filter_h == layout.filter_w == 1
                      and layout.stride_h == layout.stride_w == 1)
    out: list[tuple[str, str, int, bool]] = []
    if layout.kind == "FULLY_CONNECTED":
        out.append(("dense", "pqk_fully_connected_s8_mve", scratch("pqk_fully_connected_s8_mve"), False))
        if isinstance(gather, GatherRows):
            out.append(("csr", "pqk_fully_connected_s8_csr_mve", scratch("pqk_fully_connected_s8_csr_mve"), False))
    elif layout.kind == "CONV_2D":
        out.append(("dense", "pqk_conv2d_s8_mve", scratch("pqk_conv2d_s8_mve"), pointwise_same))
        if isinstance(gather, GatherCsr):
            out.append(("csr", "pqk_conv2d_s8_csr_mve", scratch("pqk_conv2d_s8_csr_mve"), pointwise_same))
        if conv_taps is not None:
            out.append(("csr", MVE_TAPS_CONV_KERNEL, scratch(MVE_TAPS_CONV_KERNEL), pointwise_same))
    elif layout.kind == "DEPTHWISE_CONV_2D":
        if layout.filter_h * layout.filter_w <= DEPTHWISE_MAX_TAPS and matrix.min(initial=0) > -128:
            # int16 sums of two products
            out.append(("dense", "pqk_depthwise_conv2d_s8_mve", scratch("pqk_depthwise_conv2d_s8_mve"), False))
        if isinstance(gather, GatherTaps):
            out.append(("csr", "pqk_depthwise_conv2d_s8_csr_mve", scratch("pqk_depthwise_conv2d_s8_csr_mve"), False))
    return out


def _dense_bytes(kernel: str, matrix: np.ndarray, depth_multiplier: int = 1) -> int:
    """Flash bytes of the dense weights as ``kernel`` stores them (row quads, chunks and channel pairs are
    zero-padded)."""
    if kernel == "pqk_fully_connected_s8_dsp":
        return encode_row_quads(matrix).size
    if kernel == FULLY_CONNECTED_NARROW_DSP:  # header and bias included
        rows, columns = matrix.shape
        if columns > NARROW_FEATURES:
            return NARROW_HEADER_BYTES + 4 * rows + int(matrix.size)
        return NARROW_HEADER_BYTES + 4 * rows * (1 + narrow_record_pairs(columns))
    if kernel == "pqk_conv2d_s8_smlal":
        return encode_channel_pairs(matrix).nbytes
    if kernel == "pqk_depthwise_conv2d_s8_mla":
        return encode_channel_quads(matrix).nbytes
    if kernel == "pqk_depthwise_conv2d_s8_dsp":
        return encode_channel_quads(matrix).nbytes // 2  # int16 weights
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
                  target: Target, fast_requant: bool, packed: PackedCsr | None = None,
                  wide: WideCsr | None = None, gather: GatherCsr | GatherTaps | GatherRows | None = None) -> KernelChoice:
    """The cheapest kernel for ``matrix`` [rows][cols] (rows = output channels) on ``target``, the layer alone
    (``kernel_choices``' first)."""
    return kernel_choices(matrix, dense_kernel, layout, weight_format, target, fast_requant, packed, wide, gather)[0]


def kernel_choices(matrix: np.ndarray, dense_kernel: str, layout: Layout, weight_format: str,
                   target: Target, fast_requant: bool, packed: PackedCsr | None = None,
                   wide: WideCsr | None = None,
                   gather: GatherCsr | GatherTaps | GatherRows | None = None) -> list[KernelChoice]:
    """Every kernel that can run ``matrix`` [rows][cols] (rows = output channels) on ``target``, cheapest first
    (``layer_score``); ``packed`` is the matrix in the *_csr_dsp kernels' format where it fits, ``wide`` in
    pqk_conv2d_s8_csr_wide_dsp's, ``gather`` in the *_csr_mve kernels'."""
    if weight_format not in WEIGHT_FORMATS:
        raise PqkError(f"unknown weight format '{weight_format}' (choose from {', '.join(WEIGHT_FORMATS)})")
    rows = matrix.shape[0]
    nonzeros = int(np.count_nonzero(matrix))
    sparsity = 1.0 - nonzeros / matrix.size if matrix.size else 0.0
    csr = encode_csr(matrix)
    csr_kernel = dense_kernel + "_csr"
    csr_scratch = scratch_bytes(csr_kernel, layout, *matrix.shape)  # pqk_depthwise_conv2d_s8_csr's in-place ring
    candidates = [("dense", dense_kernel, 0, False), ("csr", csr_kernel, csr_scratch, csr_scratch > 0)]
    # rows with few nonzeros: a CONV_2D's nonzeros one at a time (pqk_conv2d_s8_csr_taps_mve)
    conv_taps = (encode_gather_taps(matrix, conv_gather_offsets(layout)[None, :])
                 if target.has_mve and isinstance(gather, GatherCsr) else None)
    mve = _mve_candidates(layout, matrix, gather, conv_taps) if target.has_mve else []
    if target.has_dsp:
        # A dense Helium kernel makes the dense DSP one moot (16 MACs per instruction against 2; their
        # fits come from different cores and disagree most on small layers, e.g. a 3x3 over one channel)
        candidates += [c for c in _dsp_candidates(layout, matrix, packed, wide, fast_requant)
                       if not (mve and c[0] == "dense")]
    elif target.thumb2:
        candidates += _mla_candidates(layout, matrix, wide)
    candidates += mve
    choices = []
    for storage, kernel, scratch, in_place in candidates:
        if weight_format != "auto" and storage != weight_format:
            continue
        sparse = storage == "csr"
        wide_choice = wide if kernel in WIDE_STREAM_KERNELS else None
        gather_choice = (conv_taps if kernel == MVE_TAPS_CONV_KERNEL else gather if kernel in MVE_GATHER_KERNELS
                         else None)
        packed_choice = (packed if sparse and kernel.endswith("_dsp")
                         and kernel not in (FULLY_CONNECTED_CSR_DSP, FULLY_CONNECTED_PAIRS_DSP)
                         and wide_choice is None else None)
        pairs_choice = encode_column_pairs(matrix) if kernel == FULLY_CONNECTED_PAIRS_DSP else None
        stored = wide_choice or packed_choice or gather_choice or pairs_choice
        choices.append(KernelChoice(
            format=storage, kernel=kernel, sparsity=sparsity,
            estimated_instructions=estimate_instructions(kernel, matrix, layout, sparse, target.cpu),
            weight_bytes=(stored.value_bytes if stored
                          else int(csr.values.nbytes) if sparse else _dense_bytes(kernel, matrix, layout.depth_multiplier)),
            index_bytes=stored.index_bytes if stored else (csr.index_bytes if sparse else 0),
            csr=csr if sparse and stored is None else None,
            requant_bytes=(stored.requant_bytes if stored and gather_choice is None and pairs_choice is None
                           else (REQUANT_BYTES_PER_ROW - 4 * (kernel == FULLY_CONNECTED_NARROW_DSP)) * rows),
            packed=packed_choice, wide=wide_choice, gather=gather_choice, pairs=pairs_choice, scratch_bytes=scratch,
            in_place=in_place,
            requant_checked=(kernel.endswith(("_dsp", "_mve")) or kernel in MLA_FAST_REQUANT_KERNELS)
            and not fast_requant,
        ))

    return sorted(choices, key=layer_score)


def layer_score(choice: KernelChoice) -> tuple[float, str]:
    """A layer's ``instructions + INSTRUCTIONS_PER_BYTE * flash bytes`` of its data (ties: by kernel name)."""
    flash = choice.weight_bytes + choice.index_bytes + choice.requant_bytes
    return choice.estimated_instructions + INSTRUCTIONS_PER_BYTE * flash, choice.kernel



# UNIDIRECTIONAL_SEQUENCE_LSTM per time step of each batch, cortex-m4 (QEMU counts on micro_speech_lstm,
# dense and pruned to 0.8 / 0.9): instructions per stored weight of a weight matrix (the four gates' rows;
# dense: every weight, pqk_lstm_s8_dsp's columns padded to 4; CSR: the nonzeros) and per gate row (its
# share of the unit's activations and state update, the same in every kernel). pqk_lstm_s8_csr computes
# a dense matrix as pqk_lstm_s8 does.
LSTM_PRODUCT_COSTS: dict[str, tuple[float, float]] = {
    "pqk_lstm_s8": (4.86, 118.0),
    "pqk_lstm_s8_dsp": (1.49, 118.0),
    "pqk_lstm_s8_csr": (6.01, 118.0),
}


@dataclass(frozen=True)
class LstmChoice:
    kernel: str
    csr: tuple[CsrMatrix | None, CsrMatrix | None]  # input, recurrent weights in CSR (None: dense)
    estimated_instructions: int


def choose_lstm_kernel(input_weights: np.ndarray, recurrent_weights: np.ndarray, unit_major: tuple[np.ndarray, ...],
                       sequence_steps: int, weight_format: str, target: Target) -> LstmChoice:
    """The LSTM kernel and each weight matrix's storage (``input_weights`` / ``recurrent_weights``: the
    four gates' rows [4 x units][columns]; ``unit_major``: the same two matrices with their rows unit by
    unit, as pqk_lstm_s8_csr stores CSR) with the lowest ``instructions + INSTRUCTIONS_PER_BYTE * bytes``
    over ``sequence_steps`` (time steps x batches); dense is pqk_lstm_s8_dsp on DSP cores."""
    if weight_format not in WEIGHT_FORMATS:
        raise PqkError(f"unknown weight format '{weight_format}' (choose from {', '.join(WEIGHT_FORMATS)})")
    dense_kernel = "pqk_lstm_s8_dsp" if target.has_dsp else "pqk_lstm_s8"
    csrs = tuple(encode_csr(matrix) for matrix in unit_major)

    def dense_cost(kernel: str, matrix: np.ndarray) -> tuple[float, int]:
        rows, columns = matrix.shape
        stored = rows * ((columns + 3) & ~3) if kernel == "pqk_lstm_s8_dsp" else matrix.size
        per_weight, per_row = LSTM_PRODUCT_COSTS[kernel]
        return sequence_steps * (per_weight * stored + per_row * rows), stored

    def csr_cost(csr: CsrMatrix) -> tuple[float, int]:
        per_nonzero, per_row = LSTM_PRODUCT_COSTS["pqk_lstm_s8_csr"]
        return sequence_steps * (per_nonzero * csr.values.size + per_row * csr.shape[0]), csr.nbytes

    candidates = []
    for sparse in ((False, False), (True, False), (False, True), (True, True)):
        storage = "csr" if all(sparse) else "dense" if not any(sparse) else "mixed"
        if weight_format != "auto" and storage != weight_format:
            continue
        kernel = "pqk_lstm_s8_csr" if any(sparse) else dense_kernel
        costs = [csr_cost(csr) if is_csr else dense_cost("pqk_lstm_s8" if any(sparse) else kernel, matrix)
                 for is_csr, csr, matrix in zip(sparse, csrs, (input_weights, recurrent_weights))]
        instructions = sum(cost for cost, _ in costs)
        score = instructions + INSTRUCTIONS_PER_BYTE * sum(stored for _, stored in costs)
        candidates.append((score, LstmChoice(kernel, tuple(c if s else None for s, c in zip(sparse, csrs)),
                                             int(round(instructions)))))
    return min(candidates, key=lambda candidate: candidate[0])[1]


# SVDF's feature products (input x weights_feature [filters][input_size]) per batch, cortex-m4 (QEMU counts
# on keyword_scrambled_8bit, dense and pruned to 0.9): instructions per stored weight (dense: all, CSR: the
# nonzeros). The rest of the op (the state's shift, the time products) costs the same in both kernels.
SVDF_FEATURE_COSTS: dict[str, float] = {"pqk_svdf_s8": 5.9, "pqk_svdf_s8_csr": 7.0}


def choose_svdf_kernel(weights_feature: np.ndarray, batches: int,
                       weight_format: str) -> tuple[str, CsrMatrix | None, int]:
    """(kernel, the feature weights in CSR or None for dense, estimated instructions of the feature products):
    the lower ``instructions + INSTRUCTIONS_PER_BYTE * bytes``."""
    if weight_format not in WEIGHT_FORMATS:
        raise PqkError(f"unknown weight format '{weight_format}' (choose from {', '.join(WEIGHT_FORMATS)})")
    csr = encode_csr(weights_feature)
    candidates = []
    for kernel, stored, nbytes in (("pqk_svdf_s8", weights_feature.size, weights_feature.size),
                                   ("pqk_svdf_s8_csr", csr.values.size, csr.nbytes)):
        if weight_format != "auto" and (kernel == "pqk_svdf_s8_csr") != (weight_format == "csr"):
            continue
        instructions = batches * SVDF_FEATURE_COSTS[kernel] * stored
        candidates.append((instructions + INSTRUCTIONS_PER_BYTE * nbytes, kernel, int(round(instructions))))
    _, kernel, instructions = min(candidates)
    return kernel, csr if kernel == "pqk_svdf_s8_csr" else None, instructions


# TRANSPOSE_CONV (int8), cortex-m4 (QEMU counts on two layers, 8x8x16 -> 16x16x16 and 6x6x64 -> 12x12x8, 3x3
# stride 2, dense and pruned to 0.9): instructions per product computed (dense: every weight of a tap that
# reaches the input; CSR: its nonzeros) and per filter tap row visited (output pixels x output channels x
# taps, each checked against the input), by kernel.
TRANSPOSE_CONV_COSTS: dict[str, tuple[float, float]] = {
    "pqk_transpose_conv_s8": (5.28, 23.9),
    "pqk_transpose_conv_s8_csr": (9.2, 37.8),
}


def choose_transpose_conv_kernel(taps: np.ndarray, products: int, tap_visits: int,
                                 weight_format: str) -> tuple[str, CsrMatrix | None, int]:
    """(kernel, the filter in CSR or None for dense, estimated instructions) for the filter's tap rows
    ``taps`` [output_c x filter_h x filter_w][input_c], ``products`` the dense kernel's multiplications and
    ``tap_visits`` its tap rows visited: the lower ``instructions + INSTRUCTIONS_PER_BYTE * bytes``."""
    if weight_format not in WEIGHT_FORMATS:
        raise PqkError(f"unknown weight format '{weight_format}' (choose from {', '.join(WEIGHT_FORMATS)})")
    csr = encode_csr(taps)
    density = csr.values.size / taps.size if taps.size else 0.0
    candidates = []
    for kernel, computed, nbytes in (("pqk_transpose_conv_s8", products, taps.size),
                                     ("pqk_transpose_conv_s8_csr", products * density, csr.nbytes)):
        if weight_format != "auto" and (kernel == "pqk_transpose_conv_s8_csr") != (weight_format == "csr"):
            continue
        per_product, per_tap = TRANSPOSE_CONV_COSTS[kernel]
        instructions = per_product * computed + per_tap * tap_visits
        candidates.append((instructions + INSTRUCTIONS_PER_BYTE * nbytes, kernel, int(round(instructions))))
    _, kernel, instructions = min(candidates)
    return kernel, csr if kernel == "pqk_transpose_conv_s8_csr" else None, instructions


# -- model-level choice: a kernel's code is linked once per model ------------------------------------------------


def kernel_code_bytes(target: Target) -> dict[str, int]:
    """Kernel -> flash bytes of its code on ``target``'s core (measured: kernel_code_bytes.py); empty without a
    core (no board: the choice stays per layer)."""
    return KERNEL_CODE_BYTES.get(target.cpu, {})


def choose_model_kernels(layers: list[list[KernelChoice]], code_bytes: dict[str, int]) -> list[KernelChoice]:
    """One choice per layer from each layer's ``kernel_choices`` (cheapest first) that lowers the model's total
    ``instructions + INSTRUCTIONS_PER_BYTE * flash bytes``, where a kernel's code (``code_bytes``) counts once
    per model, at the same weight per byte as the layers' data.

    From each layer's own best, it repeatedly drops the one kernel whose layers all move onto kernels already
    linked for the largest gain (its code bytes less what the moved layers' scores rise; ties: fewer layers,
    then name), until no drop gains. Deterministic; layers of one kernel move together. Speed comes first:
    the drops together add at most ``MODEL_CHOICE_MAX_SLOWDOWN`` of the layers' estimated instructions (without
    it, dense hello_world would trade 2.5x its instructions for 4.5 kB of kernel code)."""
    chosen = [choices[0] for choices in layers]
    slowdown_left = MODEL_CHOICE_MAX_SLOWDOWN * sum(choice.estimated_instructions for choice in chosen)
    while True:
        linked = {choice.kernel for choice in chosen}
        best: tuple[tuple[float, int, str], list[KernelChoice], int] | None = None
        for kernel in sorted(linked):
            moved, rise, slower = list(chosen), 0.0, 0
            for index, choices in enumerate(layers):
                if chosen[index].kernel != kernel:
                    continue
                others = [choice for choice in choices if choice.kernel in linked and choice.kernel != kernel]
                if not others:
                    break
                moved[index] = others[0]
                rise += layer_score(others[0])[0] - layer_score(chosen[index])[0]
                slower += others[0].estimated_instructions - chosen[index].estimated_instructions
            else:
                gain = INSTRUCTIONS_PER_BYTE * code_bytes.get(kernel, 0) - rise
                users = sum(choice.kernel == kernel for choice in chosen)
                if gain > 0 and slower <= slowdown_left and (best is None or (-gain, users, kernel) < best[0]):
                    best = ((-gain, users, kernel), moved, slower)
        if best is None:
            return chosen
        chosen = best[1]
        slowdown_left -= best[2]


__all__ = ["ADD_KERNEL_COSTS", "COUNTS", "KERNEL_COSTS", "LSTM_PRODUCT_COSTS", "MLA_FAST_REQUANT_KERNELS",
           "MODEL_CHOICE_MAX_SLOWDOWN", "ORDERED_WRITE_BLOCKS", "SVDF_FEATURE_COSTS", "TRANSPOSE_CONV_COSTS", "AddChoice", "KernelChoice",
           "KernelCost", "Layout", "LstmChoice", "Target", "add_requantization", "average_pool_kernel",
           "choose_add_kernel", "choose_kernel", "choose_lstm_kernel", "choose_model_kernels", "choose_svdf_kernel",
           "choose_transpose_conv_kernel", "estimate_instructions", "fast_requant_bounds_hold", "fast_requant_exact",
           "kernel_choices", "kernel_code_bytes", "layer_counts", "layer_score", "scratch_bytes",
           "FORWARD_WRITE_BLOCKS"]
