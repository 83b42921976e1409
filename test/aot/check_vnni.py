#!/usr/bin/env python3
"""Q1's int8 accumulations use the VNNI dot product on AVX-512 VNNI.

usage: check_vnni.py ASSEMBLY.s

Reads the assembly of the Q1 generator's megakernel library compiled for
x86-64-avx512-vnni (generators/CMakeLists.txt: q1_megakernel_vnni) and checks that the
1x1 convolutions' uint8 x int8 products accumulate with vpdpbusd on zmm registers (4 byte
pairs per int32 lane), and that no 32-bit multiply (vpmulld) widens them instead.
Exit status 0 when they do, 1 otherwise.
"""
import re
import sys


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    text = open(sys.argv[1]).read()
    dot = re.findall(r"^\s*vpdpbusd\s+.*zmm", text, re.M)
    widened = re.findall(r"^\s*vpmulld\s", text, re.M)
    print(f"{sys.argv[1]}: {len(dot)} vpdpbusd on zmm, {len(widened)} vpmulld")
    if not dot:
        print("FAILED: no vpdpbusd: the int8 accumulations do not use VNNI dot products")
        return 1
    # The depthwise 3x3 reduces over 9 taps, not channels: its products may widen, but the
    # 1x1 convolutions (most of Q1's multiply-adds) must not.
    if len(widened) > len(dot):
        print("FAILED: more 32-bit multiplies than dot products")
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
