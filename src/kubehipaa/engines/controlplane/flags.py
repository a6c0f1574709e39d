"""Pure parsing of Kubernetes component command lines (kube-apiserver, kubelet).

Kubernetes components parse their flags with spf13/pflag.  We follow its rules closely enough that a
flag the component would see is the flag we see:

* ``--name=value`` always assigns ``value``;
* ``--name value`` consumes the next token as the value, *except* for boolean flags, which never consume
  the next token (``--anonymous-auth false`` sets the flag to true and leaves ``false`` as a positional
  argument - a classic misconfiguration we must not "fix" silently);
* a bare ``--name`` is ``true`` for boolean flags;
* ``--`` ends flag parsing;
* a flag given twice keeps every occurrence; scalar flags take the last one (pflag ``Set`` overwrites),
  list flags (``--enable-admission-plugins`` ...) are reported per occurrence and, in :meth:`ParsedFlags.values`,
  merged in order.

Flags files (``/etc/default/kubelet``, kubeadm's ``kubeadm-flags.env``, a systemd ``Environment=`` line or a
plain "one flag per line" file) are tokenised with shell rules by :func:`tokens_from_text`.

A container's command line is read as the kubelet builds it (``command`` then ``args``), with the wrappers
real control-plane manifests use taken off (:func:`entrypoint`): ``sh -c "[exec] kube-apiserver ..."`` (kube-up's
manifests, hand-written ones; output redirections are the shell's, not flags; in a script of several commands,
such as kops' ``mkfifo ...; (tee ... &); exec kube-apiserver ...``, the one that runs a component) and
``go-runner [--log-file=...] kube-apiserver ...`` (the runner in the upstream images). The control-plane classifier (classify.py) decides
what a container is from the same :func:`entrypoint`, so a Pod is judged as the component whose flags we read.

No I/O here: callers pass strings and lists, and get plain objects back.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from kubehipaa.engines.controlplane.components import COMPONENTS

# Boolean flags of kube-apiserver and kubelet that matter to our checks (and common others).  pflag marks
# them NoOptDefVal="true", so "--flag" alone means true and "--flag false" does not consume "false".
BOOL_FLAGS: frozenset[str] = frozenset(
    {
        "allow-privileged",
        "anonymous-auth",
        "profiling",
        "service-account-lookup",
        "enable-bootstrap-token-auth",
        "enable-aggregator-routing",
        "enable-garbage-collector",
        "enable-priority-and-fairness",
        "encryption-provider-config-automatic-reload",
        "audit-log-compress",
        "rotate-certificates",
        "rotate-server-certificates",
        "protect-kernel-defaults",
        "make-iptables-util-chains",
        "serialize-image-pulls",
        "fail-swap-on",
        "authentication-token-webhook",
        "client-cert-auth",
        "peer-client-cert-auth",
        "auto-tls",
        "peer-auto-tls",
        "logtostderr",
        "alsologtostderr",
    }
)


@dataclass(frozen=True, slots=True)
class Flag:
    """One occurrence of a flag; ``source``/``index`` locate it for evidence (e.g. ``args[3]``)."""

    name: str
    value: str
    source: str
    index: int


@dataclass(slots=True)
class ParsedFlags:
    """Flags of one component invocation; ``binary`` is the executable when it was in the token list."""

    occurrences: dict[str, list[Flag]] = field(default_factory=dict)
    positional: list[str] = field(default_factory=list)
    binary: str | None = None
    problems: list[str] = field(default_factory=list)
    """Why the token lists could not be read as the kubelet would (`command must be a list of strings, not
    a boolean`): a Pod the API server refuses. What was readable is parsed; callers that judge the flags
    leave such an invocation out and name it (the checks report it as skipped input)."""

    def has(self, name: str) -> bool:
        return name in self.occurrences

    def flag(self, name: str) -> Flag | None:
        """Effective (last) occurrence, as pflag keeps the last ``Set`` for scalar flags."""
        occ = self.occurrences.get(name)
        return occ[-1] if occ else None

    def get(self, name: str, default: str | None = None) -> str | None:
        f = self.flag(name)
        return f.value if f is not None else default

    def values(self, name: str) -> list[str]:
        """Comma-separated list flag, every occurrence merged in order, blanks dropped."""
        out: list[str] = []
        for f in self.occurrences.get(name, []):
            out.extend(p.strip() for p in f.value.split(",") if p.strip())
        return out

    def boolean(self, name: str) -> bool | None:
        """Value of a boolean flag, or None when absent.  Unparseable values count as None (not true)."""
        v = self.get(name)
        if v is None:
            return None
        return parse_bool(v)

    def names(self) -> list[str]:
        return list(self.occurrences)


_TRUE = {"1", "t", "true", "TRUE", "True", "T"}
_FALSE = {"0", "f", "false", "FALSE", "False", "F"}


def parse_bool(v: str) -> bool | None:
    """Go's strconv.ParseBool, which pflag uses for boolean flags."""
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    return None


