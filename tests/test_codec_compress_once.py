"""A body no bigger than the compression sample is gzipped once, with the sample's verdict.

:func:`etp_sync.codec.worth_compressing` compresses a 16 KiB sample to decide; a smaller body
is its own sample, so the codec gzips it once and reads the verdict off that gzip. These tests
check that the verdict and the bytes sent are those of sampling then gzipping, on either side of
the 0.75 ratio, at the size limits, and for bodies split over several buffers.
"""

from __future__ import annotations

import random
import uuid
from typing import Any

import pytest

from etp_sync import codec
from etp_sync.codec import MessageFlags, MessageFramer, MessageHeader, encode_message_parts
from etp_sync.schema import messages as m


def _mixed(size: int, noise: float, seed: int) -> bytes:
    """``size`` bytes: a fraction ``noise`` random, the rest repeated XML-like text."""
    rng = random.Random(seed)
    text = b"<eml:Citation><eml:Title>CRS</eml:Title></eml:Citation>"
    out = bytearray()
    while len(out) < size:
        if rng.random() < noise:
            out += rng.randbytes(16)
        else:
            out += text[: rng.randrange(8, len(text))]
    return bytes(out[:size])


def _reference(parts: list[Any]) -> bytes | None:
    """What framing did before: sample, then gzip the whole body when the sample says so."""
    if not codec.worth_compressing(parts):
        return None
    return codec._gzip(b"".join(parts))


SIZES = [1023, 1024, 5000, (1 << 14) - 1, 1 << 14, (1 << 14) + 1, 40_000]
NOISE = [0.0, 0.3, 0.45, 0.5, 0.55, 0.6, 0.7, 1.0]


@pytest.mark.parametrize("size", SIZES)
def test_verdict_and_bytes_are_the_sampled_ones(size: int) -> None:
    verdicts = set()
    for noise in NOISE:
        for seed in range(3):
            data = _mixed(size, noise, seed)
            for parts in ([data], [data[:100], bytearray(data[100:])]):
                expected = _reference(parts)
                got = codec._gzip_if_worth(parts, len(data))
                assert got == expected, (size, noise, seed)
                verdicts.add(got is not None)
    if size >= 1024:
        assert verdicts == {True, False}  # both sides of the ratio were tried
    else:
        assert verdicts == {False}


def test_the_borderline_is_decided_as_the_sample_decides() -> None:
    """Bodies of 8000 bytes going from compressible to random a few bytes at a time, across
    the point where the sample's ratio passes 0.75: every verdict is the sample's."""
    size = 8000
    smooth, noisy = _mixed(size, 0.0, 1), random.Random(2).randbytes(size)

    def body(k: int) -> bytes:
        return smooth[:k] + noisy[k:]

    lo, hi = 0, size  # the sample says yes at lo (all smooth) and no at hi (all random)
    assert codec.worth_compressing([body(size)]) and not codec.worth_compressing([body(0)])
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if codec.worth_compressing([body(mid)]):
            hi = mid
        else:
            lo = mid
    verdicts = set()
    for k in range(hi - 40, hi + 40):
        data = body(k)
        got = codec._gzip_if_worth([data], size)
        assert got == _reference([data]), k
        verdicts.add(got is not None)
    assert verdicts == {True, False}


@pytest.mark.parametrize("noise", [0.0, 1.0])
def test_frames_carry_the_sampled_verdict(noise: float) -> None:
    """encode_message_parts and MessageFramer with compress=None: the COMPRESSED flag and the
    body bytes are those of the sampled verdict."""
    body = m.Store.Chunk(blob_id=uuid.UUID(int=7), data=_mixed(6000, noise, 0), final=True)
    header = MessageHeader(
        protocol=4, message_type=8, correlation_id=0, message_id=2, message_flags=2
    )
    plain = encode_message_parts(header, body, False)
    body_bytes = b"".join(plain[1:])
    assert 1024 <= len(body_bytes) <= 1 << 14
    expected = _reference([body_bytes])
    parts = encode_message_parts(header, body, None)
    framed, _size = MessageFramer(type(body)).parts(body, 0, 2, 2, None)
    for out in (parts, framed):
        flags = out[0][-1] >> 1
        assert bool(flags & MessageFlags.COMPRESSED) == (expected is not None)
        assert b"".join(out[1:]) == (body_bytes if expected is None else expected)
    assert (expected is not None) == (noise == 0.0)
