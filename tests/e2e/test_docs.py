"""The documentation holds together, read as text (no stack, no build): README.md, the docs pages
and examples/README.md. Every relative link reaches a file, and a heading of it when it names
one; every command a ```sh block runs from `scripts/` exists and is executable; every
`vault-mcp-bridge` subcommand, `agents` verb and long flag it runs is one the CLI's source
declares, and every flag given to a script one the script reads; every
`curl` to the dev Envoy names a route the bridge serves. Moving a section from one page to
another breaks links nobody clicks and commands nobody runs until a newcomer does; this finds
them first."""

import os
import re
import shlex
from pathlib import Path

import pytest

import stack as stacks
from test_openapi import ROUTES

ROOT = stacks.ROOT
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "examples" / "README.md"]

#: Routes Envoy serves that the OpenAPI document does not list (the MCP endpoints, the registry's
#: admin routes, the RFC 9728 metadata; docs/ROUTES.md and docs/OPERATING-AGENTS.md).
NOT_IN_OPENAPI = {
    ("post", "/mcp"), ("get", "/mcp"), ("delete", "/mcp"), ("post", "/mcp/rpc"), ("get", "/mcp/sse"),
    ("get", "/admin/agents"), ("post", "/admin/agents"), ("get", "/admin/agents/{subject}"),
    ("patch", "/admin/agents/{subject}"), ("delete", "/admin/agents/{subject}"),
    ("post", "/admin/agents/{subject}/keys"), ("delete", "/admin/agents/{subject}/keys/{key_id}"),
    ("get", "/.well-known/oauth-protected-resource/mcp"),
}

#: The dev stack's Envoy listeners (plain, TLS, mTLS): the ones a documented curl talks to.
DEV = stacks.Ports.dev()
ENVOY_PORTS = {DEV.envoy, DEV.envoy_tls, DEV.envoy_mtls}


def page_id(page: Path) -> str:
    return str(page.relative_to(ROOT))


# --- reading markdown -------------------------------------------------------------------------

def prose(text: str) -> str:
    """The text without fenced code blocks: a `# {…}` line in a shell block is no heading, and a
    link-like string in code is no link."""
    out, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            out.append(line)
    return "\n".join(out)


