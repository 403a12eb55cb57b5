"""The counts that pqk_mcu.codegen.cost_model estimates kernels from, pinned on small layers worked out by hand
from the kernels' loops (firmware/runtime/pqk_fully_connected_s8_dsp.c, pqk_depthwise_conv2d_s8_csr_dsp.c,
pqk_fully_connected_s8_narrow_dsp.c)."""

from __future__ import annotations

import dataclasses

import numpy as np

from pqk_mcu.codegen.cost_model import KERNEL_COSTS, KernelCost, Layout, Target, estimate_instructions, layer_counts

ROW_QUAD_COUNTS = ("quad_group", "direct_group", "widened_group", "direct_tail", "partial_quad", "channel_output",
                   "general_output", "checked_output")
PACKED_DEPTHWISE_COUNTS = ("tapped_channel", "single_channel", "constant_group", "fill_eight", "fill_rest", "tap_run",
                           "unit_tap_output", "strided_tap_output", "copy_row", "copy_byte", "looped_output",
                           "multi_mac")


def _pick(counts: dict[str, int], names: tuple[str, ...]) -> dict[str, int]:
    return {name: counts[name] for name in names}


def test_row_quad_counts_of_a_direct_and_a_widened_fully_connected_layer():
    # 6 rows: two quads (the second partial), read directly; 10 columns: three groups (the last partial)
    direct = Layout(kind="FULLY_CONNECTED", positions=2, input_c=10, output_c=6, per_channel=False)
    assert _pick(layer_counts(np.ones((6, 10), np.int8), direct, sparse=False), ROW_QUAD_COUNTS) == {
        "quad_group": 12, "direct_group": 12, "widened_group": 0, "direct_tail": 4, "partial_quad": 2,
        "channel_output": 0, "general_output": 0, "checked_output": 0}
    # 12 rows: three full quads, over 10 columns (not whole groups) the input row widened; per channel, a narrow
    # clamp, a channel outside the bounds
    widened = Layout(kind="FULLY_CONNECTED", positions=1, input_c=10, output_c=12, general_requant=True,
                     outside_fast_bounds=True)
    assert _pick(layer_counts(np.ones((12, 10), np.int8), widened, sparse=False), ROW_QUAD_COUNTS) == {
        "quad_group": 9, "direct_group": 0, "widened_group": 3, "direct_tail": 0, "partial_quad": 0,
        "channel_output": 12, "general_output": 12, "checked_output": 12}
    # over 8 columns (whole groups) up to 16 rows read the input directly
    whole = Layout(kind="FULLY_CONNECTED", positions=1, input_c=8, output_c=12, per_channel=False)
    assert _pick(layer_counts(np.ones((12, 8), np.int8), whole, sparse=False), ROW_QUAD_COUNTS)["direct_group"] == 6


def _depthwise_channels() -> np.ndarray:
    """3x3 taps of seven channels: three without nonzeros (one pass, a halfword and a byte run), the
    centre tap, the top-left tap, two taps, six taps."""
    matrix = np.zeros((7, 9), np.int8)
    matrix[3, 4] = 5
    matrix[4, 0] = -3
    matrix[5, [1, 7]] = 2
    matrix[6, [0, 2, 3, 5, 6, 8]] = 1
    return matrix


