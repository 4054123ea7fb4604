"""Optional OpenTelemetry: with OTEL_EXPORTER_OTLP_ENDPOINT set, the backend exports spans over
OTLP/HTTP (protobuf) to that endpoint; here a plain HTTP receiver stands in for the collector
and the exported spans are checked for what they name, and for what they must never carry."""

import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import requests

import stack as stacks
from support import UNLIMITED, start_stack, wait_for


class Collector(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        Collector.received.append((self.path, self.headers.get("content-type"), body))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_spans_are_exported_over_otlp_http(built, tmp_path_factory):
    port = stacks.free_ports(1)[0]
    server = HTTPServer(("127.0.0.1", port), Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    running = start_stack(tmp_path_factory, "otel", filter_overrides=UNLIMITED, backend_env={
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
        "OTEL_SERVICE_NAME": "bridge-under-test",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
    })
    try:
        planted = "otel-planted-value-3f9a"
        assert requests.put(f"{running.envoy_url}/secrets/otel/x", json={"data": {"v": planted}},
                            headers={"X-API-Key": "dev-key"}, timeout=10).ok

        def exported():
            return b"".join(body for path, _, body in Collector.received if path == "/v1/traces")

        # The edge's registry fetches make spans of their own: wait for the write's.
        spans = wait_for(lambda: b"/secrets/{path:.*}" in exported() and exported())
        assert all(ctype == "application/x-protobuf" for _, ctype, _ in Collector.received)
        for expected in (b"bridge-under-test", b"http.request", b"vault.call", b"/secrets/{path:.*}", b"kv"):
            assert expected in spans, expected
        assert planted.encode() not in spans
        assert running.secrets.assertion_key.encode() not in spans
    finally:
        running.stop()
        server.shutdown()
