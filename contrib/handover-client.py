#!/usr/bin/env python3
"""Reference client of vfio-migd's hand-over socket (docs/HANDOVER.md).

A VMM, or the agent that runs it, hands the daemon a duplicate of its VFIO
device fd (and, for a device whose DMA its legacy type1 container logs, of
the container's) with the guest's IOVA layout, updates the layout after
memory hot-plug, and takes the device back. One JSON request per
SOCK_SEQPACKET message, the fds as SCM_RIGHTS (socket.send_fds, Python
3.9+), one JSON answer; errors carry the control API's codes.

As a library:

    import handover_client as hc
    hc.attach("/run/vfio-migd/handover.sock", "gpu0", device_fd,
              iova=[(0, 1 << 30), (1 << 32, 3 << 30)], final_state="stopped")
    hc.attach("/run/vfio-migd/handover.sock", "nic0", device_fd, backend="vfio-v1",
              iova=[(0, 1 << 30)], container_fd=container_fd)
    hc.attach_vfio_user("/run/vfio-migd/handover.sock", "nvme0", server_sock_fd,
                        max_data_xfer_size=1048576, final_state="running",
                        iova=[(0, 1 << 30)])
    ...
    hc.detach("/run/vfio-migd/handover.sock", "gpu0")

The owner the daemon watches is the connecting process unless owner_pid
names another; when it exits, the daemon lets go of the device.

As a program (the fd inherited, like `vfio-migctl attach`):

    handover-client.py [--socket PATH] attach gpu0 --fd 3 --iova 0:1073741824
    handover-client.py [--socket PATH] attach nic0 --fd 3 --container-fd 4 \
        --backend vfio-v1 --iova 0:1073741824
    handover-client.py [--socket PATH] attach nvme0 --backend vfio-user \
        --vfio-user-socket /run/vfio-user/nvme0.sock --iova 0:1073741824
    handover-client.py [--socket PATH] set-iova gpu0 --iova 0:2147483648
    handover-client.py [--socket PATH] detach gpu0

For vfio-user, --fd names a vfio-user server's socket the VMM connected
and negotiated (with --max-data-xfer-size, the limit it negotiated; the
daemon then sends no VERSION of its own), or --vfio-user-socket connects
to the server here, negotiates VERSION as a VMM would and hands that
connection over. --vfio-user-timeout-ms sets how long each reply of the
server may take (the daemon's default: 10 s). The VMM sends nothing on a
handed-over connection until it detaches the device. With --iova, the
server's DMA is logged over those ranges by its DMA logging
(DMA_LOGGING_START); a server without it is refused with no-dirty-tracking.

It prints the daemon's answer as JSON; on an error, "CODE: message" on
standard error and exit status 1 (2 for usage, 3 when the daemon cannot be
reached).
"""

import argparse
import json
import os
import socket
import struct
import sys

DEFAULT_SOCKET = "/run/vfio-migd/handover.sock"
ANSWER_MAX = 65536


class HandoverError(Exception):
    """The daemon refused the request: code is the API's error code."""

    def __init__(self, code, message):
        super().__init__("%s: %s" % (code, message))
        self.code = code
        self.message = message


def request(path, req, fds=()):
    """Send one request (with fds) and return the daemon's answer."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as s:
        # A vfio-user attach is answered once its server has answered the
        # daemon's questions, each within vfio_user_timeout_ms.
        s.settimeout(60)
        s.connect(path)
        data = json.dumps(req).encode()
        try:
            if fds:
                socket.send_fds(s, [data], list(fds))
            else:
                s.send(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # a refused peer is answered at once: read why
        answer = json.loads(s.recv(ANSWER_MAX))
    if "error" in answer:
        raise HandoverError(answer["error"].get("code"), answer["error"].get("message"))
    return answer


def _ranges(iova):
    return [{"start": int(start), "length": int(length)} for start, length in iova]


def attach(path, name, device_fd, iova=(), final_state="stopped", page_size=None,
           owner_pid=None, backend="vfio-v2", container_fd=None):
    """Hand device_fd over as NAME (with container_fd, the VMM's type1
    container, whose dirty page log then covers the device's DMA over
    iova); returns the device object."""
    req = {"op": "attach", "name": name, "backend": backend, "iova": _ranges(iova),
           "final_state": final_state}
    fds = [device_fd]
    if page_size is not None:
        req["page_size"] = int(page_size)
    if owner_pid is not None:
        req["owner_pid"] = int(owner_pid)
    if container_fd is not None:
        req["fds"] = ["device", "container"]
        fds.append(container_fd)
    return request(path, req, fds)["device"]


def attach_vfio_user(path, name, sock_fd, max_data_xfer_size=None, final_state="stopped",
                     owner_pid=None, timeout_ms=None, iova=(), page_size=None):
    """Hand over sock_fd, a vfio-user server's connected socket: negotiated
    by the VMM already with max_data_xfer_size, or (None) for the daemon
    to negotiate; with iova, the guest's ranges the server's DMA logging
    then covers (refused with no-dirty-tracking by a server without it);
    returns the device object."""
    req = {"op": "attach", "name": name, "backend": "vfio-user", "final_state": final_state}
    if iova:
        req["iova"] = _ranges(iova)
    if page_size is not None:
        req["page_size"] = int(page_size)
    if max_data_xfer_size is not None:
        req["max_data_xfer_size"] = int(max_data_xfer_size)
    if owner_pid is not None:
        req["owner_pid"] = int(owner_pid)
    if timeout_ms is not None:
        req["vfio_user_timeout_ms"] = int(timeout_ms)
    return request(path, req, [sock_fd])["device"]


VFIO_USER_VERSION = 1
VFIO_USER_REPLY = 0x1
VFIO_USER_ERROR = 0x20


def vfio_user_connect(server_path, max_data_xfer_size=1048576, timeout=10):
    """Connect to a vfio-user server and negotiate VERSION 0.1 as a VMM
    does; returns (socket, the negotiated max_data_xfer_size)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(server_path)
    caps = json.dumps({"capabilities": {"max_msg_fds": 1,
                                        "max_data_xfer_size": max_data_xfer_size}}).encode()
    body = struct.pack("<HH", 0, 1) + caps + b"\0"
    s.sendall(struct.pack("<HHIII", 0, VFIO_USER_VERSION, 16 + len(body), 0, 0) + body)
    head = _recv_exact(s, 16)
    mid, cmd, size, flags, err = struct.unpack("<HHIII", head)
    if mid != 0 or cmd != VFIO_USER_VERSION or (flags & 0xf) != VFIO_USER_REPLY:
        raise OSError("vfio-user server at %s: not a VERSION reply" % server_path)
    if flags & VFIO_USER_ERROR:
        raise OSError("vfio-user server at %s refused VERSION: errno %d" % (server_path, err))
    if size < 20 or size > 16 + 4 + 4096:
        raise OSError("vfio-user server at %s: VERSION reply of %d bytes" % (server_path, size))
    reply = _recv_exact(s, size - 16)
    limit = max_data_xfer_size
    text = reply[4:].rstrip(b"\0")
    if text:
        theirs = json.loads(text).get("capabilities", {}).get("max_data_xfer_size")
        if isinstance(theirs, int) and theirs > 0:
            limit = min(limit, theirs)
    s.settimeout(None)
    return s, limit


