"""Sections of the docs that programs write: the text between two HTML comment markers, such
as the benchmark results in docs/PERFORMANCE.md and the attack table in docs/SECURITY.md."""

from pathlib import Path


def read(path: Path, begin: str, end: str) -> str:
    return path.read_text().split(begin, 1)[1].split(end, 1)[0]


def replace(path: Path, begin: str, end: str, content: str) -> None:
    head, _, rest = path.read_text().partition(begin)
    _, _, tail = rest.partition(end)
    path.write_text(f"{head}{begin}\n{content.strip()}\n{end}{tail}")