def parse_args(
    tokens: Sequence[str],
    *,
    source: str = "args",
    start: int = 0,
    into: ParsedFlags | None = None,
    bool_flags: Iterable[str] = BOOL_FLAGS,
    at: int | None = None,
) -> ParsedFlags:
    """Parse a token list.  ``start`` offsets indexes (so ``command[1:]`` keeps ``command[i]`` indexes);
    ``at`` gives every flag the same index instead (the tokens of a shell script all live in one list item).

    ``into`` lets ``command`` and ``args`` of one container accumulate into one result, in the order the
    kubelet concatenates them (command then args).
    """
    pf = into if into is not None else ParsedFlags()
    bools = bool_flags if isinstance(bool_flags, frozenset | set) else frozenset(bool_flags)
    i = 0
    n = len(tokens)
    while i < n:
        tok = str(tokens[i])
        idx = start + i if at is None else at
        if tok == "--":
            pf.positional.extend(str(t) for t in tokens[i + 1 :])
            break
        if tok.startswith("-") and len(tok) > 1 and tok != "-":
            body = tok.lstrip("-")
            if not body:
                pf.positional.append(tok)
                i += 1
                continue
            if "=" in body:
                name, value = body.split("=", 1)
            elif name_is_bool(body, bools):
                name, value = body, "true"
            elif i + 1 < n and _can_be_value(str(tokens[i + 1])):
                name, value = body, str(tokens[i + 1])
                i += 1
            else:
                # A non-boolean flag without value: pflag would error; keep it visible as empty.
                name, value = body, ""
            pf.occurrences.setdefault(name, []).append(Flag(name, value, source, idx))
        else:
            pf.positional.append(tok)
        i += 1
    return pf


def _can_be_value(tok: str) -> bool:
    """pflag gives a non-boolean flag the next token whatever it is. We only take a token that cannot be a
    flag: no leading dash, a lone "-" (stdout/stdin, e.g. ``--audit-log-path -``) or a negative number, so
    a bare boolean flag we do not know never swallows the flag after it."""
    if not tok.startswith("-") or tok == "-":
        return True
    return tok[1:].replace(".", "", 1).isdigit()


def name_is_bool(name: str, bools: Iterable[str]) -> bool:
    return name in bools


def _kind_of(value: object) -> str:
    """A wrong value named by its YAML/JSON type, as the other engines name it."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    names: dict[type, str] = {str: "a string", list: "a list", dict: "a mapping"}
    return names.get(type(value), type(value).__name__)


def _string_list(value: object, name: str, pf: ParsedFlags) -> list[str]:
    """`command` / `args` as the API server types them (`[]string`; a null item decodes to ""): anything
    else is a problem recorded on `pf` and never iterated (a string would be read character by character,
    a number would raise). A wrong-typed item reads as "" so the others keep their indexes."""
    if value is None:
        return []
    if not isinstance(value, list):
        pf.problems.append(f"{name} must be a list of strings, not {_kind_of(value)}")
        return []
    if all(isinstance(v, str) for v in value):
        return value
    for i, v in enumerate(value):
        if v is not None and not isinstance(v, str):
            pf.problems.append(f"{name}[{i}] must be a string, not {_kind_of(v)}")
            break
    return [v if isinstance(v, str) else "" for v in value]  # indexes kept for evidence paths


SHELLS = frozenset({"sh", "bash"})
GO_RUNNER = "go-runner"
_GO_RUNNER_VALUE_FLAGS = frozenset({"log-file"})
"""go-runner's one flag that takes a value (``--also-stdout`` and ``--redirect-stderr`` are booleans); Go's
`flag` package, which it uses, stops at the first argument that is not a flag: the command to run."""
_REDIRECT = re.compile(r"^\d*(?:>>?|<|>&|&>)")
"""A shell redirection (``1>>/var/log/kube-apiserver.log``, ``2>&1``): the shell's, never an argument."""


