"""Generated avatars: a PNG per model, the same bytes every time, coloured by vendor.

The vendor (the id before the slash) picks the background hue, so one lab's models look like a
family; the rest of the id picks a mirrored 5x5 pattern, so two models of one lab differ. The
blind names "MC A" and "MC B" get neutral grey avatars with their letter, which give nothing away.
PNG is written by hand (zlib and struct): no imaging library is needed for blocks of colour.
"""

from __future__ import annotations

import colorsys
import hashlib
import struct
import zlib

from bot.engine.battle import BLIND_NAMES

AVATAR_SIZE = 128
GRID = 5  # pattern cells per side; the image has one cell of margin around them
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_NEUTRAL_BACKGROUND = (0x4A, 0x4F, 0x57)
_NEUTRAL_INK = (0xE8, 0xE8, 0xE8)
# 5x7 letters for the blind names, one string per row, "#" inked.
_LETTERS = {
    "A": (" ### ", "#   #", "#   #", "#####", "#   #", "#   #", "#   #"),
    "B": ("#### ", "#   #", "#   #", "#### ", "#   #", "#   #", "#### "),
}

Colour = tuple[int, int, int]


def avatar_png(model: str, size: int = AVATAR_SIZE) -> bytes:
    """The avatar of a model id (or of a blind name), ``size`` pixels square."""
    if model in BLIND_NAMES:
        letter = model.rsplit(" ", 1)[-1]
        return _png(_scaled(_LETTERS[letter], _NEUTRAL_INK, _NEUTRAL_BACKGROUND, size), size)
    vendor, _, name = model.partition("/")
    background, ink = vendor_colours(vendor if name else "")
    return _png(_scaled(_pattern(model), ink, background, size), size)


def vendor_colours(vendor: str) -> tuple[Colour, Colour]:
    """A vendor's background and ink: the hue comes from the vendor's name alone."""
    digest = hashlib.sha256(f"vendor:{vendor}".encode()).digest()
    hue = digest[0] / 256 + digest[1] / 65536
    background = _rgb(hue, 0.38, 0.55)
    ink = _rgb((hue + 0.5) % 1.0, 0.85, 0.7)
    return background, ink


def _rgb(hue: float, lightness: float, saturation: float) -> Colour:
    red, green, blue = colorsys.hls_to_rgb(hue, lightness, saturation)
    return round(red * 255), round(green * 255), round(blue * 255)


def _pattern(model: str) -> tuple[str, ...]:
    """A left-right mirrored GRID x GRID pattern from the id's hash, never empty."""
    bits = int.from_bytes(hashlib.sha256(f"model:{model}".encode()).digest()[:4], "big")
    half = (GRID + 1) // 2
    rows = []
    for y in range(GRID):
        cells = [(bits >> (y * half + x)) & 1 for x in range(half)]
        full = cells + cells[: GRID - half][::-1]
        rows.append("".join("#" if cell else " " for cell in full))
    if not any("#" in row for row in rows):
        rows[GRID // 2] = "#" * GRID
    return tuple(rows)


def _scaled(glyph: tuple[str, ...], ink: Colour, background: Colour, size: int) -> list[bytes]:
    """Rows of RGB pixels: the glyph centred with a margin, each cell a square block."""
    width, height = len(glyph[0]), len(glyph)
    cell = size // (max(width, height) + 2)
    left = (size - cell * width) // 2
    top = (size - cell * height) // 2
    paper = bytes(background) * size
    rows = []
    for y in range(size):
        gy = (y - top) // cell if y >= top else -1
        if not 0 <= gy < height:
            rows.append(paper)
            continue
        line = bytearray(paper)
        for gx, mark in enumerate(glyph[gy]):
            if mark == "#":
                start = (left + gx * cell) * 3
                line[start : start + cell * 3] = bytes(ink) * cell
        rows.append(bytes(line))
    return rows


def _png(rows: list[bytes], size: int) -> bytes:
    raw = b"".join(b"\x00" + row for row in rows)  # filter type 0 (none) on every row
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        _PNG_SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(raw, 9))
        + _chunk(b"IEND", b"")
    )


def _chunk(kind: bytes, data: bytes) -> bytes:
    checksum = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", checksum)
