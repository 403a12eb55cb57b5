"""Board files: every shipped board loads, and a malformed file is rejected naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pqk_mcu.boards import BOARDS_DIR, board_names, emulated_board_names, flashable_board_names, load_board
from pqk_mcu.errors import PqkError
from pqk_mcu.runner.arm import render_linker_script

EMULATED = {
    "cortex-m3": "mps2-an385", "cortex-m4": "mps2-an386", "cortex-m7": "mps2-an500",
    "cortex-m33": "mps2-an505", "cortex-m55": "mps3-an547",
    "nucleo-f446re": "netduinoplus2", "stm32f4-discovery": "netduinoplus2",
}
REAL_PARTS = {  # name: (flash bytes, RAM bytes) from the ST datasheets
    "nucleo-f446re": (512 * 1024, 128 * 1024),
    "nucleo-l4r5zi": (2048 * 1024, 640 * 1024),
    "stm32f4-discovery": (1024 * 1024, 128 * 1024),
}


def test_every_board_loads_and_is_consistent():
    assert set(board_names()) == set(EMULATED) | set(REAL_PARTS)
    for name in board_names():
        board = load_board(name)
        assert board.name == name
        assert f"-mcpu={board.cpu}" in board.arch_flags and "-mthumb" in board.arch_flags
        assert board.has_fpu == ("-mfloat-abi=hard" in board.arch_flags)
        assert board.stack_bytes < board.ram.size
    assert {name: load_board(name).qemu_machine for name in emulated_board_names()} == EMULATED
    assert load_board("nucleo-l4r5zi").qemu_machine is None


def test_real_parts_have_datasheet_memory():
    for name, (flash, ram) in REAL_PARTS.items():
        board = load_board(name)
        assert (board.flash.origin, board.flash.size) == (0x08000000, flash)
        assert (board.ram.origin, board.ram.size) == (0x20000000, ram)
        assert board.console.kind == "usart" and board.console.base is not None


def test_features_follow_the_cores():
    assert not load_board("cortex-m3").has_dsp
    assert all(load_board(n).has_dsp for n in ("cortex-m4", "cortex-m7", "cortex-m33", "cortex-m55"))
    assert [n for n in board_names() if load_board(n).has_mve] == ["cortex-m55"]


def test_flash_targets_and_usart_serial_come_from_the_board_files():
    assert flashable_board_names() == sorted(REAL_PARTS)
    f446 = load_board("nucleo-f446re")
    assert f446.flash_targets.pyocd == "stm32f446retx"
    assert f446.flash_targets.openocd == ("-f", "board/st_nucleo_f4.cfg")
    assert {name: load_board(name).console.qemu_serial for name in board_names()
            if load_board(name).console.qemu_serial is not None} == {"nucleo-f446re": 1, "stm32f4-discovery": 1}


def test_board_by_path_and_unknown_name(tmp_path):
    path = tmp_path / "my-board.yaml"
    path.write_text((BOARDS_DIR / "cortex-m4.yaml").read_text())
    assert load_board(path).ram == load_board("cortex-m4").ram
    with pytest.raises(PqkError, match="unknown board 'cortex-m99'; known boards: cortex-m3"):
        load_board("cortex-m99")


def _mutated(tmp_path: Path, mutate) -> Path:
    data = yaml.safe_load((BOARDS_DIR / "cortex-m4.yaml").read_text())
    mutate(data)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _delete(*keys):
    def mutate(data):
        for key in keys[:-1]:
            data = data[key]
        del data[keys[-1]]
    return mutate


def _set(value, *keys):
    def mutate(data):
        for key in keys[:-1]:
            data = data[key]
        data[keys[-1]] = value
    return mutate


@pytest.mark.parametrize(
    "mutate, field, problem",
    [
        (_delete("memory", "flash", "size"), "memory.flash.size", "is missing"),
        (_set("big", "memory", "ram", "size"), "memory.ram.size", "must be an integer"),
        (_set(0, "memory", "ram", "size"), "memory.ram.size", "must be an integer"),
        (_set({"origin": 0, "size": 4096, "speed": 1}, "memory", "flash"), "memory.flash.speed", "not a known field"),
        (_set(0x100, "memory", "ram", "origin"), "memory.ram", "overlaps memory.flash"),
        (_set("yes", "has_dsp"), "has_dsp", "must be true or false"),
        (_delete("cpu"), "cpu", "is missing"),
        (_set(["-mcpu=cortex-m4", "-mthumb", "-O3"], "arch_flags"), "arch_flags", "'-O3'"),
        (_set(["-mcpu=cortex-m7", "-mthumb"], "arch_flags"), "arch_flags", "-mcpu=cortex-m4"),
        (_set(1004, "stack_bytes"), "stack_bytes", "multiple of 8"),
        (_set(0x400000, "stack_bytes"), "stack_bytes", "smaller than memory.ram.size"),
        (_set({"kind": "uart"}, "console"), "console.kind", "must be one of semihosting, usart"),
        (_set({"kind": "usart"}, "console"), "console.base", "is missing"),
        (_set(42, "qemu_machine"), "qemu_machine", "QEMU machine name or null"),
        (_set(1, "flash_wait_states"), "flash_wait_states", "not a known field"),
        (_set({"kind": "semihosting", "qemu_serial": 1}, "console"), "console.qemu_serial", "only applies"),
        (_set({"kind": "usart", "base": 0x40004400, "qemu_serial": 9}, "console"), "console.qemu_serial", "port 0-3"),
        (_delete("flash_targets"), "flash_targets", "is missing"),
        (_set({"pyocd": "stm32f407vgtx"}, "flash_targets"), "flash_targets.openocd", "is missing"),
        (_set({"pyocd": "x", "openocd": "board/x.cfg"}, "flash_targets"), "flash_targets.openocd", "non-empty list"),
    ],
)
def test_bad_board_file_names_the_field(tmp_path, mutate, field, problem):
    path = _mutated(tmp_path, mutate)
    with pytest.raises(PqkError) as error:
        load_board(path)
    message = str(error.value)
    assert str(path) in message and f"field '{field}'" in message and problem in message
    assert "\n" not in message


def test_not_yaml_is_rejected(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("name: [unclosed\n")
    with pytest.raises(PqkError, match="not valid YAML"):
        load_board(path)
    path.write_text("- just\n- a list\n")
    with pytest.raises(PqkError, match="must be a YAML mapping"):
        load_board(path)


def test_linker_script_comes_from_the_memory_map():
    script = render_linker_script(load_board("cortex-m33"))
    assert "FLASH (rx) : ORIGIN = 0x10000000, LENGTH = 0x00400000" in script
    assert "RAM (rwx) : ORIGIN = 0x38000000, LENGTH = 0x00400000" in script
    assert ". += 0x2000;" in script
    small = render_linker_script(load_board("nucleo-f446re"))
    assert "ORIGIN = 0x08000000, LENGTH = 0x00080000" in small and "LENGTH = 0x00020000" in small
