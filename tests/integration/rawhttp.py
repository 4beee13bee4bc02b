#!/usr/bin/env python3
"""rawhttp.py: raw bytes to the control socket, and what comes back, one line
per response (http-errors.sh).

    rawhttp.py SOCKET [-n RESPONSES] [--again K] [--closed] [--head] [--pieces N]
               [--stream CHUNKS] < BYTES

Sends BYTES as they are (in N pieces, each its own send(), with --pieces),
then reads RESPONSES responses (default 1) and prints each as

    status=413 type=application/json conn=close allow= te= len=118 body={"error":...}

--again K sends BYTES K more times on the same connection, each once the
previous responses are read. --closed then waits for the daemon to close
the connection and prints "closed" (or "open" if it has not within the
timeout). A HEAD request's response has no body: give --head for it.
--stream CHUNKS reads a chunked response's head and CHUNKS chunks, prints
each chunk as "chunk=...", and closes the connection (a client that goes
away). Every read has a 20 s timeout: a daemon that does not answer is a
failure (exit 1), not a hang.
"""
import argparse
import socket
import sys


class Reader:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError
        self.buf += data

    def line(self):
        while b"\r\n" not in self.buf:
            self.fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode("latin-1")

    def exact(self, n):
        while len(self.buf) < n:
            self.fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def closed(self):
        if self.buf:
            return False
        try:
            self.fill()
        except EOFError:
            return True
        return False


def read_head(r):
    status = r.line()
    while status.startswith("HTTP/1.1 100 "):
        assert r.line() == ""
        status = r.line()
    parts = status.split(" ", 2)
    if len(parts) < 3 or parts[0] != "HTTP/1.1":
        raise ValueError("bad status line: %r" % status)
    headers = {}
    while True:
        line = r.line()
        if line == "":
            break
        name, value = line.split(":", 1)
        headers[name.strip().lower()] = value.strip()
    return int(parts[1]), headers


def read_chunk(r):
    size = int(r.line().split(";")[0], 16)
    data = r.exact(size)
    assert r.exact(2) == b"\r\n"
    return data


def describe(status, headers, body):
    return "status=%d type=%s conn=%s allow=%s te=%s len=%s body=%s" % (
        status, headers.get("content-type", ""), headers.get("connection", ""),
        headers.get("allow", ""), headers.get("transfer-encoding", ""),
        headers.get("content-length", ""), body.decode("utf-8", "replace").rstrip("\n"))


def send(sock, data, pieces):
    step = max(1, -(-len(data) // pieces))
    for i in range(0, len(data), step):
        sock.sendall(data[i:i + step])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("socket")
    ap.add_argument("-n", type=int, default=1)
    ap.add_argument("--again", type=int, default=0)
    ap.add_argument("--closed", action="store_true")
    ap.add_argument("--head", action="store_true")
    ap.add_argument("--stream", type=int)
    ap.add_argument("--pieces", type=int, default=1)
    args = ap.parse_args()
    data = sys.stdin.buffer.read()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(20)
    sock.connect(args.socket)
    r = Reader(sock)
    send(sock, data, args.pieces)
    if args.stream is not None:
        status, headers = read_head(r)
        print(describe(status, headers, b""))
        for _ in range(args.stream):
            print("chunk=" + read_chunk(r).decode().rstrip("\n"))
        sock.close()
        return 0
    for again in range(args.again + 1):
        if again > 0:
            send(sock, data, args.pieces)
        for _ in range(args.n):
            status, headers = read_head(r)
            length = int(headers.get("content-length", "0"))
            body = b"" if args.head else r.exact(length)
            print(describe(status, headers, body))
    if args.closed:
        try:
            print("closed" if r.closed() else "open")
        except socket.timeout:
            print("open")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (socket.timeout, EOFError, ValueError, ConnectionError) as e:
        print("rawhttp: %s: %r" % (type(e).__name__, e))
        sys.exit(1)
