"""The Google Speech Commands format: 16 kHz one-second clips in word folders, and the names the data loaders
(train/), the front-end (audio/) and the KWS app's ``kws classify`` (pipeline/) share; here so that none of
them needs another (nor torch)."""

SAMPLE_RATE = 16000
CLIP_SAMPLES = 16000
KWS_WORDS = ("down", "go", "left", "no", "off", "on", "right", "stop", "up", "yes")
SILENCE_LABEL = "_silence_"
UNKNOWN_LABEL = "_unknown_"
KWS_CLASSES = KWS_WORDS + (SILENCE_LABEL, UNKNOWN_LABEL)
BACKGROUND_NOISE_DIR = "_background_noise_"
VALIDATION_LIST = "validation_list.txt"
TESTING_LIST = "testing_list.txt"
NOISY_TEST_DIR = "_test_noisy_"
NOISY_TESTING_LIST = "testing_noisy_list.txt"
