"""The built-in keyword corpus: synthesized speech in the Google Speech Commands layout.

A *speaker* is one English voice of a speech engine (espeak-ng, flite or festival; ``tts.py``) with
one drawn setting: an espeak-ng voice variant (``+m3``, ``+f2``, ``+klatt``...), a pitch and a speed
where the engine allows them (``tts.py`` lists the units and ranges), and a level. Engines' output
levels differ (espeak's amplitude ``-a`` saturates the loudest variants above about ``-a 50``, so it
speaks at ``-a 40``), so each clip is scaled to its speaker's peak level (``level_db``, dBFS). Each
speaker says the ten keywords and ``unknown_per_speaker`` of the Speech Commands v2 auxiliary words,
one take each, with a drawn intonation (plain, ``.``, ``!`` or ``?``). Clips are 16 kHz mono int16,
1 s: the engine's output resampled to 16 kHz, trimmed to the speech and placed near the centre
(seeded +-100 ms offset). Corpus v2 is all three engines (the default); the demo's corpus is
espeak-ng alone (corpus v1, unchanged: its speakers and noise come from the same seeds).

Speakers, not clips, are split: about 10% of the speakers form the validation split and 10% the test
split, spread evenly over the engines and their voices, so no (voice, setting) pair is heard in two
splits. The split lists are ``validation_list.txt`` and ``testing_list.txt``; ``corpus.json`` records
the engines, every speaker's settings and split. ``_background_noise_/`` holds generated noise (white,
pink, brown, mains hum, clatter of transients, and babble of six synthetic talkers, voices of the
corpus's engines in turn, saying non-keywords), 60 s each.

The harder test split: every test clip again, mixed with a seeded slice of one of those noises at a
seeded 0-20 dB SNR (speech power over the word's active frames, ``augment.mix_at_snr``), under
``_test_noisy_/<word>/``, listed in ``testing_noisy_list.txt`` (``corpus.json`` records each clip's
noise and SNR). ``SpeechCommands(..., test_split="noisy")`` evaluates on it.

Everything follows from ``seed``: a speaker's settings depend only on (seed, voice, index), so a
larger ``variants`` keeps the smaller corpus's speakers (their splits may differ).
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
from scipy.signal import butter, sosfilt
from tqdm import tqdm

from pqk_mcu.atomic import atomic_dir
from pqk_mcu.errors import PqkError
from pqk_mcu.train.data.augment import mix_at_snr
from pqk_mcu.train.data.levels import speech_bounds
from pqk_mcu.audio.speech_commands_layout import (
    BACKGROUND_NOISE_DIR,
    CLIP_SAMPLES,
    KWS_WORDS,
    NOISY_TESTING_LIST,
    NOISY_TEST_DIR,
    SAMPLE_RATE,
    TESTING_LIST,
    VALIDATION_LIST,
)
from pqk_mcu.train.data.tts import (
    ENGINES, VOICES, Setting, Voice, draw_setting, engine_version, require_engine, speak)
from pqk_mcu.train.data.wav import read_wav, to_int16, write_wav

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
LEVEL_RANGE_DB = (-20.0, -1.0)  # speaker peak level, dBFS
DEFAULT_VARIANTS = 50
MAX_VARIANTS = 100
DEFAULT_UNKNOWN_PER_SPEAKER = 5
HELD_OUT_FRACTION = 0.1     # of the speakers, for validation and again for test
NOISE_SECONDS = 60
NOISE_RMS = 0.1
NOISY_TEST_SNR_DB = (0.0, 20.0)
DEFAULT_ENGINES = tuple(ENGINES)  # corpus v2
_PLACEMENT_JITTER = SAMPLE_RATE // 10
_TRIM_MARGIN = SAMPLE_RATE * 30 // 1000


@dataclass(frozen=True)
class Speaker:
    """One voice with one drawn setting (``tts.Setting``; pitch and speed in the engine's units), and its split."""

    name: str
    engine: str
    voice: str  # ``tts.VOICES`` key
    variant: str
    pitch: int | None
    speed: float
    level_db: float
    split: str = "train"

    @property
    def setting(self) -> Setting:
        return Setting(VOICES[self.voice], self.variant, self.pitch, self.speed)


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


def corpus_voices(engines: tuple[str, ...] = DEFAULT_ENGINES,
                  voices: tuple[str, ...] | None = None) -> tuple[Voice, ...]:
    """The voices of a corpus: ``voices`` (``tts.VOICES`` keys of ``engines``; small corpora for tests) or
    every voice of ``engines``."""
    unknown_engines = [engine for engine in engines if engine not in ENGINES]
    if unknown_engines or not engines:
        raise PqkError(f"engines must be among {', '.join(ENGINES)}; got {', '.join(engines) or 'none'}")
    if voices is None:
        return tuple(voice for voice in VOICES.values() if voice.engine in engines)
    allowed = [key for key, voice in VOICES.items() if voice.engine in engines]
    if not voices or any(key not in allowed for key in voices):
        raise PqkError(f"voices must be among {', '.join(allowed)}; got {', '.join(voices) or 'none'}")
    return tuple(VOICES[key] for key in voices)


def _spread_over_engines(voice_order: np.ndarray, voices: tuple[Voice, ...]) -> list[int]:
    """``voice_order`` regrouped into rounds of one voice per engine, keeping the order within an engine
    (one engine: unchanged)."""
    seen: dict[str, int] = {}
    ranked = []
    for position, v in enumerate(voice_order):
        engine = voices[int(v)].engine
        ranked.append((seen.get(engine, 0), position, int(v)))
        seen[engine] = seen.get(engine, 0) + 1
    return [v for _, _, v in sorted(ranked)]


def plan_speakers(variants: int, seed: int, voices: tuple[Voice, ...] | None = None) -> list[Speaker]:
    """``variants`` speakers per voice with their splits: 10% validation, 10% test, spread over the
    engines and voices. ``voices`` default to every voice of every engine (``corpus_voices``)."""
    voices = corpus_voices() if voices is None else voices
    if not 1 <= variants <= MAX_VARIANTS:
        raise PqkError(f"variants must be between 1 and {MAX_VARIANTS} per voice, got {variants}")
    if len(voices) * variants < 3:
        raise PqkError("the corpus needs at least 3 speakers (voices x variants) for train, validation and test")
    keys = list(VOICES)
    speakers: dict[tuple[int, int], Speaker] = {}
    for v, voice in enumerate(voices):
        for index in range(variants):
            rng = np.random.default_rng([seed, keys.index(voice.key), index])
            setting = draw_setting(voice, rng)
            speakers[v, index] = Speaker(
                name=f"{voice.key}-v{index:03d}", engine=voice.engine, voice=voice.key, variant=setting.variant,
                pitch=setting.pitch, speed=setting.speed, level_db=round(float(rng.uniform(*LEVEL_RANGE_DB)), 2))
    # Round-robin over voices (each voice's variants and the voice order shuffled, then the voice order
    # regrouped by engine), so that held-out speakers come from as many engines and voices as possible.
    rng = np.random.default_rng([seed, 1_000_003])
    orders = [rng.permutation(variants) for _ in voices]
    voice_order = _spread_over_engines(rng.permutation(len(voices)), voices)
    ordered = [speakers[v, int(orders[v][i])] for i in range(variants) for v in voice_order]
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


def _synthesize(utterances: list[Utterance]) -> list[np.ndarray]:
    """The int16 clips of one speaker's utterances (one engine call for them all)."""
    speaker = utterances[0].speaker
    speeches = speak(speaker.setting, [u.text for u in utterances])
    clips = []
    for utterance, speech in zip(utterances, speeches):
        clip = place_in_clip(speech, utterance.offset)
        peak = np.abs(clip).max()
        if peak == 0:
            raise PqkError(f"{speaker.engine} produced silence for {speaker.setting.describe()} {utterance.text!r}")
        clips.append(to_int16(clip * np.float32(10.0 ** (speaker.level_db / 20.0) / peak)))
    return clips


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


def _babble(voices: tuple[Voice, ...], rng: np.random.Generator, samples: int) -> np.ndarray:
    """Six synthetic talkers, each reading random non-keywords, overlapped; the talkers' voices take turns
    over the engines."""
    talkers = [voices[v] for v in _spread_over_engines(np.arange(len(voices)), voices)]
    out = np.zeros(samples)
    for talker in range(6):
        text = " ".join(rng.choice(BABBLE_WORDS, size=samples // SAMPLE_RATE * 3)) + "."
        speech = speak(draw_setting(talkers[talker % len(talkers)], rng, inclusive=False), [text])[0]
        speech = np.tile(speech, samples // max(len(speech), 1) + 1)
        start = int(rng.integers(0, len(speech) - samples + 1))
        out += speech[start : start + samples] / max(speech.std(), 1e-9)
    return out


def background_noises(voices: tuple[Voice, ...], seed: int, seconds: int = NOISE_SECONDS) -> dict[str, np.ndarray]:
    """The generated ``_background_noise_`` files, as float32 at RMS 0.1 (peak at most 0.99); babble in
    ``voices`` (every voice of the corpus's engines, also for a corpus of fewer voices)."""
    samples = seconds * SAMPLE_RATE
    rng = np.random.default_rng([seed, 3_000_017])
    noises = {
        "white_noise": _shaped_noise(rng, samples, 0.0),
        "pink_noise": _shaped_noise(rng, samples, 1.0),
        "brown_noise": _shaped_noise(rng, samples, 2.0),
        "mains_hum": _hum(rng, samples),
        "clatter": _clatter(rng, samples),
        "babble": _babble(voices, rng, samples),
    }
    out = {}
    for name, noise in noises.items():
        noise = noise - noise.mean()
        noise *= NOISE_RMS / noise.std()
        noise *= min(1.0, 0.99 / np.abs(noise).max())
        out[name] = noise.astype(np.float32)
    return out


def noisy_test_clips(test_paths: list[str], noises: dict[str, np.ndarray], root: Path,
                     seed: int) -> list[tuple[str, np.ndarray, dict]]:
    """Each test clip mixed with a seeded slice of a seeded noise at a seeded SNR in ``NOISY_TEST_SNR_DB``:
    (path under ``_test_noisy_``, int16 clip, its manifest entry)."""
    names = sorted(noises)
    out = []
    for number, path in enumerate(test_paths):
        rng = np.random.default_rng([seed, 4_000_037, number])
        name = names[int(rng.integers(len(names)))]
        snr_db = round(float(rng.uniform(*NOISY_TEST_SNR_DB)), 2)
        start = int(rng.integers(0, len(noises[name]) - CLIP_SAMPLES + 1))
        noisy = mix_at_snr(read_wav(root / path), noises[name][start : start + CLIP_SAMPLES], snr_db)
        noisy_path = f"{NOISY_TEST_DIR}/{path}"
        out.append((noisy_path, to_int16(noisy), {"path": noisy_path, "noise": name, "snr_db": snr_db}))
    return out


def _corpus_settings(variants: int, seed: int, unknown_per_speaker: int, voices: tuple[Voice, ...]) -> dict:
    """The manifest entries (corpus.json) that fix what ``synthesize_corpus`` writes."""
    return {"generator": "pqk-mcu data synth-kws", "seed": seed, "variants_per_voice": variants,
            "engines": [engine for engine in ENGINES if any(v.engine == engine for v in voices)],
            "voices": [voice.key for voice in voices], "keywords": list(KWS_WORDS),
            "unknown_words": list(UNKNOWN_WORDS), "unknown_per_speaker": unknown_per_speaker,
            "noisy_test_snr_db": list(NOISY_TEST_SNR_DB)}


def corpus_matches(out_dir: str | Path, variants: int = DEFAULT_VARIANTS, seed: int = 0,
                   unknown_per_speaker: int = DEFAULT_UNKNOWN_PER_SPEAKER, engines: tuple[str, ...] = DEFAULT_ENGINES,
                   voices: tuple[str, ...] | None = None) -> bool:
    """Whether ``out_dir`` already holds the corpus ``synthesize_corpus`` would write with these settings."""
    manifest_path = Path(out_dir) / "corpus.json"
    if not (Path(out_dir) / TESTING_LIST).is_file() or not manifest_path.is_file():
        return False
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError):
        return False
    wanted = _corpus_settings(variants, seed, unknown_per_speaker, corpus_voices(engines, voices))
    return isinstance(manifest, dict) and all(manifest.get(key) == value for key, value in wanted.items())


def synthesize_corpus(out_dir: str | Path, variants: int = DEFAULT_VARIANTS, seed: int = 0, jobs: int = 2,
                      unknown_per_speaker: int = DEFAULT_UNKNOWN_PER_SPEAKER,
                      engines: tuple[str, ...] = DEFAULT_ENGINES, voices: tuple[str, ...] | None = None,
                      progress: bool = True, force: bool = False) -> CorpusSummary:
    """Write the corpus of ``engines`` (or of ``voices``, keys of ``tts.VOICES``) to ``out_dir`` (replaced
    atomically when complete) and summarize it.

    An existing ``out_dir`` is replaced only when an earlier synthesis wrote it, or with ``force``."""
    began = time.monotonic()
    chosen = corpus_voices(tuple(engines), None if voices is None else tuple(voices))
    settings = _corpus_settings(variants, seed, unknown_per_speaker, chosen)
    for engine in settings["engines"]:
        require_engine(engine)
    speakers = plan_speakers(variants, seed, chosen)
    utterances = plan_utterances(speakers, seed, unknown_per_speaker)
    by_speaker: dict[str, list[Utterance]] = {}
    for utterance in utterances:
        by_speaker.setdefault(utterance.speaker.name, []).append(utterance)
    out_dir = Path(out_dir)
    with atomic_dir(out_dir, "data synth-kws", force) as tmp:
        for word in sorted({u.word for u in utterances}):
            (tmp / word).mkdir()
        pool = ThreadPoolExecutor(max_workers=max(1, jobs))
        try:
            with tqdm(total=len(utterances), desc="synthesize", unit="clip", disable=not progress) as bar:
                for spoken, clips in zip(by_speaker.values(), pool.map(_synthesize, by_speaker.values())):
                    for utterance, clip in zip(spoken, clips):
                        write_wav(tmp / utterance.relative_path, clip)
                    bar.update(len(spoken))
        finally:
            pool.shutdown(cancel_futures=True)  # on a failure, do not wait for hundreds of queued speakers
        lists = {}
        for list_name, split in ((VALIDATION_LIST, "val"), (TESTING_LIST, "test")):
            lists[split] = sorted(u.relative_path for u in utterances if u.speaker.split == split)
            (tmp / list_name).write_text("".join(f"{line}\n" for line in lists[split]))
        (tmp / BACKGROUND_NOISE_DIR).mkdir()
        noises = background_noises(corpus_voices(tuple(settings["engines"])), seed)
        for name, noise in noises.items():
            write_wav(tmp / BACKGROUND_NOISE_DIR / f"{name}.wav", noise)
        noisy = noisy_test_clips(lists["test"], noises, tmp, seed)
        for word in sorted({Path(path).parent.name for path, _, _ in noisy}):
            (tmp / NOISY_TEST_DIR / word).mkdir(parents=True)
        for path, clip, _ in noisy:
            write_wav(tmp / path, clip)
        (tmp / NOISY_TESTING_LIST).write_text("".join(f"{path}\n" for path, _, _ in noisy))
        manifest = {
            **settings,
            "engine_versions": {engine: engine_version(engine) for engine in settings["engines"]},
            "speakers": [asdict(s) for s in speakers],
            "noisy_test": [entry for _, _, entry in noisy],
        }
        (tmp / "corpus.json").write_text(json.dumps(manifest, indent=1) + "\n")
    counts = {split: sum(s.split == split for s in speakers) for split in ("train", "val", "test")}
    return CorpusSummary(out_dir, len(utterances), counts, time.monotonic() - began)
