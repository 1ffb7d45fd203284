#!/usr/bin/env python3
"""Writes the zip fixtures of suites/src/store.rs and suites/src/archive.rs tests.

Run from anywhere: python3 suites/testdata/archives/make_fixtures.py
The tests hash the committed files at run time, so regenerating them (another zlib may
compress differently) needs no change to the tests.
"""

import os
import struct
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
DATE = (2024, 1, 1, 0, 0, 0)
REGULAR = 0o100644 << 16
DIRECTORY = (0o040755 << 16) | 0x10
SYMLINK = 0o120777 << 16


def info(name, attr=REGULAR, deflate=True):
    zi = zipfile.ZipInfo(name, date_time=DATE)
    zi.create_system = 3  # unix, so external_attr carries the mode
    zi.external_attr = attr
    zi.compress_type = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
    return zi


def write(name, entries):
    path = os.path.join(HERE, name)
    with zipfile.ZipFile(path, "w") as z:
        for zi, data in entries:
            z.writestr(zi, data)
    return path


RATINGS = "".join(f"{u}::{i}::{(u * 7 + i) % 5 + 1}::97830{u:04d}\n" for u in range(1, 21) for i in range(1, 6))
GOOD = [
    (info("fixture/", DIRECTORY, deflate=False), b""),
    (info("fixture/ratings.dat"), RATINGS.encode()),
    (info("fixture/README"), b"A small fixture archive for the metarec data store tests.\n"),
    (info("fixture/sub/items.dat"), b"1::Toy Story (1995)::Animation\n2::Jumanji (1995)::Adventure\n"),
]

good = write("good.zip", GOOD)
with open(good, "rb") as f:
    data = f.read()
with open(os.path.join(HERE, "truncated.zip"), "wb") as f:
    f.write(data[: len(data) // 2])

write("zip-slip.zip", [(info("fixture/ok.txt"), b"fine\n"), (info("../evil.txt"), b"escaped\n")])
write("absolute.zip", [(info("fixture/ok.txt"), b"fine\n"), (info("/tmp/metarec-evil.txt"), b"escaped\n")])
write("symlink.zip", [(info("fixture/ok.txt"), b"fine\n"), (info("fixture/link", SYMLINK, deflate=False), b"/etc/passwd")])

# A deflated entry that declares 10 bytes but inflates to 64 KiB: the declared size lies.
lying = write("lying-size.zip", [(info("fixture/big.dat"), b"x" * 65536)])
with open(lying, "rb") as f:
    raw = bytearray(f.read())
local = raw.find(b"PK\x03\x04")
central = raw.find(b"PK\x01\x02")
struct.pack_into("<I", raw, local + 22, 10)  # local header: uncompressed size
struct.pack_into("<I", raw, central + 24, 10)  # central directory: uncompressed size
with open(lying, "wb") as f:
    f.write(raw)
