"""Regenerate tests/golden/mfcc/speech.npz: twelve keywords spoken by espeak-ng, 16 kHz int16, trimmed.

tests/test_audio_frontend.py derives 200 clips from them (placement, loudness, polarity, speed, noise)
to measure the C front-ends against the reference MFCC on speech:
    .venv/bin/python tests/golden/mfcc/make_speech.py
"""

from pathlib import Path

import numpy as np

from pqk_mcu.train.data.levels import speech_bounds
from pqk_mcu.train.data.tts import VOICES as ENGINE_VOICES
from pqk_mcu.train.data.tts import Setting, speak
from pqk_mcu.train.data.wav import to_int16

WORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go", "seven", "marvin")
VOICES = ("en-gb", "en-us", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-us-nyc")


def main() -> None:
    arrays = {}
    for index, word in enumerate(WORDS):
        setting = Setting(ENGINE_VOICES[VOICES[index % len(VOICES)]], "f3" if index % 2 else "m3", pitch=35 + 4 * index,
                          speed=140 + 5 * index)
        speech = speak(setting, [word])[0]
        voice = setting.describe()
        start, end = speech_bounds(speech)
        word_audio = speech[max(start - 480, 0) : end + 480]
        arrays[f"{word}__{voice}"] = to_int16(word_audio / np.abs(word_audio).max() * 0.9)
    out = Path(__file__).with_name("speech.npz")
    np.savez_compressed(out, **arrays)
    print(f"wrote {out}: {', '.join(arrays)}")


if __name__ == "__main__":
    main()
