"""What EC2 receives as a node's user data: the whole cloud-config, gzip-compressed, base64-encoded.

EC2 accepts at most 16 KB of user data "in raw form, before it is base64-encoded" (RunInstances);
the 1.35 control plane's cloud-config alone is ~14.9 KB. Compressed it is about a third of that.
cloud-init recognises gzip by its magic bytes and decompresses the user data before it looks at
anything else (`cloudinit.user_data.convert_string` -> `util.decomp_gzip`), so the compressed
document reaches it as the same `#cloud-config`. pulumi-aws takes such bytes as
`user_data_base64` (`user_data` would be sent as text, and is itself limited to 16384 characters).

The bytes depend on the text alone, on every machine: a worker whose user data bytes change is
replaced (`user_data_replace_on_change`), so `pulumi up` from CI and from a laptop must produce
the same bytes. zlib's output is not a fixed function of its input across implementations (zlib-ng,
which some distributions' Python links, finds other matches than zlib), so the DEFLATE stream is
written here: one block with the fixed Huffman codes of RFC 1951 (3.2.6), greedy LZ77 matches
from hash chains over the 32 KiB window. The gzip member (RFC 1952) has MTIME 0, no file name,
no extra flags and OS 255 ("unknown"). Any inflater reads it; the tests check it with zlib and with
cloud-init's own reader.
"""

from __future__ import annotations

import base64
import bisect
import gzip
import struct
import zlib
from collections.abc import Iterator
from functools import lru_cache
from typing import Final

EC2_USER_DATA_LIMIT_BYTES: Final = 16 * 1024
"""RunInstances: at most 16 KB of user data before base64."""

GZIP_MAGIC: Final = b"\x1f\x8b"
# ID1 ID2, CM 8 (deflate), FLG 0 (no name, comment, extra, header CRC), MTIME 0, XFL 0, OS 255.
_GZIP_HEADER: Final = GZIP_MAGIC + b"\x08\x00" + b"\x00\x00\x00\x00" + b"\x00\xff"

_WINDOW: Final = 32 * 1024
_MIN_MATCH: Final = 3
_MAX_MATCH: Final = 258
_MAX_CHAIN: Final = 256
"""Candidates tried per position: a fixed bound, so the output is a function of the input alone."""
_END_OF_BLOCK: Final = 256

# RFC 1951 3.2.5: length codes 257-285 and distance codes 0-29, base values and extra bits.
_LENGTH_BASE: Final = (
    *(3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59),
    *(67, 83, 99, 115, 131, 163, 195, 227, 258),
)
_LENGTH_EXTRA: Final = (*(0,) * 8, *(1,) * 4, *(2,) * 4, *(3,) * 4, *(4,) * 4, *(5,) * 4, 0)
_DISTANCE_BASE: Final = (
    *(1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769),
    *(1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577),
)
_DISTANCE_EXTRA: Final = (0, 0, *(extra for extra in range(14) for _ in range(2)))


def _reversed_bits(code: int, length: int) -> int:
    """Huffman codes are packed starting with their most significant bit (RFC 1951 3.1.1)."""
    result = 0
    for _ in range(length):
        result, code = (result << 1) | (code & 1), code >> 1
    return result


def _fixed_literal_code(symbol: int) -> tuple[int, int]:
    """RFC 1951 3.2.6: the fixed code of a literal/length symbol, as (bits to write, bit count)."""
    if symbol < 144:
        code, length = 0x30 + symbol, 8
    elif symbol < 256:
        code, length = 0x190 + symbol - 144, 9
    elif symbol < 280:
        code, length = symbol - 256, 7
    else:
        code, length = 0xC0 + symbol - 280, 8
    return _reversed_bits(code, length), length


_LITERAL_CODES: Final = tuple(_fixed_literal_code(symbol) for symbol in range(288))
_DISTANCE_CODES: Final = tuple((_reversed_bits(code, 5), 5) for code in range(30))


class _BitWriter:
    """Bits packed least significant first into bytes (RFC 1951 3.1.1)."""

    def __init__(self) -> None:
        self._out = bytearray()
        self._buffer = 0
        self._count = 0

    def write(self, value: int, count: int) -> None:
        self._buffer |= value << self._count
        self._count += count
        while self._count >= 8:
            self._out.append(self._buffer & 0xFF)
            self._buffer >>= 8
            self._count -= 8

    def finish(self) -> bytes:
        if self._count:
            self._out.append(self._buffer & 0xFF)
            self._buffer = self._count = 0
        return bytes(self._out)


