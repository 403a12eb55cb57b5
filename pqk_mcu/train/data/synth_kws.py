"""The built-in keyword corpus: espeak-ng speech in the Google Speech Commands layout.

A *speaker* is one native English voice of espeak-ng with one drawn variant: an espeak voice
variant (``+m3``, ``+f2``, ``+klatt``...), pitch (``-p``), speed (``-s``) and level. espeak's amplitude
``-a`` is a plain gain after which the loudest variants saturate (above about ``-a 50``), so speech is
synthesized at ``-a 40`` and each clip is then scaled to its speaker's peak level (``level_db``, dBFS).
Each speaker says the ten keywords and ``unknown_per_speaker`` of the Speech Commands v2 auxiliary
words, one take each, with a drawn intonation (plain, ``.``, ``!`` or ``?``). Clips are 16 kHz mono
int16, 1 s: espeak's 22050 Hz output resampled (``resample_poly`` 320/441), trimmed to the speech
and placed near the centre (seeded +-100 ms offset).

Speakers, not clips, are split: about 10% of the speakers form the validation split and 10% the test
split, spread evenly over the voices, so no (voice, variant) pair is heard in two splits. The split
lists are ``validation_list.txt`` and ``testing_list.txt``; ``corpus.json`` records every speaker's
settings and split. ``_background_noise_/`` holds generated noise (white, pink, brown, mains hum,
clatter of transients, and babble of six synthetic talkers saying non-keywords), 60 s each.

Everything follows from ``seed``: a speaker's settings depend only on (seed, voice, index), so a
larger ``variants`` keeps the smaller corpus's speakers (their splits may differ).
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
from scipy.signal import butter, resample_poly, sosfilt
from tqdm import tqdm

from pqk_mcu.atomic import atomic_dir
from pqk_mcu.errors import PqkError, ToolMissingError
from pqk_mcu.train.data.levels import speech_bounds
from pqk_mcu.train.data.speech_commands import (
    BACKGROUND_NOISE_DIR, CLIP_SAMPLES, KWS_WORDS, SAMPLE_RATE, TESTING_LIST, VALIDATION_LIST)
from pqk_mcu.train.data.wav import to_int16, write_wav

ESPEAK = "espeak-ng"
ESPEAK_RATE = 22050

# The eight native English voices of espeak-ng 1.51 (its own gmw/ voice files; the mbrola "en" voices
# need separately installed diphone data and the others are English with a foreign accent).
VOICES = (
    "en-gb",           # English (Great Britain)
    "en-us",           # English (America)
    "en-gb-scotland",  # English (Scotland)
    "en-gb-x-rp",      # English (Received Pronunciation)
    "en-gb-x-gbclan",  # English (Lancaster)
    "en-gb-x-gbcwmd",  # English (West Midlands)
    "en-029",          # English (Caribbean)
    "en-us-nyc",       # English (America, New York City)
)

# espeak-ng voice variants that sound like a person (robot, whisper, croak and novelty variants left out).
VARIANTS = (
    "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f2", "f3", "f4", "f5",
    "klatt", "klatt2", "klatt3", "klatt4", "klatt5", "klatt6",
    "Alex", "Alicia", "Andrea", "Andy", "Annie", "Denis", "Diogo", "Gene", "Gene2", "Henrique", "Hugo",
    "Jacky", "Lee", "Marco", "Mario", "Michael", "Mike", "Nguyen", "adam", "anika", "antonio", "aunty",
    "belinda", "benjamin", "boris", "caleb", "david", "ed", "edward", "edward2", "grandma", "grandpa",
    "gustave", "iven", "iven2", "iven3", "iven4", "john", "linda", "marcelo", "max", "michel", "miguel",
    "norbert", "pablo", "paul", "pedro", "quincy", "rob", "robert", "sandro", "shelby", "steph", "steph2",
    "steph3", "travis", "victor", "zac",
)

# The auxiliary (non-keyword) words of Speech Commands v2.
UNKNOWN_WORDS = (
    "backward", "bed", "bird", "cat", "dog", "eight", "five", "follow", "forward", "four", "happy", "house",
    "learn", "marvin", "nine", "one", "seven", "sheila", "six", "three", "tree", "two", "visual", "wow", "zero",
)

# Babble vocabulary: everyday words that are neither keywords nor their homophones ("know", "write"...).
BABBLE_WORDS = (
    "the", "a", "we", "will", "have", "been", "there", "this", "time", "people", "water", "morning", "number",
    "paper", "little", "about", "because", "always", "maybe", "table", "window", "garden", "coffee", "music",
    "later", "friend", "family", "together", "weather", "station", "minute", "really", "very", "small", "big",
    "summer", "winter", "market", "kitchen", "city", "question", "answer", "river", "train", "letter", "evening",
    "should", "could", "would", "they", "their", "them", "with", "from", "when", "where", "what", "which",
)

INTONATIONS = ("", ".", "!", "?")
PITCH_RANGE = (20, 80)      # espeak -p, 0..99 (50 default)
SPEED_RANGE = (120, 210)    # espeak -s, words per minute (175 default)
ESPEAK_AMPLITUDE = 40       # espeak -a, 0..200 (100 default); headroom for the loudest variant (ed, 1.9x)
LEVEL_RANGE_DB = (-20.0, -1.0)  # speaker peak level, dBFS
DEFAULT_VARIANTS = 50
MAX_VARIANTS = 100
DEFAULT_UNKNOWN_PER_SPEAKER = 5
HELD_OUT_FRACTION = 0.1     # of the speakers, for validation and again for test
NOISE_SECONDS = 60
NOISE_RMS = 0.1
_PLACEMENT_JITTER = SAMPLE_RATE // 10
_TRIM_MARGIN = SAMPLE_RATE * 30 // 1000


@dataclass(frozen=True)
class Speaker:
    """One (voice, variant) pair with its espeak settings and split."""

    name: str
    voice: str
    variant: str
    pitch: int
    speed: int
    level_db: float
    split: str = "train"

    @property
    def espeak_voice(self) -> str:
        return f"{self.voice}+{self.variant}"


@dataclass(frozen=True)
class Utterance:
    speaker: Speaker
    word: str
    text: str
    offset: int  # seeded placement jitter in samples

    @property
    def relative_path(self) -> str:
        return f"{self.word}/{self.speaker.name}_nohash_0.wav"


@dataclass(frozen=True)
class CorpusSummary:
    out_dir: Path
    clips: int
    speakers: dict[str, int]
    seconds: float


def require_espeak() -> str:
    """Path of espeak-ng, after checking that it has the eight English voices."""
    path = shutil.which(ESPEAK)
    if path is None:
        raise ToolMissingError("espeak-ng is not installed (Debian/Ubuntu: apt-get install espeak-ng)")
    listing = subprocess.run([path, "--voices=en"], capture_output=True, text=True, check=False)
    if listing.returncode != 0:
        raise ToolMissingError(f"espeak-ng --voices failed: {listing.stderr.strip()}")
    available = {line.split()[1] for line in listing.stdout.splitlines()[1:] if len(line.split()) > 1}
    missing = [voice for voice in VOICES if voice not in available]
    if missing:
        raise ToolMissingError(f"espeak-ng lacks the English voices {', '.join(missing)}")
    return path


def plan_speakers(variants: int, seed: int, voices: tuple[str, ...] = VOICES) -> list[Speaker]:
    """``variants`` speakers per voice with their splits: 10% validation, 10% test, spread over the voices.

    ``voices`` must be drawn from ``VOICES``; fewer voices only make small corpora for tests.
    """
    if not 1 <= variants <= MAX_VARIANTS:
        raise PqkError(f"variants must be between 1 and {MAX_VARIANTS} per voice, got {variants}")
    unknown_voices = [voice for voice in voices if voice not in VOICES]
    if unknown_voices or not voices:
        raise PqkError(f"voices must be among {', '.join(VOICES)}; got {', '.join(voices) or 'none'}")
    if len(voices) * variants < 3:
        raise PqkError("the corpus needs at least 3 speakers (voices x variants) for train, validation and test")
    speakers: dict[tuple[int, int], Speaker] = {}
    for v, voice in enumerate(voices):
        for index in range(variants):
            rng = np.random.default_rng([seed, VOICES.index(voice), index])
            speakers[v, index] = Speaker(
                name=f"{voice}-v{index:03d}", voice=voice, variant=str(rng.choice(VARIANTS)),
                pitch=int(rng.integers(PITCH_RANGE[0], PITCH_RANGE[1] + 1)),
                speed=int(rng.integers(SPEED_RANGE[0], SPEED_RANGE[1] + 1)),
                level_db=round(float(rng.uniform(*LEVEL_RANGE_DB)), 2))
    # Round-robin over voices (each voice's variants and the voice order shuffled), so that held-out
    # speakers come from as many voices as possible.
    rng = np.random.default_rng([seed, 1_000_003])
    orders = [rng.permutation(variants) for _ in voices]
    voice_order = rng.permutation(len(voices))
    ordered = [speakers[int(v), int(orders[v][i])] for i in range(variants) for v in voice_order]
    held_out = max(1, round(HELD_OUT_FRACTION * len(ordered)))
    splits = ["test"] * held_out + ["val"] * held_out + ["train"] * (len(ordered) - 2 * held_out)
    assigned = {s.name: split for s, split in zip(ordered, splits)}
    return [replace(s, split=assigned[s.name]) for s in speakers.values()]


def plan_utterances(speakers: list[Speaker], seed: int, unknown_per_speaker: int) -> list[Utterance]:
    """Every speaker's keywords and drawn unknown words, each with its intonation and placement jitter."""
    utterances = []
    for number, speaker in enumerate(speakers):
        rng = np.random.default_rng([seed, 2_000_003, number])
        unknown = rng.choice(UNKNOWN_WORDS, size=min(unknown_per_speaker, len(UNKNOWN_WORDS)), replace=False)
        for word in (*KWS_WORDS, *sorted(str(w) for w in unknown)):
            text = word + str(rng.choice(INTONATIONS))
            utterances.append(Utterance(speaker, word, text, int(rng.integers(-_PLACEMENT_JITTER, _PLACEMENT_JITTER + 1))))
    return utterances


