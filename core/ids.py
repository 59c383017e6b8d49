"""Time-ordered UUIDs (the UUIDv7 layout, RFC 9562).

Deliveries and attempts are inserted in time order by the thousand; random
UUIDv4 keys would scatter those inserts across the whole primary-key index.
"""

import os
import time
import uuid


def uuid7() -> uuid.UUID:
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    # 48-bit milliseconds | version 7 | 12 random bits | variant 10 | 62 random bits
    rand_a = (rand >> 62) & 0xFFF  # 12 bits
    rand_b = rand & ((1 << 62) - 1)  # 62 bits
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | rand_a << 64 | 0b10 << 62 | rand_b
    return uuid.UUID(int=value)
