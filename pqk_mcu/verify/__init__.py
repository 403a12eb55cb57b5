"""Verification: compare a model's runs on two backends (given as callables) bit for bit, output by
output and, on a mismatch, layer by layer; random and file inputs for them."""

from pqk_mcu.verify.compare import (
    Backend,
    BackendResult,
    VerifyReport,
    compare_backends,
    compare_results,
    load_input_file,
    oracle_for,
    random_inputs,
    stream_random_inputs,
)

__all__ = [
    "Backend",
    "BackendResult",
    "VerifyReport",
    "compare_backends",
    "compare_results",
    "load_input_file",
    "oracle_for",
    "random_inputs",
    "stream_random_inputs",
]