def test_packed_depthwise_counts_stride_1():
    # 4x4 input, SAME: 4x4 outputs (16), padded plane 6x6; rows of input and output step together (one run)
    layout = Layout(kind="DEPTHWISE_CONV_2D", positions=16, filter_h=3, filter_w=3, input_c=7, input_w=4,
                    pad_top=1, pad_left=1, input_h=4, padded_h=6, padded_w=6, output_c=7)
    counts = _pick(layer_counts(_depthwise_channels(), layout, sparse=True), PACKED_DEPTHWISE_COUNTS)
    assert counts == {
        "tapped_channel": 4, "single_channel": 2,
        # constants: two runs of 16; top-left tap: row 0 (4) and column 0 of rows 1-3 (3) in the padding
        "constant_group": 1, "fill_eight": 4, "fill_rest": 7,
        "tap_run": 2, "unit_tap_output": 16 + 11, "strided_tap_output": 0,  # centre: all 16, top-left: 3x3
        "copy_row": 8, "copy_byte": 32, "looped_output": 16, "multi_mac": (2 + 6) * 16}
    # the kernel runs its channels once per batch
    batched = dataclasses.replace(layout, positions=32, batches=2)
    assert _pick(layer_counts(_depthwise_channels(), batched, sparse=True), PACKED_DEPTHWISE_COUNTS) == {
        name: 2 * value for name, value in counts.items()}


def test_packed_depthwise_counts_stride_2_and_dense():
    # 6x6 input, SAME stride 2 (no padding before): 3x3 outputs, padded plane 7x7; a run per output row
    layout = Layout(kind="DEPTHWISE_CONV_2D", positions=9, filter_h=3, filter_w=3, input_c=7, input_w=6,
                    stride_h=2, stride_w=2, input_h=6, padded_h=7, padded_w=7, output_c=7)
    counts = layer_counts(_depthwise_channels(), layout, sparse=True)
    assert _pick(counts, PACKED_DEPTHWISE_COUNTS) == {
        "tapped_channel": 4, "single_channel": 2, "constant_group": 1, "fill_eight": 2, "fill_rest": 2,
        "tap_run": 6, "unit_tap_output": 0,
        "strided_tap_output": 18, "copy_row": 12, "copy_byte": 72, "looped_output": 9, "multi_mac": 72}
    # a dense kernel has no channel paths
    assert not any(_pick(layer_counts(_depthwise_channels(), layout, sparse=False), PACKED_DEPTHWISE_COUNTS).values())


def test_core_costs_add_on_their_core_only():
    # the portable kernel's code compiled for other cores: a longer prologue, a shorter inner loop
    cost = KernelCost(per_mac=5.0, per_output=0.0, per_tap_output=0.0, per_column=0.0, per_position=0.0,
                      per_call=30.0, core_costs=(("cortex-m7", "call", 10.0), ("cortex-m55", "call", 3.0),
                                                 ("cortex-m55", "mac", -1.0)))
    counts = dict.fromkeys(layer_counts(np.ones((2, 3), np.int8), Layout(kind="FULLY_CONNECTED", positions=1),
                                        sparse=False), 0) | {"mac": 6, "call": 1}
    assert cost.instructions(counts) == cost.instructions(counts, "cortex-m4") == 60.0
    assert cost.instructions(counts, "cortex-m7") == 70.0
    assert cost.instructions(counts, "cortex-m55") == 57.0
    # the core is the board's cpu: boards of one core share its calls
    assert Target.from_board("cortex-m7").cpu == "cortex-m7"
    assert Target.from_board("nucleo-f446re").cpu == Target.from_board("cortex-m4").cpu == "cortex-m4"


def test_estimates_follow_the_core():
    kernel = next(name for name, cost in KERNEL_COSTS.items() if cost.core_costs)
    cpu = KERNEL_COSTS[kernel].core_costs[0][0]
    layout = Layout(kind="FULLY_CONNECTED", positions=1, input_c=16, output_c=4)
    matrix = np.ones((4, 16), np.int8)
    counts = layer_counts(matrix, layout, sparse=False)
    added = sum(value * counts[name] for core, name, value in KERNEL_COSTS[kernel].core_costs if core == cpu)
    on_core = estimate_instructions(kernel, matrix, layout, sparse=False, cpu=cpu)
    assert abs(on_core - estimate_instructions(kernel, matrix, layout, sparse=False) - added) <= 1