def _recv_exact(s, n):
    data = b""
    while len(data) < n:
        part = s.recv(n - len(data))
        if not part:
            raise OSError("vfio-user server closed the connection")
        data += part
    return data


def set_iova(path, name, iova, page_size=None):
    """The guest's layout changed (memory hot-plug); not while migrating."""
    req = {"op": "set-iova", "name": name, "iova": _ranges(iova)}
    if page_size is not None:
        req["page_size"] = int(page_size)
    return request(path, req)["device"]


def detach(path, name):
    """Take the device back: the daemon closes its own reference only."""
    request(path, {"op": "detach", "name": name})


def _range_arg(text):
    start, sep, length = text.partition(":")
    if not sep:
        raise argparse.ArgumentTypeError("START:LENGTH expected, got %r" % text)
    return int(start, 0), int(length, 0)


def main(argv=None):
    p = argparse.ArgumentParser(description="vfio-migd hand-over client")
    p.add_argument("--socket", default=os.environ.get("VFIO_MIGD_HANDOVER", DEFAULT_SOCKET))
    p.add_argument("op", choices=["attach", "set-iova", "detach"])
    p.add_argument("name")
    p.add_argument("--fd", type=int, help="attach: the inherited device fd")
    p.add_argument("--container-fd", type=int,
                   help="attach: the inherited type1 container fd, for its dirty page log")
    p.add_argument("--backend", default="vfio-v2", choices=["vfio-v2", "vfio-v1", "vfio-user"])
    p.add_argument("--max-data-xfer-size", type=int,
                   help="attach, vfio-user: the limit the VMM negotiated on --fd")
    p.add_argument("--vfio-user-socket",
                   help="attach, vfio-user: connect to this server and negotiate here")
    p.add_argument("--vfio-user-timeout-ms", type=int,
                   help="attach, vfio-user: how long each reply of the server may take")
    p.add_argument("--iova", type=_range_arg, action="append", default=[], metavar="START:LENGTH",
                   help="attach, set-iova: a guest IOVA range the device's DMA is logged over "
                        "(repeat for each); for vfio-user, by the server's DMA logging")
    p.add_argument("--final-state", choices=["stopped", "running"], default="stopped")
    p.add_argument("--page-size", type=int,
                   help="attach, set-iova: the dirty bitmap's page size (default 4096)")
    p.add_argument("--owner-pid", type=int,
                   help="attach: the process to watch (default: this program's parent)")
    a = p.parse_args(argv)
    try:
        if a.op == "attach" and a.backend == "vfio-user":
            owner = a.owner_pid if a.owner_pid is not None else os.getppid()
            if a.vfio_user_socket is not None:
                conn, limit = vfio_user_connect(a.vfio_user_socket)
                with conn:
                    dev = attach_vfio_user(a.socket, a.name, conn.fileno(), limit,
                                           a.final_state, owner, a.vfio_user_timeout_ms,
                                           a.iova, a.page_size)
            elif a.fd is not None:
                dev = attach_vfio_user(a.socket, a.name, a.fd, a.max_data_xfer_size,
                                       a.final_state, owner, a.vfio_user_timeout_ms, a.iova,
                                       a.page_size)
            else:
                p.error("attach --backend vfio-user needs --fd or --vfio-user-socket")
            out = {"ok": True, "device": dev}
        elif a.op == "attach":
            if a.fd is None:
                p.error("attach needs --fd")
            owner = a.owner_pid if a.owner_pid is not None else os.getppid()
            out = {"ok": True, "device": attach(a.socket, a.name, a.fd, a.iova, a.final_state,
                                                a.page_size, owner, a.backend,
                                                a.container_fd)}
        elif a.op == "set-iova":
            out = {"ok": True, "device": set_iova(a.socket, a.name, a.iova, a.page_size)}
        else:
            detach(a.socket, a.name)
            out = {"ok": True}
    except HandoverError as e:
        print("%s: %s" % (e.code, e.message), file=sys.stderr)
        return 1
    except OSError as e:
        print("cannot reach %s: %s" % (a.socket, e), file=sys.stderr)
        return 3
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
