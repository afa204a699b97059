"""The outcomes cost/quality curve as a PNG, drawn without matplotlib.

A plotting library would be the only heavy dependency of the evaluation harness, for one chart;
a tiny RGB canvas with line drawing, a 5x7 bitmap font and a PNG encoder (zlib + struct) is
~200 lines and has no install cost.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence

RGB = tuple[int, int, int]

_GLYPHS = {
    "A": "01110 10001 10001 11111 10001 10001 10001", "B": "11110 10001 10001 11110 10001 10001 11110",
    "C": "01110 10001 10000 10000 10000 10001 01110", "D": "11110 10001 10001 10001 10001 10001 11110",
    "E": "11111 10000 10000 11110 10000 10000 11111", "F": "11111 10000 10000 11110 10000 10000 10000",
    "G": "01110 10001 10000 10111 10001 10001 01111", "H": "10001 10001 10001 11111 10001 10001 10001",
    "I": "01110 00100 00100 00100 00100 00100 01110", "J": "00111 00010 00010 00010 00010 10010 01100",
    "K": "10001 10010 10100 11000 10100 10010 10001", "L": "10000 10000 10000 10000 10000 10000 11111",
    "M": "10001 11011 10101 10101 10001 10001 10001", "N": "10001 10001 11001 10101 10011 10001 10001",
    "O": "01110 10001 10001 10001 10001 10001 01110", "P": "11110 10001 10001 11110 10000 10000 10000",
    "Q": "01110 10001 10001 10001 10101 10010 01101", "R": "11110 10001 10001 11110 10100 10010 10001",
    "S": "01111 10000 10000 01110 00001 00001 11110", "T": "11111 00100 00100 00100 00100 00100 00100",
    "U": "10001 10001 10001 10001 10001 10001 01110", "V": "10001 10001 10001 10001 10001 01010 00100",
    "W": "10001 10001 10001 10101 10101 10101 01010", "X": "10001 10001 01010 00100 01010 10001 10001",
    "Y": "10001 10001 01010 00100 00100 00100 00100", "Z": "11111 00001 00010 00100 01000 10000 11111",
    "0": "01110 10001 10011 10101 11001 10001 01110", "1": "00100 01100 00100 00100 00100 00100 01110",
    "2": "01110 10001 00001 00010 00100 01000 11111", "3": "11111 00010 00100 00010 00001 10001 01110",
    "4": "00010 00110 01010 10010 11111 00010 00010", "5": "11111 10000 11110 00001 00001 10001 01110",
    "6": "00110 01000 10000 11110 10001 10001 01110", "7": "11111 00001 00010 00100 01000 01000 01000",
    "8": "01110 10001 10001 01110 10001 10001 01110", "9": "01110 10001 10001 01111 00001 00010 01100",
    ".": "00000 00000 00000 00000 00000 01100 01100", "%": "11000 11001 00010 00100 01000 10011 00011",
    "-": "00000 00000 00000 11111 00000 00000 00000", "(": "00010 00100 01000 01000 01000 00100 00010",
    ")": "01000 00100 00010 00010 00010 00100 01000", ":": "00000 01100 01100 00000 01100 01100 00000",
    "/": "00000 00001 00010 00100 01000 10000 00000", "=": "00000 00000 11111 00000 11111 00000 00000",
    " ": "00000 00000 00000 00000 00000 00000 00000",
}


class Canvas:
    def __init__(self, width: int, height: int, bg: RGB = (255, 255, 255)) -> None:
        self.w, self.h = width, height
        self.px = bytearray(bytes(bg) * (width * height))

    def dot(self, x: int, y: int, c: RGB, size: int = 1) -> None:
        r = size // 2
        for yy in range(y - r, y - r + size):
            for xx in range(x - r, x - r + size):
                if 0 <= xx < self.w and 0 <= yy < self.h:
                    i = 3 * (yy * self.w + xx)
                    self.px[i:i + 3] = bytes(c)

    def line(self, x0: int, y0: int, x1: int, y1: int, c: RGB, width: int = 1, dash: int = 0) -> None:
        """Bresenham; `dash` > 0 draws `dash` pixels on, `dash` off."""
        dx, dy = abs(x1 - x0), -abs(y1 - y0)
        sx, sy = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
        err, k = dx + dy, 0
        while True:
            if not dash or (k // dash) % 2 == 0:
                self.dot(x0, y0, c, width)
            k += 1
            if x0 == x1 and y0 == y1:
                return
            e2 = 2 * err
            if e2 >= dy:
                err += dy
                x0 += sx
            if e2 <= dx:
                err += dx
                y0 += sy

    def text(self, x: int, y: int, s: str, c: RGB = (0, 0, 0), scale: int = 2) -> None:
        for ch in s.upper():
            rows = _GLYPHS.get(ch, _GLYPHS[" "]).split()
            for ry, row in enumerate(rows):
                for rx, bit in enumerate(row):
                    if bit == "1":
                        for yy in range(scale):
                            for xx in range(scale):
                                self.dot(x + rx * scale + xx, y + ry * scale + yy, c)
            x += 6 * scale

    def png(self) -> bytes:
        raw = b"".join(b"\x00" + bytes(self.px[3 * y * self.w:3 * (y + 1) * self.w]) for y in range(self.h))

        def chunk(kind: bytes, data: bytes) -> bytes:
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

        ihdr = struct.pack(">IIBBBBB", self.w, self.h, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
        return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def text_width(s: str, scale: int = 2) -> int:
    return len(s) * 6 * scale


BLUE, ORANGE, GREY = (31, 119, 180), (230, 140, 30), (130, 130, 130)
RED, GREEN, LIGHT = (200, 40, 40), (40, 150, 60), (225, 225, 225)


def cost_quality_png(curve: Sequence[tuple[float, float]], weak: float, strong: float,
                     baseline: Sequence[tuple[float, float]] | None = None,
                     width: int = 720, height: int = 520) -> bytes:
    """Share of turns sent to strong (x) vs mean quality (y): router, random, always-weak/strong."""
    cv = Canvas(width, height)
    left, right, top, bottom = 90, 20, 50, 80
    pw, ph = width - left - right, height - top - bottom
    ys = [q for _, q in curve] + [q for _, q in (baseline or [])] + [weak, strong]
    lo, hi = min(ys), max(ys)
    pad = (hi - lo) * 0.08 or 0.05
    lo, hi = lo - pad, hi + pad

    def X(s: float) -> int:
        return left + round(s * pw)

    def Y(q: float) -> int:
        return top + round((hi - q) / (hi - lo) * ph)

    for i in range(6):  # grid and ticks
        s = i / 5
        cv.line(X(s), top, X(s), top + ph, LIGHT)
        lab = f"{s:.1f}"
        cv.text(X(s) - text_width(lab) // 2, top + ph + 10, lab)
        q = lo + (hi - lo) * i / 5
        cv.line(left, Y(q), left + pw, Y(q), LIGHT)
        lab = f"{q:.2f}"
        cv.text(left - 10 - text_width(lab), Y(q) - 7, lab)
    cv.line(left, top, left, top + ph, (0, 0, 0))
    cv.line(left, top + ph, left + pw, top + ph, (0, 0, 0))
    cv.line(X(0), Y(weak), X(1), Y(weak), RED, 2, dash=8)
    cv.line(X(0), Y(strong), X(1), Y(strong), GREEN, 2, dash=8)
    cv.line(X(0), Y(0.95 * strong), X(1), Y(0.95 * strong), GREEN, 1, dash=3)
    cv.line(X(0), Y(weak), X(1), Y(strong), GREY, 2, dash=5)
    for pts, colour in ((baseline, ORANGE), (curve, BLUE)):
        if pts:
            for (s0, q0), (s1, q1) in zip(pts, pts[1:]):
                cv.line(X(s0), Y(q0), X(s1), Y(q1), colour, 3 if colour == BLUE else 2)
    title = "COST VS QUALITY: SHARE OF TURNS SENT TO STRONG"
    cv.text(left + (pw - text_width(title)) // 2, 12, title)
    xl = "SHARE TO STRONG TIER"
    cv.text(left + (pw - text_width(xl)) // 2, height - 35, xl)
    cv.text(8, 12, "QUALITY")
    legend = [("ROUTER", BLUE), ("PROMPT LENGTH", ORANGE), ("RANDOM", GREY),
              ("ALWAYS STRONG", GREEN), ("95% OF STRONG", GREEN), ("ALWAYS WEAK", RED)]
    lx, ly = X(0.52), Y(lo + (hi - lo) * 0.42)
    for k, (name, colour) in enumerate(legend if baseline else [e for e in legend if e[0] != "PROMPT LENGTH"]):
        yy = ly + k * 22
        cv.line(lx, yy + 7, lx + 30, yy + 7, colour, 1 if name.startswith("95") else 3)
        cv.text(lx + 40, yy, name)
    return cv.png()