def _tokens(data: bytes) -> Iterator[tuple[int, int]]:
    """(literal byte, 0) or (match length, distance), greedily, longest match of the nearest first."""
    head: dict[bytes, int] = {}
    previous: dict[int, int] = {}
    position, size = 0, len(data)
    while position < size:
        best_length = best_distance = 0
        if position + _MIN_MATCH <= size:
            limit = min(_MAX_MATCH, size - position)
            candidate = head.get(data[position : position + _MIN_MATCH])
            tried = 0
            while candidate is not None and position - candidate <= _WINDOW and tried < _MAX_CHAIN:
                length = _MIN_MATCH
                while length < limit and data[candidate + length] == data[position + length]:
                    length += 1
                if length > best_length:
                    best_length, best_distance = length, position - candidate
                    if length == limit:
                        break
                candidate = previous.get(candidate)
                tried += 1
        step = best_length if best_length >= _MIN_MATCH else 1
        for start in range(position, min(position + step, size - _MIN_MATCH + 1)):
            key = data[start : start + _MIN_MATCH]
            if key in head:
                previous[start] = head[key]
            head[key] = start
        yield (best_length, best_distance) if best_distance else (data[position], 0)
        position += step


def deflate(data: bytes) -> bytes:
    """A raw DEFLATE stream of `data`: one final block with the fixed Huffman codes."""
    bits = _BitWriter()
    bits.write(1, 1)  # BFINAL
    bits.write(1, 2)  # BTYPE 01: fixed Huffman codes
    for value, distance in _tokens(data):
        if not distance:
            bits.write(*_LITERAL_CODES[value])
            continue
        # 258 is code 285 of its own (base 258, no extra bits), never 284 with extra bits 31.
        index = bisect.bisect_right(_LENGTH_BASE, value) - 1
        bits.write(*_LITERAL_CODES[257 + index])
        bits.write(value - _LENGTH_BASE[index], _LENGTH_EXTRA[index])
        index = bisect.bisect_right(_DISTANCE_BASE, distance) - 1
        bits.write(*_DISTANCE_CODES[index])
        bits.write(distance - _DISTANCE_BASE[index], _DISTANCE_EXTRA[index])
    bits.write(*_LITERAL_CODES[_END_OF_BLOCK])
    return bits.finish()


@lru_cache(maxsize=64)
def deterministic_gzip(data: bytes) -> bytes:
    """A gzip member of `data` whose bytes depend on `data` alone (see the module docstring)."""
    trailer = struct.pack("<II", zlib.crc32(data), len(data) & 0xFFFFFFFF)
    return _GZIP_HEADER + deflate(data) + trailer


class UserDataTooLarge(ValueError):
    """A node's user data is more than EC2 accepts."""


def encode_user_data(cloud_config: str, node: str) -> str:
    """`user_data_base64` of `node`: the cloud-config gzip-compressed, then base64-encoded.

    Raises UserDataTooLarge, naming the node, the size and the limit, when the compressed bytes
    (what EC2 receives and counts) are more than EC2 accepts."""
    raw = cloud_config.encode("utf-8")
    compressed = deterministic_gzip(raw)
    if len(compressed) > EC2_USER_DATA_LIMIT_BYTES:
        raise UserDataTooLarge(
            f"user data of {node} is {len(compressed)} bytes as EC2 receives it (a {len(raw)}-byte cloud-config, "
            f"gzip-compressed); EC2 accepts at most {EC2_USER_DATA_LIMIT_BYTES} bytes"
        )
    return base64.b64encode(compressed).decode("ascii")


def received_bytes(user_data_base64: str) -> bytes:
    """What EC2 receives (and counts against its limit) for a `user_data_base64` value."""
    return base64.b64decode(user_data_base64, validate=True)


def decode_user_data(user_data_base64: str) -> str:
    """The text cloud-init reads from a `user_data_base64` value: base64-decoded, then gunzipped if gzip."""
    data = received_bytes(user_data_base64)
    if data.startswith(GZIP_MAGIC):
        data = gzip.decompress(data)
    return data.decode("utf-8")
