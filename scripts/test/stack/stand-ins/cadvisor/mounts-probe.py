"""The cadvisor stand-in: checks the mounts cAdvisor needs and serves /healthz and /metrics.

Not cAdvisor (see the Dockerfile). /healthz answers 200 only when every mount holds what cAdvisor
reads (Docker's data root where the engine says it is); otherwise 500 with the problems, which are also printed at start.
"""

import json
import os
import socket
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SOCKET = "/var/run/docker.sock"

# What cAdvisor reads, by the mount the catalogue gives it.
CHECKS = [
    ("/rootfs/etc", "the host's root filesystem at /rootfs"),
    ("/sys/fs/cgroup", "the host's cgroups under /sys"),
    (SOCKET, "Docker's socket under /var/run"),
]


def docker_root():
    """DockerRootDir from the engine's /info: cAdvisor reads container layers at that path."""
    with socket.socket(socket.AF_UNIX) as conn:
        conn.settimeout(5)
        conn.connect(SOCKET)
        conn.sendall(b"GET /info HTTP/1.0\r\nHost: docker\r\n\r\n")
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    return json.loads(data.split(b"\r\n\r\n", 1)[1])["DockerRootDir"]


def problems():
    found = [f"missing {what}: {path}" for path, what in CHECKS if not os.path.exists(path)]
    if found:
        return found
    try:
        root = docker_root()
    except (OSError, ValueError, KeyError) as error:
        return [f"cannot ask Docker for its data root: {error}"]
    return [
        f"missing Docker's data root as the engine reports it: {root}/{part} (mount it at the same path)"
        for part in ("image", "containers")
        if not os.path.isdir(os.path.join(root, part))
    ]


def metrics(found):
    return (
        "# HELP refresher_standin_info A stand-in image under another image's name.\n"
        "# TYPE refresher_standin_info gauge\n"
        'refresher_standin_info{stands_in_for="cadvisor",is="mounts-probe"} 1\n'
        "# HELP refresher_standin_mounts_ok 1 when every mount cAdvisor reads is in place.\n"
        "# TYPE refresher_standin_mounts_ok gauge\n"
        f"refresher_standin_mounts_ok {0 if found else 1}\n"
    )


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        found = problems()
        if self.path == "/healthz":
            status, body, kind = (500, "\n".join(found) + "\n", "text/plain") if found else (200, "ok\n", "text/plain")
        elif self.path == "/metrics":
            status, body, kind = 200, metrics(found), "text/plain; version=0.0.4"
        else:
            status, body, kind = 404, "not found\n", "text/plain"
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    print(f"mounts probe standing in for cAdvisor; ignoring flags {sys.argv[1:]}", flush=True)
    for problem in problems():
        print(problem, flush=True)
    ThreadingHTTPServer(("0.0.0.0", 8080), Handler).serve_forever()
