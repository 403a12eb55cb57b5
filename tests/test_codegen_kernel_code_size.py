"""Kernel code counted once per model: the measured table (benchmarks/perf/kernel_code_size.py) and
cost_model.choose_model_kernels, alone and in the lowering."""

from __future__ import annotations

import dataclasses
import shutil
import sys
from pathlib import Path

import pytest

from pqk_mcu.codegen import core_graph
from pqk_mcu.codegen.cost_model import (FULLY_CONNECTED_NARROW_DSP, KERNEL_COSTS, MODEL_CHOICE_MAX_SLOWDOWN, KernelChoice,
                                        Target, choose_model_kernels, kernel_code_bytes)
from pqk_mcu.codegen.kernel_code_bytes import KERNEL_CODE_BYTES
from pqk_mcu.codegen.lower import lower_graph
from pqk_mcu.frontends.tflite import load_tflite
from pqk_mcu.ir.prune import prune_by_magnitude

PERF = Path(__file__).resolve().parents[1] / "benchmarks" / "perf"
TOYCAR = Path(__file__).parent / "fixtures" / "mlperf_tiny_ad_toycar_float_io.tflite"
CODE_BYTES = {"big_fast": 4000, "small_fast": 3000, "portable": 300}


def _choice(kernel: str, instructions: int) -> KernelChoice:
    return KernelChoice(format="dense", kernel=kernel, sparsity=0.0, estimated_instructions=instructions,
                        weight_bytes=0, index_bytes=0, csr=None)


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="arm-none-eabi-gcc not installed")
def test_table_is_what_the_compiler_gives_on_cortex_m4():
    sys.path.insert(0, str(PERF))
    from kernel_code_size import core_flags, measure

    assert measure("cortex-m4", core_flags()["cortex-m4"]) == KERNEL_CODE_BYTES["cortex-m4"]


def test_a_kernel_of_one_tiny_layer_is_dropped_and_one_of_a_big_layer_stays():
    big = [_choice("big_fast", 10000), _choice("portable", 50000)]
    tiny = [_choice("small_fast", 10), _choice("big_fast", 30), _choice("portable", 50)]
    other_tiny = [_choice("portable", 20), _choice("big_fast", 25)]
    chosen = choose_model_kernels([big, tiny, other_tiny], CODE_BYTES)
    # small_fast's 3,000 bytes for 20 instructions: its layer joins big_fast (cheaper there than on portable);
    # portable's 300 bytes outweigh the 5 instructions its layer saves; big_fast's layer would cost 4,000 more
    assert [choice.kernel for choice in chosen] == ["big_fast", "big_fast", "big_fast"]
    assert [choice.kernel for choice in choose_model_kernels([big, tiny], {})] == ["big_fast", "small_fast"]


def test_code_is_dropped_only_while_the_layers_slow_down_by_at_most_one_percent():
    tiny = [_choice("small_fast", 100), _choice("portable", 250)]
    assert [choice.kernel for choice in choose_model_kernels([tiny], CODE_BYTES)] == ["small_fast"]
    big = [_choice("portable", 19_800), _choice("small_fast", 30_000)]
    # 150 more instructions are within 1% of 19,900: small_fast's 3,000 bytes go
    assert [choice.kernel for choice in choose_model_kernels([big, tiny], CODE_BYTES)] == ["portable", "portable"]


def test_a_kernel_stays_where_its_layers_save_more_than_its_code():
    big = [_choice("big_fast", 1000), _choice("portable", 9000)]
    other_big = [_choice("portable", 5000), _choice("big_fast", 5500)]
    # dropping portable costs 500 instructions for 300 bytes, dropping big_fast 8,000 for 4,000
    assert [choice.kernel for choice in choose_model_kernels([big, other_big], CODE_BYTES)] == ["big_fast", "portable"]


def test_pruned_toycar_drops_the_dense_and_csr_fully_connected_kernels_on_cortex_m4(monkeypatch):
    # without pqk_fully_connected_s8_narrow_dsp, which would take the one layer (8 -> 128) the dense kernel runs
    cost = dataclasses.replace(KERNEL_COSTS[FULLY_CONNECTED_NARROW_DSP], per_call=1e12)
    monkeypatch.setitem(KERNEL_COSTS, FULLY_CONNECTED_NARROW_DSP, cost)
    core = core_graph(prune_by_magnitude(load_tflite(TOYCAR), 0.9))
    target = Target.from_board("cortex-m4")
    per_layer, _ = lower_graph(core, "auto", dataclasses.replace(target, cpu=""))
    per_model, _ = lower_graph(core, "auto", target)
    dropped = {layer.kernel for layer in per_layer} - {layer.kernel for layer in per_model}
    assert dropped == {"pqk_fully_connected_s8_dsp", "pqk_fully_connected_s8_csr_dsp"}
    before = sum(layer.estimated_instructions for layer in per_layer)
    added = sum(layer.estimated_instructions for layer in per_model) - before
    assert added <= MODEL_CHOICE_MAX_SLOWDOWN * before  # here faster: csr_dsp layers move to the pairs kernel
    assert added < sum(kernel_code_bytes(target)[kernel] for kernel in dropped)
