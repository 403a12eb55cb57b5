"""The speech engines of the keyword corpus: espeak-ng, flite and festival, as one table.

``ENGINES`` lists each engine's English voices; ``Engine.speak`` says a list of texts in one voice
setting and returns float32 speech at 16 kHz (each engine's output resampled, ``resample_poly``).
A voice setting is an espeak-ng variant (``+m3``; ``""`` for the other engines), a pitch and a speed,
in the engine's own units:

``espeak-ng``  pitch ``-p`` (0-99, 50 default), speed ``-s`` (words per minute, 175 default); every voice.
``flite``      pitch ``int_f0_target_mean`` (Hz), speed as a factor (``duration_stretch = 1 / speed``);
               ``rms`` ignores the pitch target, so its pitch is not set.
``festival``   pitch ``target_f0_mean`` of the diphone voices' ``int_lr_params`` (Hz), speed as a factor
               (the voice's ``Duration_Stretch`` divided by it; the HTS voice's ``-r`` rate). The HTS
               voice has no pitch setting. One festival process speaks all texts of a call.

A voice's ``key`` is unique over the engines (the espeak-ng voices keep their own names) and prefixes
its speakers' names. ``require_engine`` raises ``ToolMissingError`` naming the Debian package to install.
"""

from __future__ import annotations

import math
import shutil
import struct
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from scipy.signal import resample_poly

from pqk_mcu.errors import PqkError, ToolMissingError
from pqk_mcu.audio.speech_commands_layout import SAMPLE_RATE

ESPEAK_AMPLITUDE = 40  # espeak -a, 0..200 (100 default); headroom for the loudest variant (ed, 1.9x)

# espeak-ng voice variants that sound like a person (robot, whisper, croak and novelty variants left out).
ESPEAK_VARIANTS = (
    "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f2", "f3", "f4", "f5",
    "klatt", "klatt2", "klatt3", "klatt4", "klatt5", "klatt6",
    "Alex", "Alicia", "Andrea", "Andy", "Annie", "Denis", "Diogo", "Gene", "Gene2", "Henrique", "Hugo",
    "Jacky", "Lee", "Marco", "Mario", "Michael", "Mike", "Nguyen", "adam", "anika", "antonio", "aunty",
    "belinda", "benjamin", "boris", "caleb", "david", "ed", "edward", "edward2", "grandma", "grandpa",
    "gustave", "iven", "iven2", "iven3", "iven4", "john", "linda", "marcelo", "max", "michel", "miguel",
    "norbert", "pablo", "paul", "pedro", "quincy", "rob", "robert", "sandro", "shelby", "steph", "steph2",
    "steph3", "travis", "victor", "zac",
)


@dataclass(frozen=True)
class Voice:
    """One English voice of an engine and the ranges its speakers' settings are drawn from."""

    key: str
    engine: str
    name: str  # the engine's own name of the voice
    package: str  # the Debian package providing it
    pitch_range: tuple[int, int] | None  # None: the engine cannot set this voice's pitch
    speed_range: tuple[float, float]  # a range of ints is drawn as integers (espeak-ng's words per minute)
    variants: tuple[str, ...] = ("",)  # espeak-ng's voice variants; the other engines have none


@dataclass(frozen=True)
class Setting:
    """What one speaker sounds like: a voice, an espeak-ng variant, a pitch and a speed (engine units)."""

    voice: Voice
    variant: str
    pitch: int | None
    speed: float

    def describe(self) -> str:
        return f"{self.voice.name}+{self.variant}" if self.variant else self.voice.key


def draw_setting(voice: Voice, rng: np.random.Generator, inclusive: bool = True) -> Setting:
    """A seeded setting of ``voice``: variant, pitch and speed from its ranges (integer ranges
    ``inclusive`` of their upper end; corpus v1's babble talkers drew them exclusive)."""
    variant = str(rng.choice(voice.variants)) if len(voice.variants) > 1 else voice.variants[0]
    pitch = None
    if voice.pitch_range is not None:
        pitch = int(rng.integers(voice.pitch_range[0], voice.pitch_range[1] + inclusive))
    low, high = voice.speed_range
    if isinstance(low, int):
        speed: float = int(rng.integers(low, high + inclusive))
    else:
        speed = round(float(rng.uniform(low, high)), 2)
    return Setting(voice, variant, pitch, speed)


