#!/usr/bin/env python3
"""vfio_user_drive.py: a tiny vfio-user client that checks the test server
(tests/vfio-user-server) on its own, without the daemon.

    vfio_user_drive.py SOCKET save STREAM [--expect-initial]
    vfio_user_drive.py SOCKET load STREAM [--piece BYTES]
    vfio_user_drive.py SOCKET checks
    vfio_user_drive.py SOCKET dma-logging
    vfio_user_drive.py SOCKET short-read
    vfio_user_drive.py SOCKET hostile KIND [WHERE]
    vfio_user_drive.py SOCKET load-refused STREAM ERRNO

save: RUNNING -> PRE_COPY, read until the initial data is done (asking
PRECOPY_INFO between reads), -> STOP_COPY, read until a short read, -> STOP;
the stream goes to STREAM. load: STOP -> RESUMING, write STREAM in pieces,
-> STOP -> RUNNING. checks: the error replies (wrong arc, oversized read,
unknown feature and command, PRECOPY_INFO outside PRE_COPY, an incomplete
stream, reset out of ERROR). short-read: a body that never fully arrives is
dropped. hostile KIND: the reply the fault KIND makes is what it says.
Exit 0 when every check held, 1 with a line saying which did not.
Each message goes out in one send(), as the server wants.
"""
import errno
import json
import select
import socket
import struct
import sys

HDR = struct.Struct("=HHIII")
VERSION, GET_INFO, REGION_INFO, RESET, FEATURE, DATA_READ, DATA_WRITE = 1, 4, 5, 13, 16, 17, 18
GET, SET, PROBE = 1 << 16, 1 << 17, 1 << 18
F_MIGRATION, F_STATE, F_LOG_START, F_LOG_STOP, F_LOG_REPORT = 1, 2, 6, 7, 8
F_DATA_SIZE, F_PRECOPY_INFO = 9, 0xFF01
STOP, RUNNING, STOP_COPY, RESUMING, PRE_COPY, ERROR = 1, 2, 3, 4, 6, 0
XFER = 1 << 20
TIMEOUT = 30


class ServerError(Exception):
    def __init__(self, err):
        super().__init__(errno.errorcode.get(err, str(err)))
        self.errno = err


def die(msg):
    print("FAIL: " + msg)
    sys.exit(1)


class Client:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(TIMEOUT)
        self.s.connect(path)
        self.id = 0

    def send(self, cmd, body=b"", size=None):
        self.id = (self.id + 1) & 0xFFFF
        size = HDR.size + len(body) if size is None else size
        self.s.sendall(HDR.pack(self.id, cmd, size, 0, 0) + body)
        return self.id

    def recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.s.recv(n - len(buf))
            if not chunk:
                raise EOFError("server closed after %d of %d bytes" % (len(buf), n))
            buf += chunk
        return buf

    def reply_raw(self):
        mid, cmd, size, flags, err = HDR.unpack(self.recv_exact(HDR.size))
        if size < HDR.size or size > 64 << 20:
            return mid, cmd, size, flags, err, None
        return mid, cmd, size, flags, err, self.recv_exact(size - HDR.size)

    def call(self, cmd, body=b""):
        mid = self.send(cmd, body)
        rid, rcmd, size, flags, err, payload = self.reply_raw()
        if rid != mid or rcmd != cmd or flags & 0xF != 1 or payload is None:
            die("reply id %d cmd %d flags %#x size %d to id %d cmd %d" %
                (rid, rcmd, flags, size, mid, cmd))
        if flags & (1 << 5):
            raise ServerError(err)
        return payload

    def negotiate(self, xfer=XFER):
        caps = {"capabilities": {"max_msg_fds": 1, "max_data_xfer_size": xfer,
                                 "migration": {"pgsize": 4096, "max_bitmap_size": 1 << 20}}}
        r = self.call(VERSION, struct.pack("=HH", 0, 1) + json.dumps(caps).encode() + b"\0")
        major, minor = struct.unpack_from("=HH", r)
        got = json.loads(r[4:-1].decode())
        if (major, minor) != (0, 1) or r[-1] != 0 or "max_data_xfer_size" not in got["capabilities"]:
            die("version reply %d.%d %r" % (major, minor, r))
        self.xfer = min(xfer, got["capabilities"]["max_data_xfer_size"])
        info = self.call(GET_INFO, struct.pack("=IIII", 16, 0, 0, 0))
        if struct.unpack("=IIII", info)[1] & 3 != 3:
            die("device info %r" % (info,))
        flags = struct.unpack_from("=Q", self.get(F_MIGRATION, 16))[0]
        if flags != 5:
            die("migration flags %#x, not STOP_COPY|PRE_COPY" % flags)

    def get(self, feature, argsz):
        r = self.call(FEATURE, struct.pack("=II", argsz, GET | feature))
        return r[8:]

    def state(self):
        return struct.unpack_from("=I", self.get(F_STATE, 16))[0]

    def set_state(self, st):
        r = self.call(FEATURE, struct.pack("=IIIi", 16, SET | F_STATE, st, -1))
        if struct.unpack("=IIIi", r)[2] != st or self.state() != st:
            die("state %d not reached" % st)

    def precopy_info(self):
        return struct.unpack("=QQ", self.get(F_PRECOPY_INFO, 24))

    def read(self, size):
        r = self.call(DATA_READ, struct.pack("=II", 8 + size, size))
        argsz, n = struct.unpack_from("=II", r)
        if argsz != len(r) or n != len(r) - 8 or n > size:
            die("data read reply argsz %d size %d for %d bytes" % (argsz, n, len(r)))
        return r[8:]

    def write(self, data):
        if self.call(DATA_WRITE, struct.pack("=II", 8, len(data)) + data) != b"":
            die("data write reply with a payload")


