"""Serves the files of one folder as the backend serves the registry snapshot: with an `ETag`
(a hash of the body) and 304 when `If-None-Match` names it. Python's http.server has no ETags,
and without them every refresh would hand the edge the whole document again, which the backend
never does while nothing changes.

    python bench/snapshot_server.py FOLDER PORT
"""

from __future__ import annotations

import hashlib
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def handler(folder: Path) -> type[BaseHTTPRequestHandler]:
    bodies = {f"/{p.name}": p.read_bytes() for p in folder.iterdir() if p.is_file()}
    etags = {path: f'"{hashlib.sha256(body).hexdigest()[:32]}"' for path, body in bodies.items()}

    class Snapshot(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's naming)
            body = bodies.get(self.path)
            if body is None:
                self.send_error(404)
                return
            etag = etags[self.path]
            if self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("ETag", etag)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format, *args):  # noqa: A002 (the base class's name)
            sys.stderr.write(f"{self.command} {self.path} {args[1] if len(args) > 1 else ''}\n")

    return Snapshot


if __name__ == "__main__":
    folder, port = Path(sys.argv[1]), int(sys.argv[2])
    ThreadingHTTPServer(("127.0.0.1", port), handler(folder)).serve_forever()