@dataclass(frozen=True, slots=True)
class Segment:
    """Argument tokens of the unwrapped binary and where they sit in the container (for evidence paths):
    ``source`` is ``command`` or ``args``, the first token at index ``start``, or all at ``at`` (a script)."""

    tokens: Sequence[str]
    source: str
    start: int
    at: int | None = None


@dataclass(frozen=True, slots=True)
class Entrypoint:
    """What a container runs once a ``sh -c`` or ``go-runner`` wrapper is taken off."""

    binary: str
    """The executable as written (``/usr/local/bin/kube-apiserver``); "" when ``command`` does not say (the
    image's entrypoint runs) or the wrapped command line is empty."""
    wrapper: str = ""
    """"" (none), ``sh -c`` (``script`` holds the script) or ``go-runner``."""
    script: str | None = None
    segments: tuple[Segment, ...] = ()

    @property
    def name(self) -> str:
        """The binary's file name: ``kube-apiserver`` for ``/usr/local/bin/kube-apiserver``."""
        return self.binary.rsplit("/", 1)[-1]


def _after_script(inner: list[str]) -> tuple[str, list[str]]:
    """(binary, its arguments) of a shell script's tokens: a leading ``exec`` (which replaces the shell by the
    command) and redirections are the shell's."""
    words: list[str] = []
    skip = False
    for tok in inner:
        if skip:
            skip = False
            continue
        m = _REDIRECT.match(tok)
        if m is not None:
            skip = m.end() == len(tok)  # `> file`: the target is the next token
            continue
        words.append(tok)
    while words and words[0] == "exec":
        words.pop(0)
    return (words[0], words[1:]) if words else ("", [])


_SCRIPT_SPECIAL = re.compile(r"[\\'\"#;&|()\n]")
_DQUOTE_END = re.compile(r'[\\"]')


def script_commands(script: str) -> list[str]:
    """The simple commands of a shell script, in order: the text between unquoted ``;``, ``&``, ``|``, ``(``,
    ``)`` and line ends (``&&``/``||`` give empty pieces, dropped). ``>&``/``<&``/``&>`` are redirections, a
    backslash escapes the next character (a backslash-newline continues the line), ``#`` at a word start
    comments to the end of the line. Linear: each step jumps to the next character that matters."""
    out: list[str] = []
    start = i = 0
    n = len(script)
    while (m := _SCRIPT_SPECIAL.search(script, i)) is not None:
        i = m.start()
        c = script[i]
        if c == "\\":
            i += 2
        elif c == "'":
            close = script.find("'", i + 1)
            i = n if close < 0 else close + 1
        elif c == '"':
            i += 1
            while (q := _DQUOTE_END.search(script, i)) is not None and script[q.start()] == "\\":
                i = q.start() + 2
            i = n if q is None else q.end()
        elif c == "#":
            if i == start or script[i - 1] in " \t":
                out.append(script[start:i])
                end = script.find("\n", i)
                i = start = n if end < 0 else end + 1
            else:
                i += 1
        elif c == "&" and ((i and script[i - 1] in "<>") or script.startswith(">", i + 1)):
            i += 1  # a redirection: 2>&1, <&3, &>file
        else:
            out.append(script[start:i])
            i = start = i + 1
    out.append(script[start:])
    return [piece for piece in out if piece.strip()]


def _script_command(script: str) -> tuple[str, list[str]]:
    """(binary, arguments) of the command a ``sh -c`` script runs: the first of its simple commands that
    runs a control-plane component (kops wraps ``exec kube-apiserver ...`` in a ``mkfifo; tee`` preamble),
    else its first command."""
    first: tuple[str, list[str]] | None = None
    for piece in script_commands(script):
        binary, words = _after_script(tokens_from_text(piece))
        if not binary:
            continue
        if binary.rsplit("/", 1)[-1] in COMPONENTS:
            return binary, words
        first = first or (binary, words)
    return first or ("", [])


def _argv_item(command: list[str], args: list[str], i: int) -> tuple[str, int, str]:
    """(source, index, token) of item `i` of the container's argv (command followed by args)."""
    return ("command", i, command[i]) if i < len(command) else ("args", i - len(command), args[i - len(command)])