def save(c, out, expect_initial):
    c.set_state(PRE_COPY)
    stream, infos = [], []
    for _ in range(1 << 20):
        initial, dirty = c.precopy_info()
        infos.append(initial)
        if initial == 0:
            break
        piece = c.read(c.xfer)
        if len(piece) == 0:
            die("pre-copy read returned nothing with %d initial bytes left" % initial)
        stream.append(piece)
    if expect_initial and (len(infos) < 2 or any(b > a for a, b in zip(infos, infos[1:]))):
        die("initial_bytes did not fall to 0: %r" % infos[:8])
    size = struct.unpack("=Q", c.get(F_DATA_SIZE, 16))[0]
    c.set_state(STOP_COPY)
    total = 0
    while True:
        piece = c.read(c.xfer)
        stream.append(piece)
        total += len(piece)
        if len(piece) < c.xfer:
            break
    if total == 0:
        die("stop-copy gave no data")
    c.set_state(STOP)
    with open(out, "wb") as f:
        f.write(b"".join(stream))
    print("saved %d bytes (pre-copy estimate of stop-copy %d)" % (sum(map(len, stream)), size))


def load(c, path, piece):
    data = open(path, "rb").read()
    c.set_state(STOP)
    c.set_state(RESUMING)
    for off in range(0, len(data), piece):
        c.write(data[off:off + piece])
    c.set_state(STOP)
    c.set_state(RUNNING)
    print("loaded %d bytes in pieces of %d" % (len(data), piece))


def expect_errno(fn, err, what):
    try:
        fn()
    except ServerError as e:
        if e.errno != err:
            die("%s: errno %d, expected %d" % (what, e.errno, err))
        return
    die("%s: accepted" % what)


def checks(c):
    c.call(RESET)
    expect_errno(lambda: c.set_state(STOP_COPY), errno.EINVAL, "RUNNING -> STOP_COPY")
    expect_errno(lambda: c.set_state(5), errno.EINVAL, "RUNNING -> RUNNING_P2P")
    expect_errno(lambda: c.read(16), errno.EINVAL, "read while RUNNING")
    expect_errno(lambda: c.precopy_info(), errno.EINVAL, "PRECOPY_INFO while RUNNING")
    expect_errno(lambda: c.get(0x1234, 16), errno.ENOTTY, "unknown feature")
    expect_errno(lambda: c.call(6, struct.pack("=IIII", 16, 0, 0, 0)), errno.ENOTSUP,
                 "GET_REGION_IO_FDS")
    expect_errno(lambda: c.call(FEATURE, struct.pack("=II", 8, GET | SET | F_STATE)),
                 errno.EINVAL, "GET and SET together")
    c.call(FEATURE, struct.pack("=II", 8, PROBE | GET | F_PRECOPY_INFO))
    expect_errno(lambda: c.call(FEATURE, struct.pack("=II", 8, PROBE | SET | F_MIGRATION)),
                 errno.EINVAL, "probe of SET on MIGRATION")
    small = c.call(FEATURE, struct.pack("=II", 8, GET | F_MIGRATION))
    if struct.unpack("=II", small) != (16, GET | F_MIGRATION):
        die("GET with a small argsz: %r" % small)
    region = c.call(REGION_INFO, struct.pack("=IIIIQQ", 32, 0, 7, 0, 0, 0))
    if struct.unpack("=IIIIQQ", region)[4] != 256:
        die("config region %r" % region)
    c.set_state(PRE_COPY)
    expect_errno(lambda: c.read(c.xfer + 1), errno.E2BIG, "read above max_data_xfer_size")
    expect_errno(lambda: c.call(DATA_READ, struct.pack("=II", 8, 64)), errno.EINVAL,
                 "read with argsz below the data")
    c.read(64)
    c.set_state(STOP_COPY)
    expect_errno(lambda: c.set_state(PRE_COPY), errno.EINVAL, "STOP_COPY -> PRE_COPY")
    c.set_state(STOP)
    c.set_state(RESUMING)
    expect_errno(lambda: c.write(b"\0" * 40), errno.EINVAL, "a record with a bad magic")
    expect_errno(lambda: c.set_state(STOP), errno.EINVAL, "RESUMING -> STOP, no end record")
    if c.state() != ERROR:
        die("not ERROR after a refused RESUMING -> STOP")
    expect_errno(lambda: c.set_state(RUNNING), errno.EINVAL, "ERROR -> RUNNING without reset")
    c.call(RESET)
    if c.state() != RUNNING:
        die("not RUNNING after reset")
    print("error replies as documented")


