"""Shared test setup: fixture paths, toolchain gating, hypothesis profiles."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).resolve().parents[1]
SHARED_MODELS = sorted(p for p in FIXTURES.glob("*.tflite"))

settings.register_profile("default", deadline=None, suppress_health_check=[HealthCheck.too_slow])
# make fuzz: 10,000 cases per test (hours for the host-compiling ones); PQK_FUZZ_EXAMPLES=N for a shorter run
settings.register_profile("fuzz", deadline=None, max_examples=int(os.environ.get("PQK_FUZZ_EXAMPLES", "10000")),
                          suppress_health_check=list(HealthCheck))
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

TOOLS = ("arm-none-eabi-gcc", "qemu-system-arm", "gcc")


def require_tools(*tools: str) -> None:
    """Skip when a tool is missing locally; fail in CI (PQK_REQUIRE_TOOLS=1) instead of skipping."""
    missing = [t for t in tools if shutil.which(t) is None]
    if not missing:
        return
    message = f"missing tools: {', '.join(missing)}"
    if os.environ.get("PQK_REQUIRE_TOOLS") == "1":
        pytest.fail(message + " (PQK_REQUIRE_TOOLS=1 forbids skipping)")
    pytest.skip(message)


@pytest.fixture
def toolchain() -> None:
    require_tools(*TOOLS)


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES


def arm_elf(path: Path, address: int = 0x0800_0000, machine: int = 40) -> Path:
    """A minimal 32-bit little-endian ELF: 16 bytes loaded at ``address``, entry there (Thumb bit set)."""
    import struct

    header = struct.pack("<16sHHIIIIIHHHHHH", b"\x7fELF\x01\x01\x01" + bytes(9), 2, machine, 1, address | 1,
                         52, 0, 0x0500_0200, 52, 32, 1, 40, 0, 0)
    segment = struct.pack("<IIIIIIII", 1, 84, address, address, 16, 16, 5, 4)
    path.write_bytes(header + segment + bytes(16))
    return path


@pytest.fixture
def without_sparse_mve(monkeypatch):
    """The sparse Helium kernels never chosen: tests of the DSP kernels on cortex-m55 keep running those."""
    import dataclasses

    from pqk_mcu.codegen.cost_model import KERNEL_COSTS

    for kernel in ("pqk_conv2d_s8_csr_mve", "pqk_conv2d_s8_csr_taps_mve", "pqk_depthwise_conv2d_s8_csr_mve",
                   "pqk_fully_connected_s8_csr_mve"):
        monkeypatch.setitem(KERNEL_COSTS, kernel, dataclasses.replace(KERNEL_COSTS[kernel], per_call=1e12))


@pytest.fixture
def without_column_pairs(monkeypatch):
    """pqk_fully_connected_s8_csr_pairs_dsp never chosen: tests of the CSR FC kernels on DSP cores keep running those."""
    import dataclasses

    from pqk_mcu.codegen.cost_model import FULLY_CONNECTED_PAIRS_DSP, KERNEL_COSTS

    cost = dataclasses.replace(KERNEL_COSTS[FULLY_CONNECTED_PAIRS_DSP], per_call=1e12)
    monkeypatch.setitem(KERNEL_COSTS, FULLY_CONNECTED_PAIRS_DSP, cost)


@pytest.fixture
def without_dead_channel_elimination(monkeypatch):
    """The IR pass eliminate_dead_channels left out of code generation: kernel tests whose chains plant empty
    rows keep their layers' full shapes (the pass would shrink them, tests/test_ir_passes_dead_channels.py)."""
    from pqk_mcu.ir import passes

    monkeypatch.setattr(passes, "eliminate_dead_channels", lambda graph: graph)
