"""Mixed REST traffic from many threads, each with its own connection, for the fault and load
tests: every worker writes new secrets and reads back what it wrote before. It records every
status and every write the bridge acknowledged, so a test can demand afterwards that each one
is readable with the value written."""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import requests


@dataclass
class Traffic:
    base_url: str
    api_key: str = "dev-key"
    workers: int = 16
    statuses: Counter = field(default_factory=Counter)
    #: path -> value of every write answered 200.
    acknowledged: dict[str, str] = field(default_factory=dict)
    #: Responses that were neither success nor the outage answer expected, with their bodies.
    unexpected: list[tuple[int, str]] = field(default_factory=list)
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    def __post_init__(self):
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def _record(self, response: requests.Response | None) -> None:
        with self._lock:
            if response is None:
                self.statuses["connection error"] += 1
            else:
                self.statuses[response.status_code] += 1

    def _worker(self, worker: int) -> None:
        session = requests.Session()
        headers = {"X-API-Key": self.api_key}
        written: list[str] = []
        for i in itertools.count():
            if self._stop.is_set():
                return
            path = f"load/{self.run_id}/{worker}/{i}"
            value = f"{worker}-{i}"
            try:
                put = session.put(f"{self.base_url}/secrets/{path}", json={"data": {"v": value}},
                                  headers=headers, timeout=30)
            except requests.RequestException:
                self._record(None)
                time.sleep(0.05)
                continue
            self._record(put)
            if put.status_code == 200:
                with self._lock:
                    self.acknowledged[path] = value
                written.append(path)
            elif put.status_code != 503:
                with self._lock:
                    self.unexpected.append((put.status_code, put.text[:300]))
            if written:
                try:
                    got = session.get(f"{self.base_url}/secrets/{written[i % len(written)]}", headers=headers,
                                      timeout=30)
                except requests.RequestException:
                    self._record(None)
                    continue
                self._record(got)
                if got.status_code not in (200, 503):
                    with self._lock:
                        self.unexpected.append((got.status_code, got.text[:300]))

    def start(self) -> "Traffic":
        self._threads = [threading.Thread(target=self._worker, args=(w,), daemon=True)
                         for w in range(self.workers)]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)

    def unreadable(self) -> list[str]:
        """Acknowledged writes that do not read back with their value, afterwards."""
        session = requests.Session()
        missing = []
        for path, value in self.acknowledged.items():
            got = session.get(f"{self.base_url}/secrets/{path}", headers={"X-API-Key": self.api_key}, timeout=30)
            if got.status_code != 200 or got.json()["data"] != {"v": value}:
                missing.append(path)
        return missing