def github_anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, every character but letters, digits, spaces,
    hyphens and underscores removed, spaces made hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading's anchor; a repeated heading gets GitHub's `-1`, `-2`, … suffix."""
    seen: dict[str, int] = {}
    out = set()
    for line in prose(path.read_text()).splitlines():
        if match := re.match(r"#{1,6} (.+)", line):
            anchor = github_anchor(match.group(1))
            out.add(f"{anchor}-{seen[anchor]}" if anchor in seen else anchor)
            seen[anchor] = seen.get(anchor, 0) + 1
    return out


def links(text: str) -> list[str]:
    """Targets of relative links and images (no scheme), outside code: inline code spans are
    dropped first, since `[--mount secret]` or `api_keys[]` in code are not links."""
    text = re.sub(r"(`+).+?\1", "", prose(text), flags=re.S)
    targets = re.findall(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", text)
    return [target for target in targets if not re.match(r"[a-z][a-z0-9+.-]*:", target)]


def sh_commands(text: str) -> list[list[str]]:
    """The simple commands of every ```sh block as shell words (quotes removed, comments and
    redirections dropped, continuation lines joined); pipelines, lists and `$(…)` split into
    their commands."""
    out = []
    for block in re.findall(r"^```sh\n(.*?)^```", text, re.S | re.M):
        for line in block.replace("\\\n", " ").splitlines():
            lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
            lexer.whitespace_split = True
            command: list[str] = []
            redirected = False
            for word in lexer:
                if redirected:  # the file of `> me.crt` is no command, nor an argument
                    redirected = False
                elif set(word) <= set("<>&") and set(word) & set("<>"):
                    redirected = True
                elif set(word) <= set("();|&"):
                    out.append(command)
                    command = []
                else:
                    command.append(word)
            out.append(command)
    return [command for command in out if command]


def program(command: list[str]) -> tuple[str | None, list[str], dict[str, str]]:
    """(the program, its arguments, the variables set before it); (None, [], assignments) for a
    command that only sets shell variables."""
    assignments = {}
    for i, word in enumerate(command):
        if match := re.fullmatch(r"([A-Za-z_]\w*)=(.*)", word, re.S):
            assignments[match.group(1)] = match.group(2)
        else:
            return word, command[i + 1:], assignments
    return None, [], assignments


# --- the checks: each returns the problems it finds, so a test can show they are found ----------

def link_problems(page: Path, text: str | None = None) -> list[str]:
    text = page.read_text() if text is None else text
    problems = []
    for target in links(text):
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.exists():
            problems.append(f"{target}: no file {resolved}")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            problems.append(f"{target}: no heading with anchor #{anchor} in {resolved.name}")
    return problems


def cli_subcommands() -> dict[str, set[str]]:
    """The CLI's subcommands as clap names them (variants of the `Subcommand` enums, in kebab
    case), read from the source: the top level (backend/src/main.rs) and `agents …`
    (backend/src/registry/cli.rs). `help` is clap's own."""
    def variants(path: Path, enum: str) -> set[str]:
        body = re.search(rf"enum {enum} \{{\n(.*?)\n\}}", path.read_text(), re.S).group(1)
        names = re.findall(r"^    ([A-Z]\w*)\s*[,{(]", body, re.M)
        return {re.sub(r"(?<!^)([A-Z])", r"-\1", name).lower() for name in names} | {"help"}
    src = ROOT / "backend" / "src"
    return {"vault-mcp-bridge": variants(src / "main.rs", "Command"),
            "agents": variants(src / "registry" / "cli.rs", "AgentsCommand")}


def declared_flags() -> dict[str, str]:
    """Where the CLI's long flags are declared, as text to look them up in: its clap fields
    (`grace_seconds: u64` is `--grace-seconds`; `long = "…"` names its own)."""
    src = ROOT / "backend" / "src"
    return {"vault-mcp-bridge": (src / "main.rs").read_text() + (src / "registry" / "cli.rs").read_text()}


def script_text(script: str) -> str:
    """A script with the Python it runs: the `.py` files it names, and `python -m a.b` as
    scripts/a/b.py (how scripts/ runs its packages)."""
    text = (ROOT / script).read_text(errors="replace")
    named = re.findall(r"[\w/.-]+\.py\b", text)
    named += ["scripts/" + module.replace(".", "/") + ".py" for module in re.findall(r"python3? -m ([\w.]+)", text)]
    return text + "".join((ROOT / path).read_text() for path in named if (ROOT / path).is_file())


def flag_declared(flag: str, program_name: str, declared: dict[str, str]) -> bool:
    if flag in ("--help", "--version"):
        return True
    if program_name == "vault-mcp-bridge":
        field = flag[2:].replace("-", "_")
        return bool(re.search(rf"\b{field}: |long = \"{flag[2:]}\"", declared["vault-mcp-bridge"]))
    # A script's own flag: an argparse option, or a word its shell compares (`--no-compose)`).
    return bool(re.search(rf"[\"']{flag}[\"']|{flag}\)", script_text(program_name)))


def command_problems(text: str, cli: dict[str, set[str]], declared: dict[str, str] | None = None) -> list[str]:
    declared = declared or declared_flags()
    problems = []
    for command in sh_commands(text):
        name, args, _ = program(command)
        if name is None:
            continue
        for word in [name, *args]:
            if re.match(r"(\./)?scripts/", word) and not (ROOT / word).exists():
                problems.append(f"{' '.join(command)}: no {word}")
        runs_a_script = re.match(r"(\./)?scripts/", name) and (ROOT / name).exists()
        if runs_a_script and not os.access(ROOT / name, os.X_OK):
            problems.append(f"{' '.join(command)}: {name} is not executable")
        program_name = "vault-mcp-bridge" if name.split("/")[-1] == "vault-mcp-bridge" else name if runs_a_script else None
        if program_name:
            for flag in (word.split("=")[0] for word in args if re.fullmatch(r"--[a-z][a-z0-9-]*(=.*)?", word, re.S)):
                if not flag_declared(flag, program_name, declared):
                    problems.append(f"{' '.join(command)}: {program_name} has no {flag}")
        if name.split("/")[-1] == "vault-mcp-bridge":
            words = [word for word in args if not word.startswith("-")]
            if words and words[0] not in cli["vault-mcp-bridge"]:
                problems.append(f"{' '.join(command)}: no subcommand {words[0]!r}")
            elif words[:1] == ["agents"] and len(words) > 1 and words[1] not in cli["agents"]:
                problems.append(f"{' '.join(command)}: no `agents {words[1]}`")
    return problems


def route_pattern(method: str, template: str) -> tuple[str, re.Pattern]:
    """A route template as a regex: `{path}` spans folders, any other parameter one segment."""
    parts = re.split(r"(\{\w+\})", template)
    regex = "".join(".+" if part == "{path}" else "[^/]+" if part.startswith("{") else re.escape(part)
                    for part in parts)
    return method.upper(), re.compile(regex)


SERVED = [route_pattern(method, template) for method, template in sorted(ROUTES | NOT_IN_OPENAPI)]


def curl_calls(text: str) -> list[tuple[str, str, str]]:
    """(method, path, the command) of every curl to a dev Envoy listener in the sh blocks; shell
    variables a block sets (`E=http://127.0.0.1:10000`) are expanded."""
    calls, variables = [], {}
    for command in sh_commands(text):
        name, args, assignments = program(command)
        variables.update(assignments)
        if name != "curl":
            continue
        method, data, upload, paths = None, False, False, []
        for i, word in enumerate(args):
            word = re.sub(r"\$\{?(\w+)\}?", lambda m: variables.get(m.group(1), m.group(0)), word)
            if word in ("-X", "--request"):
                method = args[i + 1].upper()
            elif word.startswith("-X") and len(word) > 2:  # -XPOST
                method = word[2:].upper()
            elif word in ("-I", "--head"):
                method = "HEAD"
            elif word in ("-d", "--data", "--data-raw", "--data-binary", "--data-urlencode", "--json",
                          "-F", "--form"):
                data = True
            elif word in ("-T", "--upload-file"):
                upload = True
            elif match := re.match(r"https?://(?:127\.0\.0\.1|localhost|\[::1\]):(\d+)(/[^?#]*)?", word):
                if int(match.group(1)) in ENVOY_PORTS:
                    paths.append(match.group(2) or "/")
        # curl's own default: PUT when it uploads a file, POST when it sends data, GET otherwise.
        method = method or ("PUT" if upload else "POST" if data else "GET")
        calls += [(method, path, " ".join(command)) for path in paths]
    return calls


