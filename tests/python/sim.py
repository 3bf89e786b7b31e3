# SPDX-License-Identifier: LGPL-2.1-or-later
"""What the sim devices produce: the formulas of docs/sim.md, verbatim."""

import numpy as np


def camera_frame(i, height, width):
    """Frame i of sim:camera?width=W&height=H, shape (height, width), '<u2'."""
    p = np.arange(height * width, dtype=np.uint64)
    f = ((p + (7 * i) % 65536) & 0xFFFF).astype("<u2")
    f[:4] = np.array([i], dtype="<u8").view("<u2")
    return f.reshape(height, width)


def camera_indexes(frames):
    """The frame index stored in each frame of an array (frames, H, W)."""
    flat = np.ascontiguousarray(frames.reshape(len(frames), -1)[:, :4])
    return flat.view("<u8")[:, 0]


def adc_samples(first, count, channels):
    """Samples first .. first+count-1 of sim:adc, columns = the channel
    indexes in `channels` (in file order), shape (count, len), '<i2'."""
    s = np.arange(first, first + count, dtype=np.uint64)[:, None]
    c = np.asarray(channels, dtype=np.uint64)[None, :]
    raw = (s * (2 * c + 1) + 1000 * c) & np.uint64(0xFFFF)
    return raw.astype(np.uint16).view("<i2")


def adc_at(indexes, channels):
    """Samples at the acquisition indexes given (any order, gaps allowed)."""
    s = np.asarray(indexes, dtype=np.uint64)[:, None]
    c = np.asarray(channels, dtype=np.uint64)[None, :]
    raw = (s * (2 * c + 1) + 1000 * c) & np.uint64(0xFFFF)
    return raw.astype(np.uint16).view("<i2")


def _splitmix64(seed, n):
    u = np.uint64
    z = u(seed) + (n + u(1)) * u(0x9E3779B97F4A7C15)
    z = (z ^ (z >> u(30))) * u(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> u(27))) * u(0x94D049BB133111EB)
    return z ^ (z >> u(31))


def ohm_samples(first, count, volts, r=1000.0, noise=0.001, seed=1):
    """Items first .. first+count-1 of sim:ohm with the output set to
    `volts`: columns (voltage0, current0) in raw int32 counts (1 uV, 1 nA)."""
    k = np.arange(first, first + count, dtype=np.uint64)
    applied = np.floor(volts / 1e-6 + 0.5) * 1e-6
    zv = zi = np.zeros(count)
    if noise > 0:
        u1 = ((_splitmix64(seed, 2 * k) >> np.uint64(11)) + np.uint64(1)) * 2.0**-53
        u2 = (_splitmix64(seed, 2 * k + np.uint64(1)) >> np.uint64(11)) * 2.0**-53
        rad = np.sqrt(-2.0 * np.log(u1))
        zv = rad * np.cos(6.283185307179586 * u2)
        zi = rad * np.sin(6.283185307179586 * u2)

    def counts(x):
        return np.clip(np.floor(x + 0.5), -2.0**31, 2.0**31 - 1).astype("<i4")

    return np.stack([counts((applied + noise * zv) * 1e6),
                     counts((applied + noise * zi) / r * 1e9)], axis=1)