def test_helium_fully_connected_counts():
    # pqk_fully_connected_s8_mve: passes of three rows x 16-byte chunks; a single batch's row of whole vectors
    # is read in place, any other row copied
    def counts(rows, columns, batches):
        layout = Layout(kind="FULLY_CONNECTED", positions=batches, input_c=columns, output_c=rows)
        return _pick(layer_counts(np.ones((rows, columns), np.int8), layout, sparse=False),
                     ("pass_chunk", "copied_column"))

    assert counts(4, 32, 1) == {"pass_chunk": 4, "copied_column": 0}
    assert counts(4, 32, 2) == {"pass_chunk": 8, "copied_column": 64}
    assert counts(3, 20, 1) == {"pass_chunk": 2, "copied_column": 20}


def test_taps_conv_row_blocks():
    # 3x10 outputs of a 3x3 SAME convolution: two blocks of eight pixels per output row, whatever the rows
    layout = Layout(kind="CONV_2D", positions=30, filter_h=3, filter_w=3, input_c=1, input_w=10, input_h=3,
                    pad_top=1, pad_left=1, padded_h=5, padded_w=12, output_c=2)
    counts = layer_counts(np.ones((2, 9), np.int8), layout, sparse=True)
    assert _pick(counts, ("row_block", "row_block_output")) == {"row_block": 6, "row_block_output": 12}


def test_narrow_fully_connected_counts():
    # pqk_fully_connected_s8_narrow_dsp: records of 1, 2, 4 or 8 pairs per output (8: reloaded), or quads x groups
    def counts(rows, columns, batches=1):
        layout = Layout(kind="FULLY_CONNECTED", positions=batches, input_c=columns, output_c=rows, per_channel=False)
        return _pick(layer_counts(np.ones((rows, columns), np.int8), layout, sparse=False),
                     ("narrow_pair", "narrow_eight_output", "narrow_quad", "narrow_quad_group"))

    assert counts(5, 1) == {"narrow_pair": 5, "narrow_eight_output": 0, "narrow_quad": 0, "narrow_quad_group": 0}
    assert counts(7, 3, 2) == {"narrow_pair": 28, "narrow_eight_output": 0, "narrow_quad": 0, "narrow_quad_group": 0}
    assert counts(3, 9) == {"narrow_pair": 24, "narrow_eight_output": 3, "narrow_quad": 0, "narrow_quad_group": 0}
    assert counts(8, 128) == {"narrow_pair": 0, "narrow_eight_output": 0, "narrow_quad": 2, "narrow_quad_group": 64}
    assert counts(6, 128)["narrow_quad"] == counts(20, 128)["narrow_quad"] == 0  # not whole quads; too many


def test_partial_channel_groups_and_order_taps():
    # pqk_mve.h's gather convolutions: 6 output channels (a partial group of four) at 10 pixels in blocks of four
    conv = Layout(kind="CONV_2D", positions=10, input_c=3, input_w=10, padded_w=10, output_c=6)
    assert layer_counts(np.ones((6, 3), np.int8), conv, sparse=True, block=4)["partial_channel_group"] == 12
    assert layer_counts(np.ones((8, 3), np.int8), conv, sparse=True, block=4)["partial_channel_group"] == 0
    # pqk_depthwise_conv2d_s8_csr_dsp checks the order of each of the 3x3 taps where the output shrinks (6x6 -> 3x3)
    strided = Layout(kind="DEPTHWISE_CONV_2D", positions=9, filter_h=3, filter_w=3, input_c=7, input_w=6,
                     stride_h=2, stride_w=2, input_h=6, padded_h=7, padded_w=7, output_c=7)
    same = Layout(kind="DEPTHWISE_CONV_2D", positions=16, filter_h=3, filter_w=3, input_c=7, input_w=4,
                  pad_top=1, pad_left=1, input_h=4, padded_h=6, padded_w=6, output_c=7)
    assert layer_counts(_depthwise_channels(), strided, sparse=True)["order_tap"] == 9
    assert layer_counts(_depthwise_channels(), same, sparse=True)["order_tap"] == 0
