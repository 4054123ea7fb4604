"""The Docker CLI as the compose scripts use it, and a private Docker daemon for the tests.

The daemon the tests start has its own data root, exec root and socket under one folder, so
stopping it leaves nothing of it behind: `stop_daemon` also removes the bridge interface, the
network namespace mount and the iptables tables dockerd adds to the host.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class Refused(SystemExit):
    """A check failed: the message says what to do."""


def cli() -> str:
    """Debian's docker CLI first: a static one elsewhere on PATH may lack the builder the
    daemon expects."""
    return "/usr/bin/docker" if Path("/usr/bin/docker").exists() else (shutil.which("docker") or "docker")


def docker_env() -> dict:
    """The environment for docker and docker-compose; raises with a message a user can act on
    when no daemon answers."""
    env = {**os.environ, "DOCKER_BUILDKIT": "0", "COMPOSE_DOCKER_CLI_BUILD": "0"}
    done = subprocess.run([cli(), "version", "--format", "{{.Server.Version}}"], env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        raise Refused(f"no Docker daemon answers at {where}: start dockerd (or set DOCKER_HOST) first\n"
                         f"  docker said: {done.stderr.strip()}")
    return env


def docker(*args: str, stdin=None, quiet: bool = False, capture: bool = False) -> str:
    done = subprocess.run([cli(), *args], env={**os.environ, "DOCKER_BUILDKIT": "0"}, stdin=stdin,
                          stdout=subprocess.PIPE if (quiet or capture) else None, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args[:2])} failed (exit {done.returncode})")
    return done.stdout or ""


def image_exists(name: str) -> bool:
    return subprocess.run([cli(), "image", "inspect", name], env=os.environ,
                          capture_output=True).returncode == 0


def install_docker() -> None:
    """Debian's docker.io and docker-compose (v1), when the machine lacks them."""
    missing = [package for package, binary in (("docker.io", "/usr/sbin/dockerd"),
                                               ("docker-compose", "/usr/bin/docker-compose"))
               if not Path(binary).exists()]
    if missing:
        subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", *missing], check=True,
                       stdout=subprocess.DEVNULL)


#: Host settings dockerd changes (it turns on forwarding, and bridge traffic through iptables).
SYSCTLS = [Path("/proc/sys/net/ipv4/ip_forward"), Path("/proc/sys/net/bridge/bridge-nf-call-iptables"),
           Path("/proc/sys/net/bridge/bridge-nf-call-ip6tables")]


class PrivateDaemon:
    """A dockerd with its data root, exec root, socket and log under `folder`, for the tests.

    It uses the default bridge `docker0`, so it refuses to start beside another daemon (which
    owns that bridge): set COMPOSE_TEST_DOCKER_HOST to test on that one instead. `stop` puts the
    host back as `start` found it: the bridge, the network namespace mount, the packet filter
    and the sysctls dockerd changed."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.host = f"unix://{folder}/docker.sock"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 60, no_registry: bool = False) -> str:
        """Returns its DOCKER_HOST. `no_registry`: its pulls go to a proxy that refuses at once
        (a machine without registry access would otherwise wait on each pull until it times out)."""
        if Path("/sys/class/net/docker0").exists():
            raise Refused("another Docker daemon owns docker0: stop it, or run the compose tests on it "
                          "with COMPOSE_TEST_DOCKER_HOST=unix:///var/run/docker.sock (its images stay)")
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "iptables.before").write_text(iptables_save())
        (self.folder / "sysctl.before").write_text(json.dumps(
            {str(path): path.read_text().strip() for path in SYSCTLS if path.exists()}))
        proxy = {"HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9"} if no_registry else {}
        with open(self.folder / "dockerd.log", "ab") as log:
            self.process = subprocess.Popen(
                ["/usr/sbin/dockerd", f"--data-root={self.folder}/root", f"--exec-root={self.folder}/exec",
                 f"--pidfile={self.folder}/dockerd.pid", "-H", self.host],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                env={**os.environ, **proxy})
        deadline = time.monotonic() + timeout
        while subprocess.run([cli(), "-H", self.host, "version"], capture_output=True).returncode != 0:
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError(f"dockerd did not answer within {timeout:.0f} s: see {self.folder}/dockerd.log")
            time.sleep(0.5)
        return self.host

    def stop(self, timeout: float = 60) -> None:
        if self.process is not None:
            # dockerd stops its containers and its containerd, in its process group.
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        subprocess.run(["umount", f"{self.folder}/exec/netns/default"], capture_output=True)
        subprocess.run(["ip", "link", "del", "docker0"], capture_output=True)
        restore_packet_filter(self.folder / "iptables.before")
        saved = self.folder / "sysctl.before"
        if saved.exists():
            for path, value in json.loads(saved.read_text()).items():
                Path(path).write_text(value)

    def leftovers(self) -> list[str]:
        """What of this daemon is still on the host (empty: nothing)."""
        left = []
        if Path("/sys/class/net/docker0").exists():
            left.append("the docker0 interface")
        if str(self.folder) in Path("/proc/mounts").read_text():
            left.append(f"mounts under {self.folder}")
        for pid in filter(lambda p: p.isdigit() and int(p) != os.getpid(), os.listdir("/proc")):
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if str(self.folder) in argv:
                left.append(f"process {pid} ({argv.split(chr(0))[0]})")
        saved = self.folder / "iptables.before"
        if saved.exists() and rules(iptables_save()) != rules(saved.read_text()):
            left.append("packet filter rules")
        saved = self.folder / "sysctl.before"
        if saved.exists():
            for path, value in json.loads(saved.read_text()).items():
                if Path(path).exists() and Path(path).read_text().strip() != value:
                    left.append(f"{path} = {Path(path).read_text().strip()} (was {value})")
        return left


def iptables_save() -> str:
    return subprocess.run(["iptables-save"], capture_output=True, text=True).stdout


def restore_packet_filter(saved: Path) -> None:
    """The iptables tables as they were before dockerd started: those that existed get their
    rules back; those dockerd made (filter, nat) are emptied, their policies ACCEPT again (an
    empty table accepting everything, which is what no table does)."""
    if not saved.exists():
        return
    before = saved.read_text()
    if before.strip():
        subprocess.run(["iptables-restore"], input=before, text=True, check=True)
    had = {line[1:].strip() for line in before.splitlines() if line.startswith("*")}
    for table in ("filter", "nat"):
        if table in had:
            continue
        subprocess.run(["iptables", "-t", table, "-F"], capture_output=True)
        subprocess.run(["iptables", "-t", table, "-X"], capture_output=True)
        if table == "filter":
            for chain in ("INPUT", "FORWARD", "OUTPUT"):
                subprocess.run(["iptables", "-P", chain, "ACCEPT"], capture_output=True)


def rules(dump: str) -> list[str]:
    """What an iptables-save dump does: its rules and its chains whose policy is not ACCEPT, by
    table (an empty table accepting everything counts as no table)."""
    out, table = [], ""
    for line in dump.splitlines():
        if line.startswith("*"):
            table = line[1:]
        elif line.startswith("-A "):
            out.append(f"{table} {line}")
        elif line.startswith(":") and line.split()[1] not in ("ACCEPT", "-"):
            out.append(f"{table} {line.split(' [')[0]}")
        elif line.startswith(":") and line.split()[1] == "-":
            out.append(f"{table} {line.split()[0]}")  # a chain of its own, even empty
    return sorted(out)