def dma_logging(c):
    c.call(RESET)
    iova, length = 1 << 32, 64 << 20
    r = c.call(FEATURE, struct.pack("=IIQIIQQ", 40, SET | F_LOG_START, 4096, 1, 0, iova, length))
    if struct.unpack_from("=Q", r, 8)[0] != 4096:
        die("logging page size %r" % r)
    words = length // 4096 // 64 + 1
    for _ in range(3000):
        r = c.call(FEATURE, struct.pack("=IIQQQ", 32 + words * 8, GET | F_LOG_REPORT, iova, length,
                                        4096))
        bits = sum(bin(b).count("1") for b in r[32:])
        if bits:
            break
        select.select([], [], [], 0.01)
    else:
        die("no page reported dirty while the workload ran")
    expect_errno(lambda: c.call(FEATURE, struct.pack("=IIQQQ", 4096, GET | F_LOG_REPORT, 0, 4096,
                                                     4096)), errno.EINVAL, "report outside the ranges")
    c.call(FEATURE, struct.pack("=II", 8, SET | F_LOG_STOP))
    print("dma logging reported %d dirty pages" % bits)


def short_read(c):
    # A header announcing 4096 bytes, and half of them: the server's one
    # recv() of the body gets 2048 and it must drop the connection.
    c.s.sendall(HDR.pack(1, DATA_WRITE, HDR.size + 4096, 0, 0) + b"\0" * 2048)
    try:
        if c.s.recv(1) != b"":
            die("the server answered a message it had half of")
    except ConnectionResetError:
        pass
    print("a short read dropped the connection")


def hostile(c, kind):
    """The first data read after negotiation meets the fault."""
    c.set_state(PRE_COPY)
    mid = c.send(DATA_READ, struct.pack("=II", 8 + 4096, 4096))
    if kind == "stall":
        c.s.settimeout(2)
        try:
            c.reply_raw()
        except (socket.timeout, EOFError):
            print("stall: no whole reply")
            return
        die("stall: a whole reply came")
    try:
        rid, cmd, size, flags, err, payload = c.reply_raw()
    except EOFError:
        if kind in ("hang-up", "kill"):
            print("%s: the connection ended mid-reply" % kind)
            return
        raise
    ok = {
        "bad-msg-id": rid != mid,
        "bad-command": cmd != DATA_READ,
        "error-reply": flags & (1 << 5) and err == errno.EIO,
        "short-reply": payload is not None and len(payload) < 8 + 4096,
        "oversized-reply": payload is not None and len(payload) == 8 + 4096 + 4096,
        "huge-reply": size == 1 << 30,
    }.get(kind)
    if not ok:
        die("%s: reply id %d/%d cmd %d size %d flags %#x err %d" %
            (kind, rid, mid, cmd, size, flags, err))
    print("%s: as described" % kind)


def load_refused(c, path, err):
    data = open(path, "rb").read()
    c.set_state(STOP)
    c.set_state(RESUMING)
    try:
        for off in range(0, len(data), 16384):
            c.write(data[off:off + 16384])
        c.set_state(STOP)
    except ServerError as e:
        if e.errno != err:
            die("refused with %s, expected %d" % (e, err))
        print("the stream was refused with %s" % e)
        return
    die("a corrupt stream was loaded")


def main(argv):
    if len(argv) < 3:
        print(__doc__)
        return 2
    c = Client(argv[1])
    op = argv[2]
    if op == "short-read":
        short_read(c)
        return 0
    c.negotiate()
    if op == "save":
        save(c, argv[3], "--expect-initial" in argv)
    elif op == "load":
        load(c, argv[3], int(argv[5]) if len(argv) > 5 else 16384)
    elif op == "checks":
        checks(c)
    elif op == "dma-logging":
        dma_logging(c)
    elif op == "hostile":
        hostile(c, argv[3])
    elif op == "load-refused":
        load_refused(c, argv[3], int(argv[4]))
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
