"""Writes the bad-input corpus next to this script (python3 make_corpus.py)."""
import gzip
import os
import struct
import zlib

os.chdir(os.path.dirname(os.path.abspath(__file__)))


def idx(dims, data, typ=8):
    return bytes([0, 0, typ, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + data


def png_bytes(w, h):
    raw = b"".join(b"\x00" + b"\x80" * w for _ in range(h))

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


good_png = png_bytes(4, 3)
files = {
    "idx/empty.idx3": b"",
    "idx/magic-only.idx3": b"\x00\x00",
    "idx/not-idx.idx3": b"PK\x03\x04" + b"\x00" * 20,
    "idx/float-type.idx3": idx([2, 2, 2], b"\x00" * 8, typ=0x0D),
    "idx/wrong-rank.idx3": idx([4], b"\x00" * 4),
    "idx/header-cut.idx3": idx([2, 2, 2], b"")[:9],
    "idx/data-cut.idx3": idx([10, 28, 28], b"\x07" * 100),
    "idx/trailing.idx3": idx([1, 2, 2], b"\x00" * 5),
    "idx/huge-header.idx3": idx([0xFFFFFFFF] * 3, b"\x00" * 16),
    "idx/over-limit.idx3": idx([100000, 28000, 28], b""),
    "idx/gz-garbage.idx3.gz": b"\x1f\x8b\x08\x00" + b"\xff" * 40,
    "idx/gz-cut.idx3.gz": gzip.compress(idx([50, 28, 28], bytes(range(256)) * 153))[:300],
    "idx/gz-huge-header.idx3.gz": gzip.compress(idx([0xFFFFFFFF, 28, 28], b"")),
    "image/empty.png": b"",
    "image/text.png": b"this is not an image\n",
    "image/png-cut.png": good_png[:40],
    "image/png-bad-depth.png": good_png[:24] + b"\x07" + good_png[25:],
    "image/png-huge.png": b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR"
    + struct.pack(">IIBBBBB", 1000000, 1000000, 8, 0, 0, 0, 0) + b"\x00\x00\x00\x00",
    "image/pgm-cut.pgm": b"P5\n92 112\n255\n" + b"\x10" * 100,
    "image/pgm-huge.pgm": b"P5\n999999 999999\n255\n" + b"\x10" * 100,
    "image/pgm-bad-maxval.pgm": b"P5\n2 2\n0\n\x00\x00\x00\x00",
    "image/pgm-negative.pgm": b"P5\n-2 2\n255\n\x00\x00\x00\x00",
    "image/pgm-ascii-bad.pgm": b"P2\n2 2\n255\n1 2 x 4\n",
    "image/ppm-no-header.ppm": b"P6\n",
    "image/jpeg-cut.jpg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xdb",
    "image/bmp-cut.bmp": b"BM" + struct.pack("<IHHI", 70, 0, 0, 54) + struct.pack("<IiiHHII", 40, 4, 4, 1, 24, 0, 16),
}
for name, data in files.items():
    with open(name, "wb") as f:
        f.write(data)
print(f"wrote {len(files)} files")
