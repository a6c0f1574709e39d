"""Classify an exec command as one that opens a connection back out, fetches and runs code, or mines coins.

Pure functions over the argv the audit event carries (`AuditEvent.exec_command`: the `command=` query
parameters of a pods/exec requestURI, decoded once by the query parser, one list item per argument; or a
PodExecOptions body). Why two kinds of text:

- The argv itself is not shell text: the kubelet runs it directly, so `|`, `>&` or `/dev/tcp` inside one argument
  of `cat` mean nothing. Only tool-level patterns are read from it (`nc -e`, `socat exec:`, an interpreter's
  `-c/-e` one-liner, a miner's name).
- The command string of a shell (`sh -c TEXT`, `bash -lc TEXT`, `busybox sh -c TEXT`, also after `env`, `nohup`,
  `sudo`...) IS shell text: redirections to `/dev/tcp`, pipes from a downloader into an interpreter, command
  substitution of a download are read from it, as well as the tool-level patterns.

The result is a short reason (never the command, which may hold secrets; the caller redacts what it shows), or
None. Patterns favour reporting: a hospital's evidence must never look cleaner than the truth.
"""

from __future__ import annotations

import re
from functools import lru_cache

SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "ash", "mksh", "yash", "rbash"})
"""Programs whose `-c` argument is shell text."""

_INTERP = re.compile(r"(?:python[0-9.]*|perl|ruby|php[0-9.]*|node|nodejs|lua[0-9.]*)$", re.IGNORECASE)
_SHELL_NAME = re.compile(r"(?:ba|da|z|k|a|mk|rba|ya)?sh$")
_NETCAT = frozenset({"nc", "ncat", "netcat", "nc.traditional", "nc.openbsd"})
_NETWORK_TOOLS = _NETCAT | {"telnet", "s_client"}
_DOWNLOADERS = frozenset({"curl", "wget", "fetch"})
_PREFIXES = frozenset({"sudo", "env", "nohup", "exec", "command", "busybox", "timeout", "nice", "setsid", "stdbuf"})
_WRAP = "'\"`(){}"

_NC_EXEC_FLAG = re.compile(r"-[a-zA-Z]*[ec][a-zA-Z]*|--(?:sh-|lua-)?exec(?:=.*)?", re.DOTALL)
_SOCAT_EXEC = re.compile(r"(?<![a-z])(?:exec|system):", re.IGNORECASE)
_INTERP_ONE_LINER = re.compile(r"(?<![\w.-])(?:python[0-9.]*|perl|ruby|php[0-9.]*|node|nodejs|lua[0-9.]*)\s+"
                               r"(?:-\S+\s+){0,8}?-[a-zA-Z]*[cer]\s", re.IGNORECASE)
_SOCKET_MARKERS = re.compile(r"socket|fsockopen|stream_socket_client|io::socket|net\.connect|pty\.spawn",
                             re.IGNORECASE)
_MINER = re.compile(r"(?<![a-z0-9_])(?:xmrig|xmr-stak|minerd|cpuminer|cgminer|bfgminer|ccminer|ethminer|nbminer|"
                    r"t-rex|phoenixminer|lolminer|nanominer|teamredminer|srbminer|gminer|nheqminer|kawpowminer|"
                    r"xmr-node-proxy)(?![a-z])|stratum\+(?:tcp|ssl|tls)://", re.IGNORECASE)
_DEV_NET = re.compile(r"/dev/(?:tcp|udp)/", re.IGNORECASE)
_SUBSTITUTED_DOWNLOAD = re.compile(r"(?:\$\(|`|<\()\s*(?:curl|wget|fetch)\b", re.IGNORECASE)
_DOWNLOAD_WORD = re.compile(r"(?<![\w.-])(?:curl|wget)(?![\w.-])", re.IGNORECASE)
_CHMOD_X = re.compile(r"(?:^|[\s;&|])chmod\s+(?:-\S+\s+)*(?:[ugoa]*\+[rwxst]*x|[0-7]*[1357][0-7]{0,2}\b)")
_LIST_SEP = re.compile(r";|&&|\|\||(?<![<>])&(?![>\d-])|\n")
"""Separators of the commands of a shell list (`;`, `&&`, `||`, `&`, newline); `|` then splits a pipeline."""

# Every pattern is matched without unbounded spans between two parts (a hostile command of 100 kB must cost
# linear time): "A then B" checks find A once, then search B from there, and pipelines are split first.


def _words(segment: str) -> list[str]:
    return [w.strip(_WRAP) for w in segment.split()]


def _command_word(words: list[str]) -> str:
    """The program a simple command runs: the first word after `sudo`/`env`/`nohup`/... and their options."""
    for w in words:
        if not w or w.startswith("-") or "=" in w:
            continue
        base = _basename(w).lower()
        if base in _PREFIXES:
            continue
        return base
    return ""


