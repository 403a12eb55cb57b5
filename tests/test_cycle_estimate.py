"""The counting plugin's instruction classes and Cortex-M4 cycle estimate on a hand-checked sequence.

firmware/apps/cycle_probe runs a fixed Thumb-2 sequence between the markers; every instruction's
class and cycles (Cortex-M4 TRM table 3-1, zero wait states, pipeline refill P = 2, divide 12) are
worked out below, so a change to the decoder or to the model shows up here as a number.
"""

from __future__ import annotations

import pytest

from pqk_mcu.runner.arm import build_firmware
from pqk_mcu.runner.qemu import count_instructions

REFILL = 2
# (instruction, class, cycles) from pqk_bench_begin's entry to pqk_bench_end's entry.
PROBE = [
    ("bx lr  (pqk_bench_begin returns)", "branch", 1 + REFILL),
    ("mov r7, sp", "other", 1),
    ("movs r0, #4", "other", 1),
    ("str r0, [r7]", "store", 2),
    ("ldr r1, [r7]  (after a store)", "load", 2),
    ("ldr r2, [r7, r1]  (addressed by the loaded r1)", "load", 2),
    ("ldr.w r3, [r7, #8]  (independent: pipelined)", "load", 1),
    ("str r3, [r7, #12]  (after an independent load: pipelined)", "store", 1),
    ("ldrd r4, r5, [r7]", "load_double", 3),
    ("strd r4, r5, [r7, #8]", "store_double", 3),
    ("push {r0, r1}", "store_multiple", 1 + 2),
    ("pop {r0, r1}", "load_multiple", 1 + 2),
    ("muls r0, r1, r0", "multiply", 1),
    ("smlad r0, r1, r2, r0", "multiply", 1),
    ("smull r4, r5, r1, r2", "multiply", 1),
    ("udiv r0, r1, r1", "divide", 12),
    ("movs r6, #3", "other", 1),
    *[("subs r6, #1", "other", 1)] * 3,
    *[("bne 1b  (taken)", "branch", 1 + REFILL)] * 2,
    ("bne 1b  (falls through)", "branch", 1),
    ("cbz r6, 2f  (taken)", "branch", 1 + REFILL),
    ("bl pqk_bench_end", "branch", 1 + REFILL),
]
CLASSES = ("load", "store", "load_multiple", "store_multiple", "load_double", "store_double",
           "multiply", "divide", "branch", "other")


@pytest.fixture(scope="module")
def probe_elf(tmp_path_factory):
    work = tmp_path_factory.mktemp("cycle-probe")
    (work / "gen").mkdir()
    (work / "gen" / "model.h").write_text("/* the cycle probe runs no model */\n")
    return build_firmware(work / "gen", "cortex-m4", app="cycle_probe", out_dir=work / "build",
                          runtime_sources=[]).elf


def test_probe_classes_and_cycles_match_the_hand_count(toolchain, probe_elf):
    counts = count_instructions(probe_elf, "cortex-m4", b"")
    assert counts["total"] == len(PROBE)
    profile = counts["profile"]
    assert profile["instruction_classes"] == {name: sum(c == name for _, c, _ in PROBE) for name in CLASSES}
    assert profile["estimated_m4_cycles"] == sum(cycles for *_, cycles in PROBE)
    assert profile["taken_branches"] == 5


def test_probe_counts_are_deterministic(toolchain, probe_elf):
    assert count_instructions(probe_elf, "cortex-m4", b"") == count_instructions(probe_elf, "cortex-m4", b"")
