"""The Docker CLI as the compose scripts use it, and a private Docker daemon for the tests.

The daemon the tests start has its own data root, exec root and socket under one folder, so
stopping it leaves nothing of it behind: `stop_daemon` also removes the bridge interface, the
network namespace mount and the iptables tables dockerd adds to the host.
"""

from __future__ import annotations

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


def start_daemon(folder: Path, timeout: float = 60, no_registry: bool = False) -> str:
    """Starts dockerd with everything of its own under `folder`; returns its DOCKER_HOST.
    `no_registry`: its pulls go to a proxy that refuses at once (a machine without registry
    access would otherwise wait on each pull until it times out)."""
    folder.mkdir(parents=True, exist_ok=True)
    # What the host's packet filter is now, so stop_daemon puts it back as it was.
    (folder / "iptables.before").write_text(
        subprocess.run(["iptables-save"], capture_output=True, text=True).stdout)
    proxy = {"HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9"} if no_registry else {}
    host = f"unix://{folder}/docker.sock"
    log = open(folder / "dockerd.log", "ab")
    subprocess.Popen(["/usr/sbin/dockerd", f"--data-root={folder}/root", f"--exec-root={folder}/exec",
                      f"--pidfile={folder}/dockerd.pid", "-H", host],
                     stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                     env={**os.environ, **proxy})
    log.close()
    deadline = time.monotonic() + timeout
    while subprocess.run([cli(), "-H", host, "version"], capture_output=True).returncode != 0:
        if time.monotonic() > deadline:
            raise RuntimeError(f"dockerd did not answer within {timeout:.0f} s: see {folder}/dockerd.log")
        time.sleep(0.5)
    return host


def stop_daemon(folder: Path, timeout: float = 60) -> None:
    """Stops the daemon `start_daemon(folder)` started and removes what it added to the host:
    its bridge interface, its network namespace mount, its packet filter rules."""
    pidfile = folder / "dockerd.pid"
    if pidfile.exists():
        pid = int(pidfile.read_text())
        try:
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
                time.sleep(0.2)
        except ProcessLookupError:
            pass
    subprocess.run(["umount", f"{folder}/exec/netns/default"], capture_output=True)
    subprocess.run(["ip", "link", "del", "docker0"], capture_output=True)
    restore_packet_filter(folder / "iptables.before")


def restore_packet_filter(saved: Path) -> None:
    """The iptables tables as they were before dockerd started: those that existed get their
    rules back; those dockerd made (filter, nat) are emptied, their policies ACCEPT again."""
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


def host_leftovers(folder: Path) -> list[str]:
    """What of the daemon `start_daemon(folder)` started is still on the host (empty: nothing)."""
    left = []
    if Path("/sys/class/net/docker0").exists():
        left.append("the docker0 interface")
    if str(folder) in Path("/proc/mounts").read_text():
        left.append(f"mounts under {folder}")
    pidfile = folder / "dockerd.pid"
    if pidfile.exists() and Path(f"/proc/{pidfile.read_text().strip()}").exists():
        left.append("dockerd")
    saved = folder / "iptables.before"
    now = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
    if saved.exists() and rules(now) != rules(saved.read_text()):
        left.append("packet filter rules")
    return left


def rules(dump: str) -> list[str]:
    """The rules and policies of an iptables-save dump, without its comments and counters."""
    return [line.split(" [")[0] for line in dump.splitlines() if line and not line.startswith("#")]
