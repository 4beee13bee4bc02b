#!/usr/bin/env python3
"""Writes fuzz/corpus/vfio_user: server byte streams for fuzz_vfio_user.c.

    fuzz/gen_vfio_user_corpus.py fuzz/corpus/vfio_user

A whole session's replies in the order the target asks (request ids 0..10),
then the same session cut or broken at each reply in turn (wrong id, wrong
command, short, oversized, an error, a command instead of a reply), and a
few negotiations of their own. Written from the protocol text, host
(little) endianness.
"""
import json
import os
import struct
import sys

VERSION, GET_INFO, RESET, FEATURE, READ, WRITE = 1, 4, 13, 16, 17, 18
REPLY, ERROR = 0x1, 0x20


def msg(mid, cmd, payload=b"", flags=REPLY, err=0):
    return struct.pack("<HHIII", mid, cmd, 16 + len(payload), flags, err) + payload


def version(mid, caps, major=0, minor=1):
    text = json.dumps({"capabilities": caps}).encode() + b"\0" if caps is not None else b""
    return msg(mid, VERSION, struct.pack("<HH", major, minor) + text)


def feature(mid, flags, data):
    return msg(mid, FEATURE, struct.pack("<II", 8 + len(data), flags) + data)


def session():
    """The replies of a whole session, one list entry per request."""
    data = bytes((i * 7) & 0xff for i in range(4096))
    return [
        version(0, {"max_msg_fds": 1, "max_data_xfer_size": 4096}),
        msg(1, GET_INFO, struct.pack("<IIII", 16, 3, 9, 5)),
        feature(2, (1 << 16) | 1, struct.pack("<Q", 5)),
        feature(3, (1 << 16) | 2, struct.pack("<Ii", 2, -1)),
        feature(4, (1 << 17) | 2, struct.pack("<Ii", 3, -1)),
        msg(5, READ, struct.pack("<II", 8 + 1000, 1000) + data[:1000]),
        msg(6, WRITE),
        msg(7, WRITE),
        msg(8, WRITE),
        feature(9, (1 << 16) | 8, struct.pack("<QQQ", 0, 64 * 4096, 4096) + struct.pack("<Q", 0x8001)),
        msg(10, RESET),
    ]


def broken(reply, how):
    mid, cmd, size, flags, err = struct.unpack("<HHIII", reply[:16])
    body = reply[16:]
    if how == "id":
        return struct.pack("<HHIII", mid + 1, cmd, size, flags, err) + body
    if how == "command":
        return struct.pack("<HHIII", mid, cmd ^ 1, size, flags, err) + body
    if how == "short":
        return struct.pack("<HHIII", mid, cmd, size - 1, flags, err) + body[:-1]
    if how == "oversized":
        return struct.pack("<HHIII", mid, cmd, size + 64, flags, err) + body + bytes(64)
    if how == "error":
        return struct.pack("<HHIII", mid, cmd, 16, flags | ERROR, 22)
    if how == "not-reply":
        return struct.pack("<HHIII", mid, cmd, size, 0, err) + body
    if how == "cut":
        return reply[: len(reply) // 2]
    raise ValueError(how)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    seeds = {"session": b"".join(session())}
    replies = session()
    for i in range(len(replies)):
        for how in ("id", "command", "short", "oversized", "error", "not-reply", "cut"):
            s = replies[:i] + [broken(replies[i], how)] + replies[i + 1:]
            seeds["reply%02d-%s" % (i, how)] = b"".join(s)
    seeds["version-none"] = version(0, None)
    seeds["version-major1"] = version(0, {}, major=1)
    seeds["version-xfer-small"] = version(0, {"max_data_xfer_size": 16})
    seeds["version-bad-json"] = msg(0, VERSION, struct.pack("<HH", 0, 1) + b"{\"capabilities\":\0")
    seeds["read-padded"] = b"".join(replies[:5]) + msg(5, READ, struct.pack("<II", 108, 100) + bytes(4096)) + b"".join(replies[6:])
    seeds["read-too-much"] = b"".join(replies[:5]) + msg(5, READ, struct.pack("<II", 8 + 4097, 4097) + bytes(4097))
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