def _rest(command: list[str], args: list[str], i: int) -> tuple[Segment, ...]:
    """Segments for argv items from `i` on."""
    out: list[Segment] = []
    if i < len(command):
        out.append(Segment(command[i:], "command", i))
        i = len(command)
    if args:
        out.append(Segment(args[i - len(command):], "args", i - len(command)))
    return tuple(s for s in out if s.tokens)


def _unwrap(command: list[str], args: list[str]) -> Entrypoint:
    if not command:
        # The image's entrypoint runs, with `args` as its arguments.
        return Entrypoint("", segments=_rest(command, args, 0))
    first = command[0].rsplit("/", 1)[-1]
    n = len(command) + len(args)
    if first in SHELLS and n >= 3 and _argv_item(command, args, 1)[2] == "-c":
        source, index, script = _argv_item(command, args, 2)
        binary, words = _script_command(script)
        segments = [Segment(words, source, index, at=index)] if words else []
        # Items after the script are the shell's $0, $1...: kept as flags when in `args`, as before (a
        # script that ends in "$@" passes them on).
        after = len(command) + index + 1 if source == "args" else len(command)
        segments.extend(_rest(command, args, after))
        return Entrypoint(binary, "sh -c", script, tuple(s for s in segments if s.tokens))
    if first == GO_RUNNER:
        i = 1
        while i < n:
            tok = _argv_item(command, args, i)[2]
            if tok == "--":
                i += 1
                break
            if not tok.startswith("-") or tok == "-":
                break
            if "=" not in tok and tok.lstrip("-") in _GO_RUNNER_VALUE_FLAGS:
                i += 1
            i += 1
        if i >= n:
            return Entrypoint("", GO_RUNNER)
        return Entrypoint(_argv_item(command, args, i)[2], GO_RUNNER, segments=_rest(command, args, i + 1))
    return Entrypoint(command[0], segments=_rest(command, args, 1))


def entrypoint(container: dict) -> Entrypoint:
    """What `container` runs, wrappers taken off (`command`/`args` items of a wrong type read as "")."""
    scratch = ParsedFlags()
    return _unwrap(_string_list(container.get("command"), "command", scratch),
                   _string_list(container.get("args"), "args", scratch))


def container_flags(container: dict, *, bool_flags: Iterable[str] = BOOL_FLAGS) -> ParsedFlags:
    """Flags of a Pod container: ``command`` (first token is the binary) followed by ``args``.

    When ``command`` is absent the image entrypoint is the binary and every ``args`` token is a flag.
    Wrappers (``sh -c "kube-apiserver --a=b"``, ``go-runner ... kube-apiserver``) are taken off
    (:func:`entrypoint`); the flags of a shell script all point at the script's list item.
    """
    pf = ParsedFlags()
    ep = _unwrap(_string_list(container.get("command"), "command", pf),
                 _string_list(container.get("args"), "args", pf))
    pf.binary = ep.binary or None
    for seg in ep.segments:
        parse_args(seg.tokens, source=seg.source, start=seg.start, at=seg.at, into=pf, bool_flags=bool_flags)
    return pf


_ENV_ASSIGN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=(.*)$", re.S)
_NAME_EQ = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
_SHELL_SPECIAL = re.compile(r"[\s'\"\\#]")
"""What shell tokenising can change: whitespace (lines, splitting), quotes, escapes, comments."""
_SYSTEMD_PREFIXES = ("ExecStart=", "Environment=")
_MAX_NESTING = 32
"""Nested `NAME="..."` expansions followed; a value nested deeper is kept as one token. Real files nest one
level; each extra level needs another layer of quoting, so this is never reached by accident."""


def tokens_from_text(text: str) -> list[str]:
    """Tokenise a flags file or a command line with shell rules.

    ``NAME="--a=b --c=d"`` assignments (env files, systemd ``Environment=``) are expanded into their flags;
    ``#`` comments and backslash-newline continuations are handled as :mod:`shlex` does (`shell_split`).  A leading ``ExecStart=``
    or ``Environment=`` of a systemd unit is dropped.
    """
    return _tokens(text, 0)


def _tokens(text: str, depth: int) -> list[str]:
    out: list[str] = []
    for raw_line in text.replace("\\\n", " ").splitlines():
        line = raw_line.strip()
        if not line or line.startswith("#") or (line.startswith("[") and line.endswith("]")):
            continue
        for prefix in _SYSTEMD_PREFIXES:
            if line.startswith(prefix):
                line = line[len(prefix) :]
        try:
            parts = shell_split(line)
        except ValueError:
            parts = line.split()
        for part in parts:
            m = _ENV_ASSIGN.match(part)
            if m and not part.startswith("-"):
                out.extend(_assigned(m.group(1), depth + 1))
            else:
                out.append(part)
    return out