def _parse_espeak_wav(data: bytes, what: str) -> np.ndarray:
    """Samples of espeak's streamed WAV (its RIFF and data sizes are placeholders, so read to the end)."""
    if len(data) < 44 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise PqkError(f"espeak-ng produced no WAV for {what}")
    position = 12
    while position + 8 <= len(data):
        chunk, size = data[position : position + 4], struct.unpack("<I", data[position + 4 : position + 8])[0]
        if chunk == b"fmt ":
            _, channels, rate, _, _, bits = struct.unpack("<HHIIHH", data[position + 8 : position + 24])
            if (channels, rate, bits) != (1, ESPEAK_RATE, 16):
                raise PqkError(f"espeak-ng output for {what} is {channels} ch {rate} Hz {bits} bit, "
                               f"expected mono {ESPEAK_RATE} Hz 16 bit")
        elif chunk == b"data":
            payload = data[position + 8 :]
            return np.frombuffer(payload[: len(payload) // 2 * 2], dtype="<i2")
        position += 8 + size
    raise PqkError(f"espeak-ng output for {what} has no audio")


def espeak(espeak_path: str, voice: str, text: str, pitch: int = 50, speed: int = 175) -> np.ndarray:
    """Speech of ``text`` as float32 at 16 kHz."""
    command = [espeak_path, "-v", voice, "-p", str(pitch), "-s", str(speed), "-a", str(ESPEAK_AMPLITUDE), "--stdout", text]
    result = subprocess.run(command, capture_output=True, check=False)
    what = f"{voice} {text!r}"
    if result.returncode != 0:
        raise PqkError(f"espeak-ng failed for {what}: {result.stderr.decode(errors='replace').strip()}")
    samples = _parse_espeak_wav(result.stdout, what).astype(np.float32) / np.float32(32768.0)
    return resample_poly(samples, 320, 441).astype(np.float32)  # 22050 Hz -> 16000 Hz


def place_in_clip(speech: np.ndarray, offset: int) -> np.ndarray:
    """Trim to the speech (+30 ms), centre it in 1 s moved by ``offset`` where it fits."""
    start, end = speech_bounds(speech)
    if end <= start:
        return np.zeros(CLIP_SAMPLES, np.float32)
    start, end = max(start - _TRIM_MARGIN, 0), min(end + _TRIM_MARGIN, len(speech))
    word = speech[start:end]
    if len(word) > CLIP_SAMPLES:  # slow speech of a long word: keep the middle second
        cut = (len(word) - CLIP_SAMPLES) // 2
        word = word[cut : cut + CLIP_SAMPLES]
    slack = CLIP_SAMPLES - len(word)
    position = int(np.clip(slack // 2 + offset, 0, slack))
    clip = np.zeros(CLIP_SAMPLES, np.float32)
    clip[position : position + len(word)] = word
    return clip


def _synthesize(espeak_path: str, utterance: Utterance) -> np.ndarray:
    speaker = utterance.speaker
    speech = espeak(espeak_path, speaker.espeak_voice, utterance.text, speaker.pitch, speaker.speed)
    clip = place_in_clip(speech, utterance.offset)
    peak = np.abs(clip).max()
    if peak == 0:
        raise PqkError(f"espeak-ng produced silence for {speaker.espeak_voice} {utterance.text!r}")
    return to_int16(clip * np.float32(10.0 ** (speaker.level_db / 20.0) / peak))


def _shaped_noise(rng: np.random.Generator, samples: int, exponent: float) -> np.ndarray:
    """Gaussian noise with power spectrum ~ 1/f**exponent above 20 Hz (0 white, 1 pink, 2 brown)."""
    spectrum = np.fft.rfft(rng.standard_normal(samples))
    frequencies = np.fft.rfftfreq(samples, 1.0 / SAMPLE_RATE)
    spectrum *= np.where(frequencies >= 20.0, np.maximum(frequencies, 20.0) ** (-exponent / 2.0), 0.0)
    return np.fft.irfft(spectrum, n=samples)


def _hum(rng: np.random.Generator, samples: int) -> np.ndarray:
    """Mains hum: 50 Hz and its odd-heavy harmonics with slow level drift, over a faint pink floor."""
    t = np.arange(samples) / SAMPLE_RATE
    hum = sum((0.6 if h % 2 else 0.25) / h * np.sin(2 * np.pi * 50.0 * h * t + rng.uniform(0, 2 * np.pi))
              for h in range(1, 10))
    drift = 1.0 + 0.2 * np.sin(2 * np.pi * 0.1 * t + rng.uniform(0, 2 * np.pi))
    floor = _shaped_noise(rng, samples, 1.0)
    return hum * drift + 0.05 * floor / floor.std()


def _clatter(rng: np.random.Generator, samples: int) -> np.ndarray:
    """Dishes-like clatter: band-passed noise bursts with 5-60 ms decays, about three a second."""
    out = 0.02 * rng.standard_normal(samples)
    for start in np.sort(rng.integers(0, samples, size=3 * samples // SAMPLE_RATE)):
        length = int(SAMPLE_RATE * 0.25)
        decay = rng.uniform(0.005, 0.06)
        low = rng.uniform(800, 3000)
        sos = butter(2, [low, min(low * rng.uniform(1.5, 3.0), 7500)], btype="band", fs=SAMPLE_RATE, output="sos")
        burst = sosfilt(sos, rng.standard_normal(length)) * np.exp(-np.arange(length) / (decay * SAMPLE_RATE))
        end = min(start + length, samples)
        out[start:end] += rng.uniform(0.3, 1.0) * burst[: end - start] / np.abs(burst).max()
    return out


def _babble(espeak_path: str, rng: np.random.Generator, samples: int) -> np.ndarray:
    """Six synthetic talkers, each reading random non-keywords, overlapped."""
    out = np.zeros(samples)
    for talker in range(6):
        text = " ".join(rng.choice(BABBLE_WORDS, size=samples // SAMPLE_RATE * 3)) + "."
        speech = espeak(espeak_path, f"{VOICES[talker % len(VOICES)]}+{rng.choice(VARIANTS)}", text,
                        int(rng.integers(*PITCH_RANGE)), int(rng.integers(*SPEED_RANGE)))
        speech = np.tile(speech, samples // max(len(speech), 1) + 1)
        start = int(rng.integers(0, len(speech) - samples + 1))
        out += speech[start : start + samples] / max(speech.std(), 1e-9)
    return out


def background_noises(espeak_path: str, seed: int, seconds: int = NOISE_SECONDS) -> dict[str, np.ndarray]:
    """The generated ``_background_noise_`` files, as float32 at RMS 0.1 (peak at most 0.99)."""
    samples = seconds * SAMPLE_RATE
    rng = np.random.default_rng([seed, 3_000_017])
    noises = {
        "white_noise": _shaped_noise(rng, samples, 0.0),
        "pink_noise": _shaped_noise(rng, samples, 1.0),
        "brown_noise": _shaped_noise(rng, samples, 2.0),
        "mains_hum": _hum(rng, samples),
        "clatter": _clatter(rng, samples),
        "babble": _babble(espeak_path, rng, samples),
    }
    out = {}
    for name, noise in noises.items():
        noise = noise - noise.mean()
        noise *= NOISE_RMS / noise.std()
        noise *= min(1.0, 0.99 / np.abs(noise).max())
        out[name] = noise.astype(np.float32)
    return out


def _corpus_settings(variants: int, seed: int, unknown_per_speaker: int, voices: tuple[str, ...]) -> dict:
    """The manifest entries (corpus.json) that fix what ``synthesize_corpus`` writes."""
    return {"generator": "pqk-mcu data synth-kws", "seed": seed, "variants_per_voice": variants,
            "voices": list(voices), "keywords": list(KWS_WORDS), "unknown_words": list(UNKNOWN_WORDS),
            "unknown_per_speaker": unknown_per_speaker}


def corpus_matches(out_dir: str | Path, variants: int = DEFAULT_VARIANTS, seed: int = 0,
                   unknown_per_speaker: int = DEFAULT_UNKNOWN_PER_SPEAKER, voices: tuple[str, ...] = VOICES) -> bool:
    """Whether ``out_dir`` already holds the corpus ``synthesize_corpus`` would write with these settings."""
    manifest_path = Path(out_dir) / "corpus.json"
    if not (Path(out_dir) / TESTING_LIST).is_file() or not manifest_path.is_file():
        return False
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError):
        return False
    wanted = _corpus_settings(variants, seed, unknown_per_speaker, voices)
    return isinstance(manifest, dict) and all(manifest.get(key) == value for key, value in wanted.items())


def synthesize_corpus(out_dir: str | Path, variants: int = DEFAULT_VARIANTS, seed: int = 0, jobs: int = 2,
                      unknown_per_speaker: int = DEFAULT_UNKNOWN_PER_SPEAKER, voices: tuple[str, ...] = VOICES,
                      progress: bool = True, force: bool = False) -> CorpusSummary:
    """Write the corpus to ``out_dir`` (replaced atomically when complete) and summarize it.

    An existing ``out_dir`` is replaced only when an earlier synthesis wrote it, or with ``force``."""
    began = time.monotonic()
    espeak_path = require_espeak()
    speakers = plan_speakers(variants, seed, tuple(voices))
    utterances = plan_utterances(speakers, seed, unknown_per_speaker)
    out_dir = Path(out_dir)
    with atomic_dir(out_dir, "data synth-kws", force) as tmp:
        for word in sorted({u.word for u in utterances}):
            (tmp / word).mkdir()
        pool = ThreadPoolExecutor(max_workers=max(1, jobs))
        try:
            clips = pool.map(lambda u: _synthesize(espeak_path, u), utterances)
            for utterance, clip in tqdm(zip(utterances, clips), total=len(utterances), desc="espeak-ng",
                                        unit="clip", disable=not progress):
                write_wav(tmp / utterance.relative_path, clip)
        finally:
            pool.shutdown(cancel_futures=True)  # on a failure, do not wait for thousands of queued clips
        for list_name, split in ((VALIDATION_LIST, "val"), (TESTING_LIST, "test")):
            lines = sorted(u.relative_path for u in utterances if u.speaker.split == split)
            (tmp / list_name).write_text("".join(f"{line}\n" for line in lines))
        (tmp / BACKGROUND_NOISE_DIR).mkdir()
        for name, noise in background_noises(espeak_path, seed).items():
            write_wav(tmp / BACKGROUND_NOISE_DIR / f"{name}.wav", noise)
        version = subprocess.run([espeak_path, "--version"], capture_output=True, text=True, check=False).stdout
        manifest = {
            **_corpus_settings(variants, seed, unknown_per_speaker, voices),
            "espeak_ng": version.split("Data at:")[0].strip(),
            "speakers": [asdict(s) for s in speakers],
        }
        (tmp / "corpus.json").write_text(json.dumps(manifest, indent=1) + "\n")
    counts = {split: sum(s.split == split for s in speakers) for split in ("train", "val", "test")}
    return CorpusSummary(out_dir, len(utterances), counts, time.monotonic() - began)
