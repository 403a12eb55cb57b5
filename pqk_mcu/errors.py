"""User-facing errors: the CLI prints ``error: <message>`` on one line and exits with code 2."""


class PqkError(Exception):
    """Bad input the user can fix (malformed or unsupported model, board too small, wrong WAV...)."""


class UnsupportedModelError(PqkError):
    """The model uses an op, dtype or shape pqk-mcu does not support."""


class ToolMissingError(PqkError):
    """An external tool (cross compiler, QEMU, espeak-ng) is not installed."""