_SHELL_BLANKS = re.compile(r"[ \t\r\n]*")
_SHELL_WORD = re.compile(r"[^ \t\r\n'\"\\#]+")
_DQUOTED_RUN = re.compile(r'[^"\\]+')


def shell_split(line: str) -> list[str]:
    """`shlex.split(line, comments=True)`, same tokens and same ValueErrors, in time linear in `line`.

    `shlex` builds each token one character at a time by string concatenation, which is quadratic in the
    token's length (a 400 KB token took seconds). Here each run of ordinary characters, each quoted string
    and each escape is appended as a piece and the pieces are joined once. POSIX rules as `shlex` applies
    them: blanks are space, tab, CR and LF; `#` outside quotes starts a comment (ending the token); inside
    double quotes a backslash escapes only `"` and `\\`; `''` is an empty token.
    """
    out: list[str] = []
    n = len(line)
    i = 0
    while True:
        blanks = _SHELL_BLANKS.match(line, i)
        i = blanks.end() if blanks is not None else i
        if i >= n or line[i] == "#":
            return out
        pieces: list[str] = []
        quoted = False
        while i < n:
            c = line[i]
            if c in " \t\r\n":
                break
            if c == "#":  # a comment: ends this token and the line
                i = n
                break
            if c == "'":
                close = line.find("'", i + 1)
                if close < 0:
                    raise ValueError("No closing quotation")
                pieces.append(line[i + 1 : close])
                quoted, i = True, close + 1
            elif c == '"':
                quoted, i = True, i + 1
                while True:
                    run = _DQUOTED_RUN.match(line, i)
                    if run is not None:
                        pieces.append(run.group())
                        i = run.end()
                    if i >= n:
                        raise ValueError("No closing quotation")
                    if line[i] == '"':
                        i += 1
                        break
                    if i + 1 >= n:
                        raise ValueError("No escaped character")
                    nxt = line[i + 1]
                    pieces.append(nxt if nxt in '"\\' else "\\" + nxt)
                    i += 2
            elif c == "\\":
                if i + 1 >= n:
                    raise ValueError("No escaped character")
                pieces.append(line[i + 1])
                i += 2
            else:
                word = _SHELL_WORD.match(line, i)
                assert word is not None  # c is an ordinary character
                pieces.append(word.group())
                i = word.end()
        token = "".join(pieces)
        if token or quoted:
            out.append(token)


def _assigned(value: str, depth: int) -> list[str]:
    """`_tokens(value)` for the value of a `NAME=value` token, in time linear in `value`.

    A value with no character shell rules treat specially is one line and one token, so tokenising it
    again only strips the prefixes below: `A=B=C=...` chains are followed in one pass here instead of one
    `shlex` call per link (which was quadratic, and past ~1,000 links a RecursionError). A value with
    quotes or spaces is tokenised again, up to `_MAX_NESTING` levels.
    """
    if _SHELL_SPECIAL.search(value) is not None:
        return _tokens(value, depth) if depth <= _MAX_NESTING else [value]
    pos, n = 0, len(value)
    while pos < n:
        if value[pos] == "[" and value.endswith("]"):  # a whole line like a unit-file section header
            return []
        for prefix in _SYSTEMD_PREFIXES:
            if value.startswith(prefix, pos):
                pos += len(prefix)
        if pos == n:
            break
        m = _NAME_EQ.match(value, pos)
        if value[pos] == "-" or m is None:
            return [value[pos:]]
        pos = m.end()
    return []


_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}


def parse_go_duration(text: str) -> float | None:
    """Go ``time.ParseDuration`` in seconds ("4h0m0s", "5m", "1.5h", "0"); None when invalid."""
    s = text.strip()
    if not s:
        return None
    sign = 1.0
    if s[0] in "+-":
        sign = -1.0 if s[0] == "-" else 1.0
        s = s[1:]
    if s == "0":
        return 0.0
    pos = 0
    total = 0.0
    while pos < len(s):
        m = _DURATION_PART.match(s, pos)
        if not m:
            return None
        total += float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
        pos = m.end()
    return sign * total if pos else None


def parse_int(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text.strip())
    except ValueError:
        return None