def _tool_reason(segment: str) -> str | None:
    """Tool-level patterns over one simple command's words (the same in an argv and in shell text).

    One pass: options after the first netcat / socat word are what count (so a command full of `nc` words costs
    linear time, not one scan per word).
    """
    netcat = socat = False
    for w in _words(segment):
        if netcat and _NC_EXEC_FLAG.fullmatch(w):
            return "netcat with -e/-c (runs a program over the connection)"
        if socat and _SOCAT_EXEC.search(w):
            return "socat exec/system address (runs a program over the connection)"
        base = _basename(w).lower()
        netcat = netcat or base in _NETCAT
        socat = socat or base == "socat"
    return None


def _pipeline_reason(pipeline: str) -> str | None:
    """Shell-only patterns of one pipeline: a download piped into an interpreter, a shell wired to the network."""
    stages = [_words(s) for s in pipeline.split("|")]
    if len(stages) < 2:
        return None
    commands = [_command_word(w) for w in stages]
    shells = [i for i, c in enumerate(commands) if _SHELL_NAME.fullmatch(c)]
    if any(c in _NETWORK_TOOLS or (c == "openssl" and "s_client" in stages[i]) for i, c in enumerate(commands)) \
            and shells:
        return "shell piped to or from a network tool (reverse shell)"
    first_download = next((i for i, w in enumerate(stages) if any(_basename(x).lower() in _DOWNLOADERS for x in w)),
                          None)
    if first_download is not None and any(
            _SHELL_NAME.fullmatch(c) or _INTERP.match(c) for c in commands[first_download + 1:] if c):
        return "download piped into an interpreter"
    return None


def _shell_reason(text: str) -> str | None:
    if _DEV_NET.search(text):
        return "shell redirection to /dev/tcp or /dev/udp (reverse shell)"
    if _SUBSTITUTED_DOWNLOAD.search(text):
        return "download run through command or process substitution"
    download = _DOWNLOAD_WORD.search(text)
    if download and _CHMOD_X.search(text, download.end()):
        return "download made executable"
    if "|" in text:
        for pipeline in _LIST_SEP.split(text):
            reason = _pipeline_reason(pipeline)
            if reason:
                return reason
    return None


def _basename(token: str) -> str:
    return token.rsplit("/", 1)[-1]


def shell_payloads(argv: list[str]) -> list[str]:
    """The command strings given to a shell anywhere in `argv` (`sh -c TEXT`, `bash -lc TEXT`, `env sh -c TEXT`).

    As in sh(1)/bash(1): with an option cluster containing `c`, the first non-option argument is the command
    string (`bash -c -e TEXT` too). `--` ends the options.
    """
    out: list[str] = []
    n = len(argv)
    for i, token in enumerate(argv):
        if _basename(token) not in SHELLS:
            continue
        has_c = False
        j = i + 1
        while j < n:
            arg = argv[j]
            if arg == "--":
                j += 1
                break
            if arg in ("-o", "+o", "-O", "+O"):  # set/shopt option: its name is the next argument
                j += 2
                continue
            if arg[:1] in ("-", "+") and not arg.startswith("--") and len(arg) > 1:
                has_c = has_c or (arg[0] == "-" and "c" in arg[1:])
                j += 1
                continue
            if arg.startswith("--"):  # long options (--login, --norc, ...) take no argument
                j += 1
                continue
            break
        if has_c and j < n:
            out.append(argv[j])
    return out


def critical_reason(argv: list[str]) -> str | None:
    """Why this exec command is critical (reverse shell, download-and-execute, crypto-miner), or None.

    Remembered for the last 4096 short commands: logs repeat the same exec many times (~25 µs each)."""
    if not argv:
        return None
    words = tuple(argv)
    if sum(map(len, words)) > 4096:
        return _critical_reason(words)
    return _critical_reason_cached(words)


@lru_cache(maxsize=4096)
def _critical_reason_cached(argv: tuple[str, ...]) -> str | None:
    return _critical_reason(argv)


def _critical_reason(words: tuple[str, ...]) -> str | None:
    argv = list(words)
    joined = " ".join(argv)
    if _MINER.search(joined):
        return "crypto-miner"
    one_liner = _INTERP_ONE_LINER.search(joined)
    if one_liner and _SOCKET_MARKERS.search(joined, one_liner.end()):
        return "interpreter one-liner opening a socket"
    for segment in re.split(r"[;|&\n]", joined):
        reason = _tool_reason(segment)
        if reason:
            return reason
    for text in shell_payloads(argv):
        reason = _shell_reason(text)
        if reason:
            return reason
    return None