def _parse_wav(data: bytes, what: str, engine: str) -> tuple[np.ndarray, int]:
    """Samples (int16) and rate of a mono 16-bit WAV; read to the end of the data (espeak-ng streams its
    WAV with placeholder sizes)."""
    if len(data) < 44 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise PqkError(f"{engine} produced no WAV for {what}")
    position, rate = 12, None
    while position + 8 <= len(data):
        chunk, size = data[position : position + 4], struct.unpack("<I", data[position + 4 : position + 8])[0]
        if chunk == b"fmt ":
            _, channels, rate, _, _, bits = struct.unpack("<HHIIHH", data[position + 8 : position + 24])
            if (channels, bits) != (1, 16):
                raise PqkError(f"{engine} output for {what} is {channels} ch {bits} bit, expected mono 16 bit")
        elif chunk == b"data" and rate is not None:
            payload = data[position + 8 :]
            return np.frombuffer(payload[: len(payload) // 2 * 2], dtype="<i2"), rate
        position += 8 + size
    raise PqkError(f"{engine} output for {what} has no audio")


def _to_float_16k(data: bytes, what: str, engine: str) -> np.ndarray:
    samples, rate = _parse_wav(data, what, engine)
    samples = samples.astype(np.float32) / np.float32(32768.0)
    if rate == SAMPLE_RATE:
        return samples
    common = math.gcd(SAMPLE_RATE, rate)
    return resample_poly(samples, SAMPLE_RATE // common, rate // common).astype(np.float32)


def _wav_of(command: list[str], engine: str, what: str) -> np.ndarray:
    """Speech from a command that writes one WAV to stdout."""
    result = subprocess.run(command, capture_output=True, check=False)
    if result.returncode != 0:
        raise PqkError(f"{engine} failed for {what}: {result.stderr.decode(errors='replace').strip()}")
    return _to_float_16k(result.stdout, what, engine)


def _espeak(setting: Setting, texts: Sequence[str]) -> list[np.ndarray]:
    voice = setting.describe()
    options = ["-v", voice, "-p", str(setting.pitch), "-s", str(setting.speed), "-a", str(ESPEAK_AMPLITUDE)]
    return [_wav_of(["espeak-ng", *options, "--stdout", text], "espeak-ng", f"{voice} {text!r}") for text in texts]


def _flite(setting: Setting, texts: Sequence[str]) -> list[np.ndarray]:
    options = ["-voice", setting.voice.name, "--setf", f"duration_stretch={1.0 / setting.speed:.4f}"]
    if setting.pitch is not None:
        options += ["--setf", f"int_f0_target_mean={setting.pitch}"]
    return [_wav_of(["flite", *options, "-t", text, "-o", "/dev/stdout"], "flite", f"{setting.describe()} {text!r}")
            for text in texts]


def _scheme_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _festival(setting: Setting, texts: Sequence[str]) -> list[np.ndarray]:
    what = setting.describe()
    lines = [f"(voice_{setting.voice.name})",
             f"(Parameter.set 'Duration_Stretch (/ (Parameter.get 'Duration_Stretch) {setting.speed}))",
             f"(set! hts_engine_params (append hts_engine_params '((\"-r\" {setting.speed}))))"]
    if setting.pitch is not None:  # the first entry of an assoc list wins: the voice's std stays
        lines.append(f"(set! int_lr_params (cons '(target_f0_mean {setting.pitch}) int_lr_params))")
    with tempfile.TemporaryDirectory(prefix="pqk-festival-") as folder:
        paths = [Path(folder) / f"{number}.wav" for number in range(len(texts))]
        lines += [f"(utt.save.wave (utt.synth (Utterance Text {_scheme_string(text)})) "
                  f"{_scheme_string(str(path))} 'riff)" for text, path in zip(texts, paths)]
        result = subprocess.run(["festival", "--pipe"], input="\n".join(lines).encode(), capture_output=True,
                                check=False)
        missing = [text for text, path in zip(texts, paths) if not path.is_file()]
        if result.returncode != 0 or missing:
            detail = result.stderr.decode(errors="replace").strip().splitlines() or ["no audio written"]
            raise PqkError(f"festival failed for {what} {(missing or texts)[0]!r}: {detail[-1]}")
        return [_to_float_16k(path.read_bytes(), f"{what} {text!r}", "festival") for text, path in zip(texts, paths)]


@dataclass(frozen=True)
class Engine:
    """One speech program: its Debian package, how it speaks a setting's texts, how it lists its voices."""

    name: str
    package: str  # the Debian package of the program
    speak: Callable[[Setting, Sequence[str]], list[np.ndarray]]
    list_voices: Callable[[str], set[str]]  # program path -> names of its installed voices
    voices: tuple[Voice, ...]


def _espeak_voices(path: str) -> set[str]:
    listing = subprocess.run([path, "--voices=en"], capture_output=True, text=True, check=False)
    if listing.returncode != 0:
        raise ToolMissingError(f"espeak-ng --voices failed: {listing.stderr.strip()}")
    return {line.split()[1] for line in listing.stdout.splitlines()[1:] if len(line.split()) > 1}


def _flite_voices(path: str) -> set[str]:
    listing = subprocess.run([path, "-lv"], capture_output=True, text=True, check=False)
    return set(listing.stdout.partition(":")[2].split())


def _festival_voices(path: str) -> set[str]:
    listing = subprocess.run([path, "--pipe"], input="(print (voice.list))", capture_output=True, text=True,
                             check=False)
    return set(listing.stdout.replace("(", " ").replace(")", " ").split())


def _voices(engine: str, package: str, names: Sequence[str], **ranges) -> tuple[Voice, ...]:
    return tuple(Voice(name if engine == "espeak-ng" else f"{engine}-{name}", engine, name, package, **ranges)
                 for name in names)


# The eight native English voices of espeak-ng 1.51 (its own gmw/ voice files; the mbrola "en" voices
# need separately installed diphone data and the others are English with a foreign accent).
_ESPEAK_VOICES = _voices("espeak-ng", "espeak-ng", (
    "en-gb",           # English (Great Britain)
    "en-us",           # English (America)
    "en-gb-scotland",  # English (Scotland)
    "en-gb-x-rp",      # English (Received Pronunciation)
    "en-gb-x-gbclan",  # English (Lancaster)
    "en-gb-x-gbcwmd",  # English (West Midlands)
    "en-029",          # English (Caribbean)
    "en-us-nyc",       # English (America, New York City)
), pitch_range=(20, 80), speed_range=(120, 210), variants=ESPEAK_VARIANTS)
_STRETCH = (0.8, 1.25)  # flite and festival speed factors
_MALE_F0, _FEMALE_F0 = (85, 140), (140, 230)  # Hz, around the voices' own means (about 105 and 160)
_FESTIVAL_VOICES = (
    Voice("festival-kal", "festival", "kal_diphone", "festvox-kallpc16k", _MALE_F0, _STRETCH),
    Voice("festival-ked", "festival", "ked_diphone", "festvox-kdlpc16k", _MALE_F0, _STRETCH),
    Voice("festival-slt-hts", "festival", "cmu_us_slt_arctic_hts", "festvox-us-slt-hts", None, _STRETCH),
)

ENGINES = {engine.name: engine for engine in (
    Engine("espeak-ng", "espeak-ng", _espeak, _espeak_voices, _ESPEAK_VOICES),
    Engine("flite", "flite", _flite, _flite_voices,
           _voices("flite", "flite", ("kal", "kal16", "awb"), pitch_range=_MALE_F0, speed_range=_STRETCH)
           + _voices("flite", "flite", ("rms",), pitch_range=None, speed_range=_STRETCH)
           + _voices("flite", "flite", ("slt",), pitch_range=_FEMALE_F0, speed_range=_STRETCH)),
    Engine("festival", "festival", _festival, _festival_voices, _FESTIVAL_VOICES),
)}
# Every voice by key, espeak-ng's first: a voice's position seeds its speakers, so corpus v1's stay.
VOICES = {voice.key: voice for engine in ENGINES.values() for voice in engine.voices}


def require_engine(name: str) -> None:
    """Check that engine ``name`` and all of its voices are installed."""
    engine = ENGINES[name]
    path = shutil.which(engine.name)
    if path is None:
        raise ToolMissingError(f"{name} is not installed (Debian/Ubuntu: apt-get install {engine.package})")
    installed = engine.list_voices(path)
    missing = [voice for voice in engine.voices if voice.name not in installed]
    if missing:
        packages = " ".join(sorted({voice.package for voice in missing}))
        raise ToolMissingError(f"{name} lacks the English voices {', '.join(v.name for v in missing)} "
                               f"(Debian/Ubuntu: apt-get install {packages})")


def engine_version(name: str) -> str:
    """The engine's own version line (espeak-ng's without its data path)."""
    result = subprocess.run([name, "--version"], capture_output=True, text=True, check=False)
    lines = (result.stdout or result.stderr).strip().splitlines()
    return lines[-1].split("Data at:")[0].strip() if lines else "unknown"


def speak(setting: Setting, texts: Sequence[str]) -> list[np.ndarray]:
    """``texts`` spoken in ``setting``, float32 at 16 kHz each."""
    return ENGINES[setting.voice.engine].speak(setting, list(texts))
