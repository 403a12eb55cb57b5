"""Render the front-end's constant tables (window, twiddles, sparse mel filterbank, DCT, log) into C.

The C front-end (firmware/frontend/) reads every constant from the generated pqk_mfcc_tables.c, so the
C and its numpy twins (mfcc_f32.py, mfcc_fixed.py) use the very same numbers: float32 values are written
with 9 significant digits, which round-trips a float32 exactly.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from pqk_mcu import __version__
from pqk_mcu.atomic import write_text_atomic
from pqk_mcu.audio import mfcc as ref
from pqk_mcu.audio import mfcc_f32 as f32
from pqk_mcu.audio import mfcc_fixed as fixed
from pqk_mcu.render import render_template
from pqk_mcu.resources import resource_dir

TABLES_C = resource_dir("firmware") / "frontend" / "pqk_mfcc_tables.c"


def _f32_literal(value: float) -> str:
    text = f"{value:.9g}"
    return (text if any(c in text for c in ".e") else text + ".0") + "f"


def _f32(values) -> list[str]:
    return [_f32_literal(float(v)) for v in np.asarray(values, np.float32).ravel()]


def _ints(values) -> list[str]:
    return [str(int(v)) for v in np.asarray(values).ravel()]


def table_context() -> dict:
    """Plain lists of C literals for the template, and the hash of all of them (the stamp)."""
    offsets = np.concatenate([[0], np.cumsum(f32.MEL_LENGTHS)[:-1]])
    tables = {
        "window_f32": _f32(ref.WINDOW),
        "window_q15": _ints(fixed.WINDOW_Q15),
        "twiddle_re_f32": _f32(f32.TWIDDLE_RE),
        "twiddle_im_f32": _f32(f32.TWIDDLE_IM),
        "twiddle_re_q30": _ints(fixed.TWIDDLE_Q30_RE),
        "twiddle_im_q30": _ints(fixed.TWIDDLE_Q30_IM),
        "mel_start": _ints(f32.MEL_STARTS),
        "mel_length": _ints(f32.MEL_LENGTHS),
        "mel_offset": _ints(offsets),
        "mel_weight_f32": _f32(np.concatenate(f32.MEL_WEIGHTS)),
        "mel_weight_q15": _ints(np.concatenate(fixed.MEL_WEIGHTS_Q15)),
        "dct_f32": _f32(ref.DCT_MATRIX),
        "dct_ln2_q24": _ints(fixed.DCT_LN2_Q24),
        "log2_q16": _ints(fixed.LOG2_TABLE_Q16),
        "bit_reverse": _ints(f32.BIT_REVERSE),
        "silent_f32": _f32(f32.SILENT_CEPSTRUM),
        "silent_q16": _ints(fixed.SILENT_CEPSTRUM_Q16),
    }
    scalars = {
        "log_offset_f32": _f32([ref.LOG_OFFSET])[0],
        "ln2_f32": _f32([f32.LN2])[0],
        "sqrt_half_f32": _f32([f32.SQRT_HALF])[0],
        "log_series_f32": _f32(f32.LOG_SERIES),
        "coeff0_row_sum_f32": _f32([f32.COEFF0_ROW_SUM])[0],
        "coeff0_row_sum_q24": str(fixed.COEFF0_ROW_SUM_Q24),
        "epsilon_q40": str(fixed.EPSILON_Q40),
    }
    digest = hashlib.sha256(repr(sorted({**tables, **scalars}.items())).encode()).hexdigest()[:16]
    return {"tables": tables, **scalars, "version": __version__, "tables_hash": digest}


def render_tables() -> str:
    return render_template("mfcc_tables.c.j2", table_context())


def write_tables(path: Path = TABLES_C) -> Path:
    """(Re)generate firmware/frontend/pqk_mfcc_tables.c; the committed file must equal this output."""
    write_text_atomic(path, render_tables())
    return path


if __name__ == "__main__":
    print(write_tables())