def route_problems(text: str) -> list[str]:
    return [f"{command}: no route {method} {path}" for method, path, command in curl_calls(text)
            if not any(method == served and pattern.fullmatch(path) for served, pattern in SERVED)]


# --- the tests ---------------------------------------------------------------------------------

@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_relative_link_reaches_a_file_and_heading(page):
    assert link_problems(page) == []


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_script_cli_subcommand_and_flag_in_a_shell_block_exists(page):
    assert command_problems(page.read_text(), cli_subcommands()) == []


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_curl_to_envoy_names_a_route_the_bridge_serves(page):
    assert route_problems(page.read_text()) == []


def test_the_checks_see_what_the_pages_hold():
    """A parser that stopped finding links, scripts, subcommands or curls would pass every page;
    the pages hold plenty of each, so finding none means the parser broke."""
    texts = [page.read_text() for page in PAGES]
    assert sum(len(links(text)) for text in texts) > 20
    assert {"serve", "stdio", "gen-policy", "agents"} <= cli_subcommands()["vault-mcp-bridge"]
    assert {"add", "rotate-key", "revoke-key", "remove"} <= cli_subcommands()["agents"]
    names = [program(command)[0] or "" for text in texts for command in sh_commands(text)]
    assert "scripts/dev-stack" in names and "vault-mcp-bridge" in names
    flags = {word.split("=")[0] for text in texts for command in sh_commands(text)
             if (program(command)[0] or "").endswith("vault-mcp-bridge") for word in command if word.startswith("--")}
    assert {"--scopes", "--agents", "--user"} <= flags, flags
    curls = [call for text in texts for call in curl_calls(text)]
    assert ("PUT", "/secrets/configs/demo") in [call[:2] for call in curls]
    assert ("POST", "/transit/decrypt") in [call[:2] for call in curls]  # through `$E`
    assert ("POST", "/pki/issue") in [call[:2] for call in curls]  # `-d` on a continuation line


