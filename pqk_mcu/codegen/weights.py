"""Weight storage formats: dense int8 and CSR (``pqk_mcu.codegen.cost_model`` picks one per layer).

A weighted layer is a matrix [rows][cols] with one row per output channel: CONV_2D rows run over
(kh, kw, cin), DEPTHWISE_CONV_2D rows over (kh, kw), FULLY_CONNECTED rows over the input features.
CSR keeps the nonzeros of each row in ascending column order; column indices use the narrowest
unsigned type that holds them. In flash the rows are delimited by one byte per row (its number of
nonzeros) when no row has more than 255 nonzeros, else by row pointers in the narrowest type
(``CsrMatrix.row_index``); kernels walk the rows in order, which both forms serve.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pqk_mcu.errors import PqkError

WEIGHT_FORMATS = ("auto", "dense", "csr")


@dataclass(frozen=True)
class CsrMatrix:
    """CSR of an int8 matrix; ``columns`` and ``row_ptr`` already in their narrowest dtypes."""

    shape: tuple[int, int]
    values: np.ndarray
    columns: np.ndarray
    row_ptr: np.ndarray

    @property
    def row_index(self) -> tuple[str, np.ndarray]:
        """The row delimiters stored in flash: ("row_len_u8", lengths) when every row has at most
        255 nonzeros, else ("row_ptr_u16" / "row_ptr_u32", row_ptr); the name is the pqk_csr_s8_t field."""
        lengths = np.diff(self.row_ptr.astype(np.int64))
        if lengths.size and lengths.max() > 0xFF:
            return ("row_ptr_u16" if self.row_ptr.dtype == np.uint16 else "row_ptr_u32"), self.row_ptr
        return "row_len_u8", lengths.astype(np.uint8)

    @property
    def nbytes(self) -> int:
        return self.values.nbytes + self.index_bytes

    @property
    def index_bytes(self) -> int:
        return self.columns.nbytes + self.row_index[1].nbytes

    def to_dense(self) -> np.ndarray:
        dense = np.zeros(self.shape, dtype=np.int8)
        for row in range(self.shape[0]):
            begin, end = int(self.row_ptr[row]), int(self.row_ptr[row + 1])
            dense[row, self.columns[begin:end].astype(np.int64)] = self.values[begin:end]
        return dense


def encode_csr(matrix: np.ndarray) -> CsrMatrix:
    matrix = np.asarray(matrix, dtype=np.int8)
    if matrix.ndim != 2:
        raise ValueError(f"CSR needs a 2-D matrix, got shape {matrix.shape}")
    rows, cols = matrix.shape
    row_index, columns = np.nonzero(matrix)
    counts = np.bincount(row_index, minlength=rows)
    row_ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    column_dtype = np.uint8 if cols <= 256 else np.uint16
    if cols > 65536:
        raise PqkError(f"a weight row of {cols} columns does not fit 16-bit CSR column indices")
    row_dtype = np.uint16 if row_ptr[-1] <= 0xFFFF else np.uint32
    return CsrMatrix(
        shape=(rows, cols),
        values=matrix[row_index, columns].astype(np.int8),
        columns=columns.astype(column_dtype),
        row_ptr=row_ptr.astype(row_dtype),
    )

