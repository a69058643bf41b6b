"""Just enough PNG decoding (8-bit RGB/RGBA, not interlaced: what Chromium writes) to tell a blank screenshot
from a rendered page without adding an imaging dependency."""

from __future__ import annotations

import struct
import zlib
from typing import List, Tuple


def decode(data: bytes, max_rows: int = 400) -> Tuple[int, int, int, List[bytes]]:
    """(width, height, bytes per pixel, the first `max_rows` unfiltered rows; pure Python, so keep it small)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and color in (2, 6) and interlace == 0, (depth, color, interlace)
            bpp = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows: List[bytes] = []
    prev = bytearray(stride)
    for y in range(min(height, max_rows)):
        start = y * (stride + 1)
        ftype, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if ftype == 1:
                line[i] = (line[i] + a) & 0xFF
            elif ftype == 2:
                line[i] = (line[i] + b) & 0xFF
            elif ftype == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 0xFF
        rows.append(bytes(line))
        prev = line
    return width, height, bpp, rows


def colour_stats(data: bytes, step: int = 7) -> Tuple[int, float]:
    """(distinct colours, share of non-white pixels) over a sample grid."""
    width, _, bpp, rows = decode(data)
    colours = set()
    sampled = non_white = 0
    for row in rows[::step]:
        for x in range(0, width, step):
            px = row[x * bpp : x * bpp + 3]
            colours.add(px)
            sampled += 1
            non_white += px != b"\xff\xff\xff"
    return len(colours), non_white / max(1, sampled)
