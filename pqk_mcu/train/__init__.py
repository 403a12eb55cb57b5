"""PQK training: models, pruning, int8 QAT, the two PQK phases, distributed loop, int8 export.

    data/        task data behind ``load_task`` (KWS corpus, MNIST, digits, CIFAR-10)
    layers.py    exportable layers (conv+BN, FC, add, pool, reshape) with student/teacher views
    models.py    DS-CNN, Res8, TC-ResNet8, ResNet-8, MNIST CNN
    qat.py       fake quantization with TFLite's arithmetic, observers
    pruning.py   gradual magnitude pruning (cubic schedule)
    pqk.py       phase-2 losses and gradient routing
    trainer.py   the loop: schedules, checkpoints/resume, NaN stop, DDP
    export.py    student -> int8 Graph, PyTorch integer simulation
    run.py       one run end to end (train, export .tflite, verify, metrics)
    experiment.py  the comparison grid (results.json, table, plot)
"""

from importlib.util import find_spec

from pqk_mcu.errors import PqkError

# Import names of the [train] extra (torch, matplotlib, mlxtend, scikit-learn).
TRAINING_MODULES = ("torch", "matplotlib", "mlxtend", "sklearn")


def require_training_stack() -> None:
    """Raise a ``PqkError`` naming the install command when the [train] extra is missing."""
    missing = [module for module in TRAINING_MODULES if find_spec(module) is None]
    if missing:
        raise PqkError(f"training needs {', '.join(missing)}, which pqk-mcu installs without: "
                       "pip install 'pqk-mcu[train]'")