def test_the_checks_find_what_is_broken():
    """Each check reports what it should: a page (text given here, resolved as docs/ROUTES.md)
    with a link to a missing file, to a missing heading, a missing image; a missing script, a
    file run that is not executable, a subcommand and an `agents` verb the CLI lacks; curls to
    routes that do not exist, or not with that method."""
    page = ROOT / "docs" / "ROUTES.md"
    assert link_problems(page, "[a](../README.md#running-the-bridge) [b](#routes-and-engines) "
                               "[c](#nowhere) [d](MISSING.md) [e](CONSOLE.md#no-such-heading) "
                               "![f](console/missing.png)") == [
        "#nowhere: no heading with anchor #nowhere in ROUTES.md",
        f"MISSING.md: no file {ROOT / 'docs' / 'MISSING.md'}",
        "CONSOLE.md#no-such-heading: no heading with anchor #no-such-heading in CONSOLE.md",
        f"console/missing.png: no file {ROOT / 'docs' / 'console' / 'missing.png'}",
    ]
    assert command_problems("```sh\nscripts/no-such-script up\nscripts/requirements.txt\n"
                            "vault-mcp-bridge serve-all\nvault-mcp-bridge agents purge x\n"
                            "scripts/dev-stack up && vault-mcp-bridge agents add x --scopes read\n"
                            "scripts/dev-stack up --edge --tls-everywhere --rounds 3\n"
                            "vault-mcp-bridge agents add x --scopes read --colour=blue\n```\n",
                            cli_subcommands()) == [
        "scripts/no-such-script up: no scripts/no-such-script",
        "scripts/requirements.txt: scripts/requirements.txt is not executable",
        "vault-mcp-bridge serve-all: no subcommand 'serve-all'",
        "vault-mcp-bridge agents purge x: no `agents purge`",
        "scripts/dev-stack up --edge --tls-everywhere --rounds 3: scripts/dev-stack has no --tls-everywhere",
        "scripts/dev-stack up --edge --tls-everywhere --rounds 3: scripts/dev-stack has no --rounds",
        "vault-mcp-bridge agents add x --scopes read --colour=blue: vault-mcp-bridge has no --colour",
    ]
    assert route_problems("```sh\nE=http://127.0.0.1:10000\ncurl $E/secret/x\ncurl -X PUT $E/whoami\n"
                          "curl -d '{}' https://127.0.0.1:10443/transit/encrypt\n"
                          "curl http://127.0.0.1:8200/v1/sys/health\n"
                          "curl -XDELETE http://localhost:10000/whoami\n```\n") == [
        "curl $E/secret/x: no route GET /secret/x", "curl -X PUT $E/whoami: no route PUT /whoami",
        "curl -XDELETE http://localhost:10000/whoami: no route DELETE /whoami"]
