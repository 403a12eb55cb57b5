"""Weight storage formats: dense int8 and CSR (``pqk_mcu.codegen.cost_model`` picks one per layer).

A weighted layer is a matrix [rows][cols] with one row per output channel: CONV_2D rows run over
(kh, kw, cin), DEPTHWISE_CONV_2D rows over (kh, kw), FULLY_CONNECTED rows over the input features.
CSR keeps the nonzeros of each row in ascending column order; column indices use the narrowest
unsigned type that holds them. In flash the rows are delimited by one byte per row (its number of
nonzeros) when no row has more than 255 nonzeros, else by row pointers in the narrowest type
(``CsrMatrix.row_index``); kernels walk the rows in order, which both forms serve.
pqk_fully_connected_s8_dsp takes the dense matrix in row quads (``encode_row_quads``): four rows'
words of four columns side by side, so that one pointer walks the weights in the order it reads them.
pqk_fully_connected_s8_narrow_dsp takes a header of its registers, then for at most 16 input features per row
one record of its doubled bias and doubled weights as int16 pairs, so that one LDM loads a row, for few outputs
the bias and row quads (``encode_narrow``).
The *_smlal kernels (cores without the DSP extension) take channel pairs (``encode_channel_pairs``): one
int32 word per two rows and column, so that one SMLAL multiplies both rows' weights with an input;
pqk_depthwise_conv2d_s8_mla takes its weights widened to int32 in groups of four channels
(``encode_channel_quads``), pqk_depthwise_conv2d_s8_dsp to int16 pairs in the same groups, in SXTB16's order
(``encode_channel_quads_s16``).
The dense *_mve kernels take row chunks (``encode_row_chunks``: three rows' 16-byte column chunks side
by side) and depthwise lane groups (``encode_depthwise_lanes``: 16 channels' taps per group).
The sparse *_csr_mve kernels gather their inputs: the convolution takes each row's nonzeros in chunks of
eight byte offsets from the window's origin and eight weights (``GatherCsr``, ``encode_gather``), the
depthwise one each nonzero tap's offset and weight (``GatherTaps``, ``encode_gather_taps``), the fully
connected one groups of four rows in chunks of 16 offsets within a panel of 256 inputs (``GatherRows``,
``encode_gather_rows``).
The *_csr_dsp kernels take packed CSR (``PackedCsr``): the same nonzeros with each row's bias,
multiplier and shift packed next to the row (about 7 bytes per row instead of 9 plus its length).
pqk_fully_connected_s8_csr_pairs_dsp takes column pairs (``ColumnPairs``, ``encode_column_pairs``): per row
the nonzeros in adjacent columns two at a time (an int16 value pair and the offset of its input pair),
the others one word each (value and offset), so that a pair costs one load and one SMLAD.
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


def encode_row_quads(matrix: np.ndarray) -> np.ndarray:
    """[rows][cols] int8 -> pqk_fully_connected_s8_dsp's order: rows in groups of four, each group as
    column groups of four, each column group as its four rows' 4-byte words (both dims zero-padded to
    a multiple of 4): byte (q, g, r, i) = matrix[4q + r][4g + i]."""
    rows, cols = matrix.shape
    padded = np.zeros((-(-rows // 4) * 4, -(-cols // 4) * 4), dtype=np.int8)
    padded[:rows, :cols] = matrix
    quads = padded.reshape(padded.shape[0] // 4, 4, padded.shape[1] // 4, 4)
    return np.ascontiguousarray(quads.transpose(0, 2, 1, 3)).reshape(-1)


NARROW_FEATURES = 16  # pqk_fully_connected_s8_narrow_dsp's records: at most this many inputs
NARROW_QUAD_OUTPUTS = 16  # and its quads: at most this many outputs
NARROW_QUADS_ENTRY = 8  # pqk_fully_connected_s8_narrow_dsp.c QUADS


def narrow_record_pairs(columns: int) -> int:
    """int16 pairs per row record of pqk_fully_connected_s8_narrow_dsp (its assembly's loop: 1, 2, 4 or 8)."""
    return 1 if columns == 1 else 2 if columns <= 4 else 4 if columns <= 8 else 8


def narrow_fits(rows: int, columns: int) -> bool:
    """pqk_fully_connected_s8_narrow_dsp holds the matrix: records (at most ``NARROW_FEATURES`` columns) or quads
    (whole column groups and row quads, at most ``NARROW_QUAD_OUTPUTS`` rows)."""
    return columns <= NARROW_FEATURES or (columns % 4 == 0 and rows % 4 == 0 and rows <= NARROW_QUAD_OUTPUTS)


def encode_narrow(matrix: np.ndarray, folded_bias: np.ndarray, multiplier: int, shift: int,
                  zero_point: int) -> np.ndarray:
    """[rows][cols] int8 (``narrow_fits``), the folded bias and the layer's requantization -> the uint32 words of
    pqk_fully_connected_s8_narrow_dsp: a header of its assembly's registers (multiplier, pqk_dsp.h's offset, then
    for records the loop count << 8 | right shift and the entry, for quads the right shift and
    ``NARROW_QUADS_ENTRY``), then records: per row 2 * bias and per column group g of four the pairs
    (2 W[4g], 2 W[4g + 2]) and (2 W[4g + 1], 2 W[4g + 3]) as (low, high) int16 halves, zero-padded to
    ``narrow_record_pairs`` pairs; or quads: the bias, then the rows in ``encode_row_quads``'s order. The caller
    guarantees |bias| + 128 * sum |W| < 2^30 (pqk_dsp.h's fast bounds), so 2 * bias fits."""
    rows, cols = matrix.shape
    right_shift = -shift
    offset = ((2 * zero_point + 1) << (right_shift - 1)) & 0xFFFFFFFF
    bias = np.asarray(folded_bias, dtype=np.int64)
    if cols > NARROW_FEATURES:
        header = [multiplier, offset, right_shift, NARROW_QUADS_ENTRY]
        body = [bias, encode_row_quads(matrix).view("<u4").astype(np.int64)]
    else:
        pairs = narrow_record_pairs(cols)
        groups = np.zeros((rows, pairs * 2), dtype=np.int64)  # the halves in the kernel's order
        padded = np.zeros((rows, -(-cols // 4) * 4), dtype=np.int64)
        padded[:, :cols] = 2 * matrix.astype(np.int64)
        halves = padded.reshape(rows, -1, 4)[:, :, [0, 2, 1, 3]].reshape(rows, -1)[:, :pairs * 2]
        groups[:, :halves.shape[1]] = halves
        records = np.empty((rows, 1 + pairs), dtype=np.int64)
        records[:, 0] = 2 * bias
        records[:, 1:] = (groups[:, 0::2] & 0xFFFF) | (groups[:, 1::2] & 0xFFFF) << 16
        header = [multiplier, offset, ((rows + 1) // 2 - 1) << 8 | right_shift,
                  2 * {1: 0, 2: 1, 4: 2, 8: 3}[pairs] + rows % 2]
        body = [records.reshape(-1)]
    return (np.concatenate([np.array(header, dtype=np.int64), *body]) & 0xFFFFFFFF).astype(np.uint32)


# Channel pairs (firmware/runtime/pqk_mla.h): word = w_even + w_odd * 2^PAIR_LANE_BITS.
PAIR_LANE_BITS = 23
PAIR_COLUMN_GROUP = 4  # the kernels' loop takes four columns per step


def channel_pair_lanes_fit(matrix: np.ndarray) -> bool:
    """Whether the low lane of every channel pair holds its sum for any int8 input: the kernels
    separate S_even + S_odd * 2^23 exactly when S_even is in [-2^22, 2^22), which 128 * sum |w_even|
    < 2^22 guarantees (S_odd needs no bound: |S_odd| < 2^31 for any row of up to 2^17 int8 weights)."""
    even_rows = np.abs(np.asarray(matrix, dtype=np.int64)[0::2]).sum(axis=1)
    return bool(128 * even_rows.max(initial=0) < 1 << (PAIR_LANE_BITS - 1))


def pixel_pair_lanes_fit(matrix: np.ndarray) -> bool:
    """Whether pqk_conv2d_s8_csr_wide_smlal's pixel pairs separate for any int8 input: its lanes hold twice
    the even pixel's sum (the wide stream's doubled values), which must stay in [-2^22, 2^22):
    2 * 128 * sum |w| < 2^22 for every row."""
    rows = np.abs(np.asarray(matrix, dtype=np.int64)).sum(axis=1)
    return bool(2 * 128 * rows.max(initial=0) < 1 << (PAIR_LANE_BITS - 1))


def encode_channel_pairs(matrix: np.ndarray) -> np.ndarray:
    """[rows][cols] int8 -> the *_smlal kernels' int32 words [(rows + 1) / 2][cols rounded up to a
    multiple of 4]: word (j, k) = matrix[2j][k] + matrix[2j + 1][k] * 2^23 (zero-padded rows and columns)."""
    rows, cols = matrix.shape
    padded = np.zeros((-(-rows // 2) * 2, -(-cols // PAIR_COLUMN_GROUP) * PAIR_COLUMN_GROUP), dtype=np.int64)
    padded[:rows, :cols] = matrix
    return (padded[0::2] + (padded[1::2] << PAIR_LANE_BITS)).astype(np.int32).reshape(-1)


def encode_channel_quads(matrix: np.ndarray) -> np.ndarray:
    """Depthwise [channels][taps] int8 -> pqk_depthwise_conv2d_s8_mla's int32 weights [(channels + 3) / 4][taps][4]:
    per group of four channels and tap the four channels' weights, widened so that one LDM loads them
    (the missing channels of the last group 0)."""
    channels, taps = matrix.shape
    padded = np.zeros((-(-channels // 4) * 4, taps), dtype=np.int32)
    padded[:channels] = matrix
    return np.ascontiguousarray(padded.reshape(-1, 4, taps).transpose(0, 2, 1)).reshape(-1)


def encode_channel_quads_s16(matrix: np.ndarray) -> np.ndarray:
    """Depthwise [channels][taps] int8 -> pqk_depthwise_conv2d_s8_dsp's int32 words [(channels + 3) / 4][taps][2]:
    per group of four channels and tap the int16 pairs (w0, w2) and (w1, w3), low halfword first (the missing
    channels of the last group 0): the words that SXTB16 of an input word and of its rotation by 8 bits meet."""
    quads = encode_channel_quads(matrix).reshape(-1, 2, 2).astype(np.int64)  # [group, tap][(w0, w1), (w2, w3)]
    words = (quads[:, 0, :] & 0xFFFF) | (quads[:, 1, :] << 16)
    return words.astype(np.int32).reshape(-1)


MVE_ROWS = 3  # PQK_MVE_ROWS of pqk_mve.h: output channels per pass of the dense *_mve kernels
MVE_LANES = 16  # int8 lanes of a Helium vector


def encode_row_chunks(matrix: np.ndarray) -> np.ndarray:
    """[rows][cols] int8 -> the dense *_mve kernels' order: rows in groups of MVE_ROWS, each group as
    column chunks of 16, each chunk as its rows' 16 bytes (both dims zero-padded):
    byte (g, c, r, i) = matrix[MVE_ROWS g + r][16 c + i]."""
    rows, cols = matrix.shape
    padded = np.zeros((-(-rows // MVE_ROWS) * MVE_ROWS, max(-(-cols // MVE_LANES), 1) * MVE_LANES), dtype=np.int8)
    padded[:rows, :cols] = matrix
    chunks = padded.reshape(padded.shape[0] // MVE_ROWS, MVE_ROWS, padded.shape[1] // MVE_LANES, MVE_LANES)
    return np.ascontiguousarray(chunks.transpose(0, 2, 1, 3)).reshape(-1)


def encode_depthwise_lanes(weights: np.ndarray, depth_multiplier: int) -> np.ndarray:
    """Depthwise weights [filter_h][filter_w][channels * depth_multiplier] -> pqk_depthwise_conv2d_s8_mve's
    order [multiplier][input channel group of 16][tap][16] (the last group zero-padded): byte (m, g, t, i)
    = weights[t][(16 g + i) * depth_multiplier + m]."""
    taps = weights.reshape(-1, weights.shape[-1])
    channels = taps.shape[1] // depth_multiplier
    groups = -(-channels // MVE_LANES)
    padded = np.zeros((taps.shape[0], depth_multiplier, groups * MVE_LANES), dtype=np.int8)
    padded[:, :, :channels] = taps.reshape(taps.shape[0], channels, depth_multiplier).transpose(0, 2, 1)
    lanes = padded.reshape(taps.shape[0], depth_multiplier, groups, MVE_LANES)
    return np.ascontiguousarray(lanes.transpose(1, 2, 0, 3)).reshape(-1)


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



# Packed CSR (the *_csr_dsp kernels): the per-channel requantization lives next to the rows.
PACKED_MULTIPLIER_BIT = 1 << 30  # every multiplier is in [2^30, 2^31): bit 30 is implied
PACKED_SHIFT_CODES = 4  # right shifts right_shift_base .. right_shift_base + 3 (2 bits)
DEPTHWISE_INFO_BITS = 8  # depthwise record: nonzeros << 4 | first column
# Depthwise layers whose right shifts spread over more than four values: three more record bits hold each
# row's shift code above its two bits in multiplier_shift (codes 0-31).
DEPTHWISE_SHIFT_HIGH_BITS = 3
DEPTHWISE_MAX_COLUMNS = 15  # both fields 4 bits
CONV_MAX_COLUMNS = 64  # 6 column bits in a value_columns entry


@dataclass(frozen=True)
class PackedCsr:
    """A CSR matrix whose per-channel requantization is packed for the *_csr_dsp kernels.

    ``records``: one little-endian record of ``record_bytes`` (3 or 4) per row, ``bias <<
    info_bits | info`` (bias signed), after one pad byte when records are 3 bytes (the kernels load
    the 4 bytes that end with a record).
    Depthwise rows (filters of up to 15 taps): info = nonzeros << 4 | first column; a row without
    nonzeros has its constant output as bias, and ``columns`` holds only the columns after each row's
    first. Where the right shifts spread over more than four values, info_bits is 11 and info holds
    the shift code's high bits too: (code >> 2) << 8 | nonzeros << 4 | first column.
    ``multiplier_shift``: per row with nonzeros (depthwise) or per row (conv), ``(multiplier - 2^30)
    | (code & 3) << 30``, code = right shift - right_shift_base.
    Conv rows: bias = twice the folded bias, no info (``info_bits`` 0); the kernel reads the nonzeros
    from ``value_columns``, one uint16 per nonzero, ``2 * value << 7 | (last of its row) << 6 | column``
    (9-bit two's complement; so at most 64 columns), and a row without nonzeros has one zero entry:
    one pointer walks value and column, no row end or emptiness test to keep, and the kernel
    accumulates twice the sum, which its requantization wants."""

    values: np.ndarray  # int8
    columns: np.ndarray  # uint8
    multiplier_shift: np.ndarray  # uint32
    records: np.ndarray  # uint8
    record_bytes: int
    info_bits: int
    right_shift_base: int
    value_columns: np.ndarray | None = None  # uint16, conv rows (then values and columns are not stored)

    @property
    def value_bytes(self) -> int:
        """Value bytes in flash; ``value_columns`` counts as one value and one column byte per entry."""
        return int(self.values.nbytes if self.value_columns is None else self.value_columns.size)

    @property
    def index_bytes(self) -> int:
        """Column bytes in flash (see ``value_bytes``)."""
        return int(self.columns.nbytes if self.value_columns is None else self.value_columns.size)

    @property
    def requant_bytes(self) -> int:
        return int(self.multiplier_shift.nbytes + self.records.nbytes)


def _records(bias: np.ndarray, info: np.ndarray, info_bits: int) -> tuple[np.ndarray, int] | None:
    """Little-endian records bias << info_bits | info in 3 bytes (after a pad byte) when every bias fits, else 4; None
    when not even 4 bytes hold them."""
    for record_bytes in (3, 4):
        limit = 1 << (8 * record_bytes - info_bits - 1)
        if bias.size == 0 or (bias.min() >= -limit and bias.max() < limit):
            words = ((bias.astype(np.int64) << info_bits) | info.astype(np.int64)) & 0xFFFFFFFF
            raw = words.astype("<u4").view(np.uint8).reshape(-1, 4)[:, :record_bytes].reshape(-1)
            # 3-byte records: a leading pad byte, so that every record ends a 4-byte load
            return np.concatenate([np.zeros(4 - record_bytes, dtype=np.uint8), raw]), record_bytes
    return None


def _multiplier_shift(multiplier: np.ndarray, shift: np.ndarray,
                      codes: int = PACKED_SHIFT_CODES) -> tuple[np.ndarray, int] | None:
    """(multiplier_shift words, right_shift_base) where the right shifts span fewer than ``codes`` values; the
    words hold the two low bits of each code (right shift - base)."""
    right_shift = -shift.astype(np.int64)
    if multiplier.size == 0:
        return np.zeros(0, dtype=np.uint32), 1
    base = int(right_shift.min())
    if right_shift.max() - base >= codes or np.any(multiplier < PACKED_MULTIPLIER_BIT):
        return None
    packed = (multiplier.astype(np.int64) - PACKED_MULTIPLIER_BIT) | (((right_shift - base) & 3) << 30)
    return packed.astype(np.uint32), base


def encode_packed(matrix: np.ndarray, depthwise: bool, folded_bias: np.ndarray, multiplier, shift,
                  constant_outputs: np.ndarray | None = None) -> PackedCsr | None:
    """``matrix`` [rows][cols] with its requantization packed, or None where the format cannot hold it
    (multipliers outside [2^30, 2^31), right shifts spread over more than four values (depthwise: 32),
    biases or row lengths too wide; depthwise: more than 15 taps). ``constant_outputs``: depthwise, the
    output of each row without nonzeros."""
    csr = encode_csr(matrix)
    if csr.columns.dtype != np.uint8:
        return None
    lengths = np.diff(csr.row_ptr.astype(np.int64))
    multiplier = np.asarray(multiplier, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    bias = np.asarray(folded_bias, dtype=np.int64)
    if depthwise:
        if matrix.shape[1] > DEPTHWISE_MAX_COLUMNS:
            return None
        tapped = lengths > 0
        starts = csr.row_ptr[:-1].astype(np.int64)
        first = np.zeros(lengths.size, dtype=np.int64)
        first[tapped] = csr.columns[starts[tapped]]
        info = lengths << 4 | first
        bias = np.where(tapped, bias, np.asarray(constant_outputs, dtype=np.int64))
        info_bits = DEPTHWISE_INFO_BITS
        keep = np.ones(csr.columns.size, dtype=bool)
        keep[starts[tapped]] = False
        columns = csr.columns[keep]
        multiplier, shift = multiplier[tapped], shift[tapped]
        value_columns = None
        right_shift = -shift
        if right_shift.size and right_shift.max() - right_shift.min() >= PACKED_SHIFT_CODES:
            info_bits += DEPTHWISE_SHIFT_HIGH_BITS
            info[tapped] |= ((right_shift - right_shift.min()) >> 2) << DEPTHWISE_INFO_BITS
    else:
        if matrix.shape[1] > CONV_MAX_COLUMNS:
            return None
        info = np.zeros(lengths.size, dtype=np.int64)
        info_bits = 0
        bias = 2 * bias
        columns = csr.columns
        last = np.zeros(columns.size, dtype=np.int64)
        last[csr.row_ptr[1:][lengths > 0].astype(np.int64) - 1] = 1
        twice_values = (2 * csr.values.astype(np.int64)) & 0x1FF
        entries = twice_values << 7 | last << 6 | columns.astype(np.int64)
        # a row without nonzeros: one zero entry (the kernel's sum runs at least once)
        entries = np.insert(entries, csr.row_ptr[:-1][lengths == 0].astype(np.int64), 1 << 6)
        value_columns = entries.astype(np.uint16)
    records = _records(bias, info, info_bits)
    packed = _multiplier_shift(multiplier, shift, PACKED_SHIFT_CODES << (info_bits - DEPTHWISE_INFO_BITS)
                               if depthwise else PACKED_SHIFT_CODES)
    if records is None or packed is None:
        return None
    return PackedCsr(values=csr.values, columns=columns.astype(np.uint8), multiplier_shift=packed[0],
                     records=records[0], record_bytes=records[1], info_bits=info_bits, right_shift_base=packed[1],
                     value_columns=value_columns)


# Wide CSR (pqk_conv2d_s8_csr_wide_dsp): any row length, the requantization between the rows.
WIDE_COLUMN_BITS = 15
WIDE_LAST_OF_ROW = 1 << WIDE_COLUMN_BITS
WIDE_ACC_LIMIT = 1 << 30  # the kernel accumulates twice the sum in an int32
WIDE_MAX_LEFT_SHIFT = 31  # pqk_requantize's limit, as the portable kernels have it
WIDE_BYTES_PER_ROW = 16  # twice the bias, right shift, offset, multiplier


@dataclass(frozen=True)
class WideCsr:
    """A CONV_2D matrix as pqk_conv2d_s8_csr_wide_dsp walks it: one uint32 ``stream``, per row twice its
    folded bias, one entry per nonzero ``2 * value << 16 | (last of its row) << 15 | column`` (a row
    without nonzeros: one entry ``1 << 15``, value 0), then its right shift (-shift), the offset of
    pqk_dsp.h's fast form (``(2 * output_zero_point + 1) << (right shift - 1)``, 0 for a channel outside
    the fast bounds, which the kernel requantizes exactly) and its multiplier."""

    stream: np.ndarray  # uint32
    entries: int  # nonzero entries, the empty rows' one included
    rows: int

    @property
    def value_bytes(self) -> int:
        """The entries' value halves."""
        return 2 * self.entries

    @property
    def index_bytes(self) -> int:
        """The entries' column halves (with the row-end bit)."""
        return 2 * self.entries

    @property
    def requant_bytes(self) -> int:
        return WIDE_BYTES_PER_ROW * self.rows


def encode_wide(matrix: np.ndarray, folded_bias: np.ndarray, multiplier, shift,
                output_zero_point: int) -> WideCsr | None:
    """``matrix`` [rows][cols] of a CONV_2D in the wide format, or None where it cannot hold it: more
    than 2^15 columns, an accumulator (|folded bias| + 128 * sum |w|) of 2^30 or more, a left shift
    beyond pqk_requantize's 31."""
    matrix = np.asarray(matrix, dtype=np.int8)
    rows, cols = matrix.shape
    bias = np.asarray(folded_bias, dtype=np.int64)
    multiplier = np.asarray(multiplier, dtype=np.int64).reshape(-1)
    shift = np.asarray(shift, dtype=np.int64).reshape(-1)
    bound = np.abs(bias) + 128 * np.abs(matrix.astype(np.int64)).sum(axis=1)
    if (cols > 1 << WIDE_COLUMN_BITS or bound.max(initial=0) >= WIDE_ACC_LIMIT
            or shift.max(initial=0) > WIDE_MAX_LEFT_SHIFT):
        return None
    right_shift = -shift
    fast = (shift >= -23) & (shift <= -1) & ((multiplier == 0) | (multiplier >= 1 << 30))
    odd_zero_point = 2 * int(output_zero_point) + 1
    offset = np.where(fast, odd_zero_point << np.maximum(right_shift - 1, 0), 0)
    words: list[np.ndarray] = []
    entries = 0
    for r in range(rows):
        columns = np.flatnonzero(matrix[r])
        row = ((2 * matrix[r, columns].astype(np.int64)) << 16) | columns
        if row.size == 0:
            row = np.zeros(1, dtype=np.int64)
        row[-1] |= WIDE_LAST_OF_ROW
        entries += row.size
        words += [np.array([2 * bias[r]]), row, np.array([right_shift[r], offset[r], multiplier[r]])]
    stream = (np.concatenate(words) & 0xFFFFFFFF).astype(np.uint32) if words else np.zeros(0, dtype=np.uint32)
    return WideCsr(stream=stream, entries=entries, rows=rows)


# Gathered CSR (the *_csr_mve kernels, firmware/runtime/pqk_runtime_mve.h).
GATHER_LANES = 8  # nonzeros per chunk of the convolutions (VLDRB.S16 gathers: uint16 offsets)
GATHER_MAX_OFFSET = 0xFFFF
GATHER_MAX_CHUNKS = 0xFF  # chunk counts are uint8
ROWS_LANES = 16  # nonzeros per chunk and row of pqk_fully_connected_s8_csr_mve (VLDRB.U8 gathers)
ROWS_GROUP = 4  # its rows per group
ROWS_PANEL = 256  # input features a chunk's uint8 offsets reach from its panel's base


@dataclass(frozen=True)
class GatherCsr:
    """A convolution's rows as pqk_conv2d_s8_csr_mve / pqk_depthwise_conv2d_s8_csr_mve gather them
    (pqk_gather_csr_s8_t): ``chunks`` (uint16), per chunk eight byte offsets from the window's origin,
    then its eight int8 weights as four little-endian uint16 (a short last chunk of a row padded with zero
    weights at offset 0); ``row_chunks`` (uint8), the chunks of each row."""

    chunks: np.ndarray
    row_chunks: np.ndarray

    @property
    def value_bytes(self) -> int:
        return int(self.chunks.size // (GATHER_LANES + GATHER_LANES // 2) * GATHER_LANES)  # 8 of a chunk's 24 bytes

    @property
    def index_bytes(self) -> int:
        return int(self.chunks.nbytes - self.value_bytes + self.row_chunks.nbytes)


def conv_column_offsets(filter_h: int, filter_w: int, dilation_h: int, dilation_w: int, input_w: int,
                        input_c: int) -> np.ndarray:
    """Byte offset from a window's origin in the NHWC input of every column (fy, fx, ic) of a CONV_2D row."""
    fy, fx, ic = np.meshgrid(np.arange(filter_h), np.arange(filter_w), np.arange(input_c), indexing="ij")
    return ((fy * dilation_h * input_w + fx * dilation_w) * input_c + ic).reshape(-1).astype(np.int64)


def depthwise_offsets(channels: int, depth_multiplier: int, filter_h: int, filter_w: int, dilation_h: int,
                      dilation_w: int, input_w: int, input_c: int) -> np.ndarray:
    """[channels][taps] byte offsets of a DEPTHWISE_CONV_2D's rows: output channel oc reads input channel
    oc / depth_multiplier at each tap."""
    taps = conv_column_offsets(filter_h, filter_w, dilation_h, dilation_w, input_w, input_c)[::input_c]
    return taps[None, :] + (np.arange(channels) // depth_multiplier)[:, None]


def encode_gather(matrix: np.ndarray, offsets: np.ndarray) -> GatherCsr | None:
    """``matrix`` [rows][cols] whose nonzero (r, c) reads the input at byte ``offsets[r][c]`` (broadcast) from
    the window's origin, or None where the format cannot hold it (an offset beyond 16 bits, more than 255
    chunks in a row)."""
    matrix = np.asarray(matrix, dtype=np.int8)
    offsets = np.broadcast_to(np.asarray(offsets, dtype=np.int64), matrix.shape)
    words: list[np.ndarray] = []
    counts = []
    for r in range(matrix.shape[0]):
        columns = np.flatnonzero(matrix[r])
        chunks = -(-columns.size // GATHER_LANES)
        if chunks > GATHER_MAX_CHUNKS or (columns.size and offsets[r, columns].max() > GATHER_MAX_OFFSET):
            return None
        counts.append(chunks)
        lane_offsets = np.zeros(chunks * GATHER_LANES, dtype=np.uint16)
        lane_weights = np.zeros(chunks * GATHER_LANES, dtype=np.int8)
        lane_offsets[:columns.size] = offsets[r, columns]
        lane_weights[:columns.size] = matrix[r, columns]
        weight_words = lane_weights.view("<u2").reshape(chunks, GATHER_LANES // 2)
        words.append(np.concatenate([lane_offsets.reshape(chunks, GATHER_LANES), weight_words], axis=1).reshape(-1))
    chunks = np.concatenate(words).astype(np.uint16) if words else np.zeros(0, dtype=np.uint16)
    return GatherCsr(chunks=chunks, row_chunks=np.array(counts, dtype=np.uint8))


@dataclass(frozen=True)
class GatherTaps:
    """A DEPTHWISE_CONV_2D's rows as pqk_depthwise_conv2d_s8_csr_mve gathers them (pqk_gather_taps_s8_t):
    ``taps`` (int32), per nonzero the byte offset of its input from the window's origin and its weight;
    ``row_taps`` (uint8), the nonzeros of each row."""

    taps: np.ndarray
    row_taps: np.ndarray

    @property
    def value_bytes(self) -> int:
        return int(self.taps.nbytes // 2)

    @property
    def index_bytes(self) -> int:
        return int(self.taps.nbytes // 2 + self.row_taps.nbytes)


def encode_gather_taps(matrix: np.ndarray, offsets: np.ndarray) -> GatherTaps | None:
    """``matrix`` [rows][taps] whose nonzero (r, t) reads the input at byte ``offsets[r][t]`` from the window's
    origin, or None where a row has more than 255 nonzeros."""
    matrix = np.asarray(matrix, dtype=np.int8)
    per_row = np.count_nonzero(matrix, axis=1)
    if per_row.max(initial=0) > GATHER_MAX_CHUNKS:
        return None
    rows, columns = np.nonzero(matrix)  # row-major: each row's taps in order
    offsets = np.broadcast_to(np.asarray(offsets, dtype=np.int64), matrix.shape)
    taps = np.stack([offsets[rows, columns], matrix[rows, columns].astype(np.int64)], axis=1).reshape(-1)
    return GatherTaps(taps=taps.astype(np.int32), row_taps=per_row.astype(np.uint8))


@dataclass(frozen=True)
class GatherRows:
    """A FULLY_CONNECTED matrix as pqk_fully_connected_s8_csr_mve gathers it (pqk_gather_rows_s8_t): rows in
    groups of four (the last padded with empty rows); per group, for each panel of 256 input features
    that holds a nonzero of its rows, as many chunks as its fullest row needs (16 nonzeros each): the
    panel's first feature (uint32), then per row 16 uint8 offsets from it and 16 int8 weights (missing
    lanes: offset 0, weight 0). A group without nonzeros has one empty chunk. ``chunks`` as little-endian
    uint32 words; ``group_chunks`` (uint8), each group's chunks minus one."""

    chunks: np.ndarray
    group_chunks: np.ndarray

    @property
    def value_bytes(self) -> int:
        return int(self.chunks.size // 33 * 64)  # 33 words per chunk, 64 of its bytes weights

    @property
    def index_bytes(self) -> int:
        return int(self.chunks.nbytes - self.value_bytes + self.group_chunks.nbytes)


def encode_gather_rows(matrix: np.ndarray) -> GatherRows | None:
    """``matrix`` [rows][cols] in pqk_fully_connected_s8_csr_mve's format, or None where a group needs more
    than 256 chunks."""
    matrix = np.asarray(matrix, dtype=np.int8)
    rows, cols = matrix.shape
    padded = np.zeros((-(-rows // ROWS_GROUP) * ROWS_GROUP, cols), dtype=np.int8)
    padded[:rows] = matrix
    stream: list[bytes] = []
    counts = []
    for group in padded.reshape(-1, ROWS_GROUP, cols):
        panels = []  # (first feature, each row's nonzero columns from it, chunks)
        for first in range(0, cols, ROWS_PANEL):
            lanes = [np.flatnonzero(row) for row in group[:, first:first + ROWS_PANEL]]
            needed = max(-(-lane.size // ROWS_LANES) for lane in lanes)
            if needed:
                panels.append((first, lanes, needed))
        if not panels:
            panels = [(0, [np.zeros(0, dtype=np.int64)] * ROWS_GROUP, 1)]  # one empty chunk
        for first, lanes, needed in panels:
            for k in range(needed):
                stream.append(np.array([first], dtype="<u4").tobytes())
                for row, lane in zip(group, lanes):
                    taken = lane[k * ROWS_LANES:(k + 1) * ROWS_LANES]
                    lane_offsets = np.zeros(ROWS_LANES, dtype=np.uint8)
                    lane_weights = np.zeros(ROWS_LANES, dtype=np.int8)
                    lane_offsets[:taken.size] = taken
                    lane_weights[:taken.size] = row[first + taken]
                    stream += [lane_offsets.tobytes(), lane_weights.tobytes()]
        chunks = sum(needed for _, _, needed in panels)
        if chunks - 1 > GATHER_MAX_CHUNKS:
            return None
        counts.append(chunks - 1)
    return GatherRows(chunks=np.frombuffer(b"".join(stream), dtype="<u4").astype(np.uint32),
                      group_chunks=np.array(counts, dtype=np.uint8))


# Column pairs (pqk_fully_connected_s8_csr_pairs_dsp): groups of two pairs or of four singles.
PAIRS_GROUP, SINGLES_GROUP = 2, 4
PAIRS_MAX_FEATURES = 8191  # offsets 2 * j fit 16 bits, a row's pair passes (at most 1,024) its header's 12 bits
PAIRS_NARROW_FEATURES = 128  # NARROW_FEATURES: up to here singles are halfwords (8-bit offsets 2 * j)


@dataclass(frozen=True)
class ColumnPairs:
    """A FULLY_CONNECTED matrix as pqk_fully_connected_s8_csr_pairs_dsp reads it: one uint32 stream, per row
    a header (``_pairs_row_header``: the dispatch code and passes of its pair and single groups), its pairs as (w_j | w_j+1 << 16, 2 * j) in groups of two (an
    odd last pair padded with (0, 0)), then its singles as w_j << 16 | 2 * j in groups of four (padded with
    0; ``narrow``, at most PAIRS_NARROW_FEATURES columns: halfwords 2 * j | w_j << 8, two per word, the
    first in the low half); j ascending, 2 * j the byte offset of input j widened to int16. Adjacent
    nonzeros pair from the left (the most pairs a run of nonzeros holds)."""

    stream: np.ndarray
    pair_slots: int  # pairs with padding
    single_slots: int  # singles with padding
    narrow: bool

    @property
    def value_bytes(self) -> int:
        return 4 * self.pair_slots + (1 if self.narrow else 2) * self.single_slots

    @property
    def index_bytes(self) -> int:
        return int(self.stream.nbytes) - self.value_bytes


def _row_pairs(row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The first columns of the row's pairs and its single columns, ascending: a run of n adjacent nonzeros
    holds n // 2 pairs from its left, then a single where n is odd."""
    edges = np.diff(np.concatenate(([0], (row != 0).astype(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    lengths = ends - starts
    pairs = np.concatenate([np.arange(start, end - 1, 2) for start, end in zip(starts, ends)] or [np.zeros(0, int)])
    return pairs.astype(np.int64), (ends - 1)[lengths % 2 == 1].astype(np.int64)


def _pairs_row_header(pair_groups: int, single_groups: int) -> int:
    """A row's header: its dispatch code 3 * P + S (P, S: 0 no groups, 1 an even, 2 an odd count of pair,
    single groups) | pair passes << 4 | single passes << 16, two groups a pass."""
    def state(groups: int) -> int:
        return 0 if groups == 0 else 1 + groups % 2

    return 3 * state(pair_groups) + state(single_groups) | -(-pair_groups // 2) << 4 | -(-single_groups // 2) << 16


def encode_column_pairs(matrix: np.ndarray) -> ColumnPairs | None:
    """``matrix`` [rows][cols] in pqk_fully_connected_s8_csr_pairs_dsp's format, or None where it has more
    than PAIRS_MAX_FEATURES columns."""
    matrix = np.asarray(matrix, dtype=np.int8)
    if matrix.shape[1] > PAIRS_MAX_FEATURES:
        return None
    narrow = matrix.shape[1] <= PAIRS_NARROW_FEATURES
    words: list[int] = []
    pair_slots = single_slots = 0
    for row in matrix:
        pairs, singles = (columns.tolist() for columns in _row_pairs(row))
        pair_count = -(-len(pairs) // PAIRS_GROUP) * PAIRS_GROUP
        single_count = -(-len(singles) // SINGLES_GROUP) * SINGLES_GROUP
        pair_slots += pair_count
        single_slots += single_count
        words.append(_pairs_row_header(pair_count // PAIRS_GROUP, single_count // SINGLES_GROUP))
        for j in pairs:
            words += [(int(row[j]) & 0xFFFF) | (int(row[j + 1]) & 0xFFFF) << 16, 2 * j]
        words += [0, 0] * (pair_count - len(pairs))
        if narrow:
            halves = [2 * j | (int(row[j]) & 0xFF) << 8 for j in singles] + [0] * (single_count - len(singles))
            words += [low | high << 16 for low, high in zip(halves[::2], halves[1::2])]
        else:
            words += [(int(row[j]) & 0xFFFF) << 16 | 2 * j for j in singles]
            words += [0] * (single_count - len(singles))
    return ColumnPairs(stream=np.array(words, dtype=np.uint32), pair_slots=pair_slots, single_slots=single_slots,
                       narrow=narrow)


def column_pair_slots(matrix: np.ndarray) -> tuple[int, int]:
    """(pairs, singles) of ``encode_column_pairs(matrix)`` with padding, counted without encoding."""
    pair_slots = single_slots = 0
    for row in np.asarray(matrix):
        pairs, singles = _row_pairs(row)
        pair_slots += -(-pairs.size // PAIRS_GROUP) * PAIRS_GROUP
        single_slots += -(-singles.size // SINGLES_GROUP) * SINGLES_GROUP
    return pair_slots, single_slots
