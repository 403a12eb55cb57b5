"""Op-output traces the harness apps write (``pqk_after_op`` records), read back as raw records.

Trace format: per op, little-endian int32 op index, uint32 byte count, then the op output's bytes.
"""

from __future__ import annotations

import struct

from pqk_mcu.errors import PqkError


def parse_trace(data: bytes, source: str) -> list[tuple[int, bytes]]:
    """(op index, output bytes) records of a harness trace file; ``source`` names it in errors."""
    records, offset = [], 0
    while offset < len(data):
        if offset + 8 > len(data):
            raise PqkError(f"{source}: truncated trace record header at byte {offset}")
        index, size = struct.unpack_from("<iI", data, offset)
        offset += 8
        if offset + size > len(data):
            raise PqkError(f"{source}: truncated trace record for op {index}")
        records.append((index, data[offset:offset + size]))
        offset += size
    return records
