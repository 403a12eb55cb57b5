"""WAV input for `pqk-mcu kws run` (formats, resampling, one-line errors) and `pqk-mcu flash --dry-run`."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from scipy.io import wavfile

from conftest import arm_elf, require_tools
from pqk_mcu.audio.wav import read_wav_16k
from pqk_mcu.cli import main
from pqk_mcu.errors import PqkError
from pqk_mcu.runner.flash import flash_command

TONE = (np.sin(2 * np.pi * 440 * np.arange(16000) / 16000) * 12000).astype(np.int16)


def test_16k_mono_int16_is_read_unchanged(tmp_path):
    path = tmp_path / "a.wav"
    wavfile.write(path, 16000, TONE)
    np.testing.assert_array_equal(read_wav_16k(path), TONE)


@pytest.mark.parametrize("rate", [8000, 44100, 48000])
def test_other_rates_are_resampled(tmp_path, rate):
    path = tmp_path / "a.wav"
    t = np.arange(rate) / rate
    wavfile.write(path, rate, (np.sin(2 * np.pi * 440 * t) * 12000).astype(np.int16))
    samples = read_wav_16k(path)
    assert samples.dtype == np.int16 and abs(samples.size - 16000) <= 1
    spectrum = np.abs(np.fft.rfft(samples.astype(float)))
    assert abs(np.argmax(spectrum) * 16000 / samples.size - 440) < 3


def test_stereo_8bit_and_float_are_converted(tmp_path):
    stereo = tmp_path / "stereo.wav"
    wavfile.write(stereo, 16000, np.stack([TONE, TONE // 2], axis=1))
    np.testing.assert_allclose(read_wav_16k(stereo), (TONE.astype(float) * 0.75).round(), atol=1)
    eight = tmp_path / "eight.wav"
    wavfile.write(eight, 16000, (TONE // 256 + 128).astype(np.uint8))
    np.testing.assert_allclose(read_wav_16k(eight), (TONE // 256) * 256, atol=1)
    floats = tmp_path / "float.wav"
    wavfile.write(floats, 16000, TONE.astype(np.float32) / 32768)
    np.testing.assert_array_equal(read_wav_16k(floats), TONE)


def _wav_header(format_tag: int, bits: int, data: bytes) -> bytes:
    fmt = struct.pack("<HHIIHH", format_tag, 1, 16000, 16000 * bits // 8, bits // 8, bits)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "no such WAV file"),
        (b"hello, this is text", "not a WAV file"),
        (_wav_header(1, 16, b""), "holds no samples"),
        (_wav_header(2, 4, b"\0" * 100), "unreadable or corrupt WAV"),  # ADPCM
    ],
)
def test_bad_wavs_are_one_line_errors(tmp_path, content, message):
    path = tmp_path / "x.wav"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(PqkError, match=message) as error:
        read_wav_16k(path)
    assert "\n" not in str(error.value) and str(path) in str(error.value)


def test_flash_dry_run_prints_the_exact_command(tmp_path, capsys):
    elf = arm_elf(tmp_path / "kws.elf")
    main(["flash", "--board", "nucleo-f446re", str(elf), "--dry-run", "--tool", "openocd"])
    assert capsys.readouterr().out.strip() == (
        f"openocd -f board/st_nucleo_f4.cfg -c 'program {{{elf}}} verify reset exit'"
    )
    assert flash_command(elf, "nucleo-f446re", "pyocd") == [
        "pyocd", "flash", "--target", "stm32f446retx", "--format", "elf", str(elf)]
    main(["flash", "--board", "nucleo-f446re", str(elf), "--dry-run"])
    assert capsys.readouterr().out.split()[0] in ("pyocd", "openocd")


def test_flash_errors(tmp_path, capsys):
    elf = arm_elf(tmp_path / "kws.elf")
    with pytest.raises(SystemExit) as exit_info:
        main(["flash", "--board", "cortex-m4", str(elf), "--dry-run"])
    assert exit_info.value.code == 2 and "not flashable" in capsys.readouterr().err
    with pytest.raises(PqkError, match="no such ELF"):
        flash_command(tmp_path / "missing.elf", "nucleo-f446re")


@pytest.mark.parametrize("board", ["nucleo-f446re", "stm32f4-discovery", "nucleo-l4r5zi"])
def test_flash_runs_the_installed_openocd_with_valid_board_scripts(tmp_path, capsys, board):
    """The project installs OpenOCD; with no debug probe attached it must get past our board scripts and fail
    at the probe, reported as one line and exit 2."""
    require_tools("openocd")
    elf = arm_elf(tmp_path / "kws.elf")
    with pytest.raises(SystemExit) as exit_info:
        main(["flash", "--board", board, str(elf), "--tool", "openocd"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and len(err.strip().splitlines()) == 1
    assert err.startswith("error: openocd failed") and "Can't find" not in err and "Error" in err

