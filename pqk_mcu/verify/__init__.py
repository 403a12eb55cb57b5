"""Verification: run a model on several backends (reference, TFLite Micro, host C, boards) and
compare their outputs and intermediate tensors bit for bit."""

from pqk_mcu.verify.backends import BACKENDS, get_backend, register_backend, register_resolver
from pqk_mcu.verify.compare import VerifyReport, load_input_file, random_inputs, stream_random_inputs, verify_model

__all__ = [
    "BACKENDS",
    "VerifyReport",
    "get_backend",
    "load_input_file",
    "random_inputs",
    "register_backend",
    "register_resolver",
    "stream_random_inputs",
    "verify_model",
]
