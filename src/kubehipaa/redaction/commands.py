"""Command lines (`pods/exec` argv) and shell scripts: which word is a password depends on the program."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import lru_cache

from kubehipaa.redaction.credentials import NOT_SECRET_VALUE, SECRET_NAME
from kubehipaa.redaction.masks import MASK_RE, MASK_START, SECRET
from kubehipaa.redaction.text import redact_text

_SHELLS = frozenset({"sh", "bash", "zsh", "dash", "ash", "ksh", "mksh", "busybox", "fish"})
_MYSQL = frozenset({"mysql", "mysqldump", "mysqladmin", "mysqlimport", "mysqlcheck", "mysqlshow", "mysqlpump",
                    "mysqlsh", "mysqlbinlog", "mysqlslap", "mariadb", "mariadb-dump", "mariadb-admin",
                    "mariadb-import", "mariadb-check", "mariadb-show"})
_MONGO = frozenset({"mongo", "mongosh", "mongodump", "mongorestore", "mongoexport", "mongoimport", "mongostat",
                    "mongotop", "mongofiles"})
_REDIS = frozenset({"redis-cli", "keydb-cli", "valkey-cli"})
_PG = frozenset({"psql", "pg_dump", "pg_dumpall", "pg_restore", "pg_basebackup", "createdb", "dropdb",
                 "createuser", "dropuser", "vacuumdb", "reindexdb", "clusterdb", "pgbench", "pg_isready"})
_LDAP = frozenset({"ldapsearch", "ldapadd", "ldapmodify", "ldapdelete", "ldapwhoami", "ldapcompare",
                   "ldapmodrdn", "ldapexop"})
_ORACLE = frozenset({"sqlplus", "rman", "expdp", "impdp", "exp", "imp", "sqlldr", "dgmgrl"})
_LOGIN_TOOLS = frozenset({"docker", "podman", "nerdctl", "buildah", "skopeo", "helm", "oras", "crane", "regctl",
                          "az", "cf", "oc"})
_VALUE_FLAGS: dict[str, frozenset[str]] = {
    # program -> short flags whose value (the next word, or attached: -pX) is a password or a key
    **dict.fromkeys(_MONGO, frozenset({"-p"})),
    **dict.fromkeys(_REDIS, frozenset({"-a"})),
    **dict.fromkeys(_LDAP, frozenset({"-w"})),
    "ldappasswd": frozenset({"-w", "-s", "-a"}),
    "sshpass": frozenset({"-p"}),
    "sqlcmd": frozenset({"-P"}), "bcp": frozenset({"-P"}), "osql": frozenset({"-P"}), "isql": frozenset({"-P"}),
    "zip": frozenset({"-P"}), "unzip": frozenset({"-P"}), "7z": frozenset({"-p"}), "7za": frozenset({"-p"}),
    "ssh-keygen": frozenset({"-N", "-P"}),
    "useradd": frozenset({"-p"}), "usermod": frozenset({"-p"}),
    "ncftp": frozenset({"-p"}), "ncftpget": frozenset({"-p"}), "ncftpput": frozenset({"-p"}),
}
_EXACT_FLAGS: dict[str, frozenset[str]] = {
    # program -> flags whose next word is a secret; never attached (`openssl -kfile PATH` is not `-k`)
    "openssl": frozenset({"-k", "-K", "-hmac"}),
    "curl": frozenset({"--oauth2-bearer"}),
}
_USERPASS: dict[str, tuple[frozenset[str], str]] = {
    # program -> (flags whose value is `user<sep>password`, sep): only the part after sep is masked
    "curl": (frozenset({"-u", "--user", "-U", "--proxy-user", "-E", "--cert", "--proxy-cert"}), ":"),
    "etcdctl": (frozenset({"--user"}), ":"),
    "skopeo": (frozenset({"--creds", "--src-creds", "--dest-creds"}), ":"),
    "lftp": (frozenset({"-u", "--user"}), ","),
    "smbclient": (frozenset({"-U", "--user"}), "%"),
    "rpcclient": (frozenset({"-U", "--user"}), "%"),
}
_OTHER = frozenset({"mysql", "vault", "bao", "htpasswd", "rabbitmqctl", "mc", "aws", "kubectl", "openssl", "curl"})
_KNOWN = (_SHELLS | _MYSQL | _MONGO | _REDIS | _PG | _LDAP | _ORACLE | _LOGIN_TOOLS | _OTHER
          | frozenset(_VALUE_FLAGS) | frozenset(_EXACT_FLAGS) | frozenset(_USERPASS))
_BOOLEAN_PASSWORD = _PG
"""Programs whose `--password` takes no value (psql and friends prompt). For mysql a separate word after
`--password` is the database, but it is masked all the same: a password typed there by mistake is still one."""
_TOKENISH = re.compile(r"[A-Za-z0-9+/_\-.=]{32,}+")
_FLAG = re.compile(r"(-{1,2})([A-Za-z][\w.-]{1,63}+)(?:=(.*))?", re.S)
_ORACLE_LOGIN = re.compile(r"([^/\s@]{1,128}+)/([^@\s]++)(@.*)?", re.S)
_LOWER_ASSIGN = re.compile(r"[a-z_]{2,30}+=(?!=).")
_REDIRECTIONS = frozenset({"<", "<<", "<<<", ">", ">>", "2>", "&>"})


def _program(word: str) -> str:
    base = word.rsplit("/", 1)[-1].lower()
    return base[:-4] if base.endswith(".exe") else base


def _mask_value(value: str) -> str:
    """The value of a password flag: `pass:x` (openssl) keeps its `pass:`; `env:`/`file:`/`fd:`/`stdin`
    name where the secret is, not the secret."""
    low = value[:5].lower()
    if low.startswith(("env:", "file:", "fd:")) or value == "stdin":
        return value
    if low.startswith("pass:"):
        return value[:5] + SECRET
    return SECRET


def _after(sep: str) -> Callable[[str], str]:
    def cut(value: str) -> str:
        i = value.find(sep)
        return value if i < 0 else value[: i + 1] + SECRET

    return cut


def _args(words: Sequence[str], start: int, end: int) -> list[int]:
    """Indexes of the words in [start, end) that are not flags."""
    return [i for i in range(start, end) if not words[i].startswith("-")]


def _value_flag(words: Sequence[str], i: int, flags: frozenset[str], out: dict[int, str], *, attached: bool,
                transform: Callable[[str], str] = _mask_value) -> None:
    """`-p X`, `--user=X` or (when `attached`) `-pX` for a flag in `flags`: the value is replaced by
    `transform(value)`."""
    w = words[i]
    if w in flags:
        if i + 1 < len(words) and i + 1 not in out:
            out[i + 1] = transform(words[i + 1])
        return
    if w.startswith("--"):
        name, eq, value = w.partition("=")
        if eq and name in flags:
            out[i] = f"{name}={transform(value)}"
    elif attached and len(w) > 2 and w[:2] in flags:
        out[i] = w[:2] + transform(w[2:])


def _command_rules(prog: str, words: list[str], at: int, end: int, out: dict[int, str], depth: int) -> None:
    """Masks for the arguments of `prog` at `words[at]` (its arguments run to `end`)."""
    args = range(at + 1, end)
    if prog in _SHELLS:
        for i in args:
            w = words[i]
            if w.startswith("-") and not w.startswith("--") and "c" in w[1:]:
                if i + 1 < end:
                    out[i + 1] = redact_shell(words[i + 1], _depth=depth + 1)
                return
            if not w.startswith("-") and _program(w) not in _SHELLS:
                return  # `bash script.sh`: no inline script
        return
    if prog in _MYSQL:
        for i in args:
            w = words[i]
            if w.startswith("-p") and len(w) > 2:
                out[i] = "-p" + SECRET
            elif w == "-p" and i + 1 < end and not words[i + 1].startswith("-"):
                # mysql prompts and reads the next word as the database; a password typed there by mistake
                # (the usual one) is still a password
                out[i + 1] = SECRET
    for table, attached in ((_VALUE_FLAGS, True), (_EXACT_FLAGS, False)):
        flags = table.get(prog)
        if flags:
            for i in args:
                if i not in out:
                    _value_flag(words, i, flags, out, attached=attached)
    if prog in _USERPASS:
        flags, sep = _USERPASS[prog]
        for i in args:
            if i not in out:
                _value_flag(words, i, flags, out, attached=True, transform=_after(sep))
    if prog == "curl":
        for i in args:
            if words[i] in ("-b", "--cookie") and i + 1 < end and "=" in words[i + 1]:
                out[i + 1] = SECRET  # cookies, not a cookie file
    if prog in _LOGIN_TOOLS and "login" in words[at + 1:end]:
        for i in args:
            if i not in out:
                _value_flag(words, i, frozenset({"-p"}), out, attached=False)
    if prog == "openssl":
        for i in args:
            if words[i] == "passwd":
                pos = _args(words, i + 1, end)
                if pos:
                    out[pos[-1]] = SECRET
            elif words[i] == "-macopt" and i + 1 < end:
                out[i + 1] = _after(":")(words[i + 1])
    if prog == "htpasswd" and end - at > 2 and any(
            w.startswith("-") and not w.startswith("--") and "b" in w for w in words[at + 1:end]):
        out[end - 1] = SECRET  # batch mode: the password is the last argument
    if prog in ("vault", "bao"):
        for i in args:
            w = words[i]
            if w in ("login", "unwrap", "unseal") or (
                    w in ("lookup", "revoke", "renew", "capabilities") and "token" in words[at + 1:i]):
                for k in range(i + 1, end):
                    v = words[k]
                    if not v.startswith("-") and v not in _REDIRECTIONS and not _LOWER_ASSIGN.match(v):
                        out[k] = SECRET
                break
    if prog in _ORACLE:
        for i in args:
            m = _ORACLE_LOGIN.fullmatch(words[i])
            if m is not None and not words[i].startswith(("-", "@")):
                out[i] = f"{m.group(1)}/{SECRET}{m.group(3) or ''}"
    if prog in _REDIS:
        for i in args:
            low = words[i].lower()
            if low in ("auth", "auth2"):
                for k in range(i + 1, end):
                    out[k] = SECRET
                break
            if low in ("requirepass", "masterauth") and i + 1 < end:
                out[i + 1] = SECRET
    if prog == "rabbitmqctl":
        for i in args:
            if words[i] in ("add_user", "change_password", "authenticate_user"):
                pos = _args(words, i + 1, end)
                if len(pos) >= 2:
                    out[pos[1]] = SECRET
                break
    if prog == "mc":
        for i in args:
            if words[i] in ("set", "add") and words[i - 1] in ("alias", "host"):
                for k in _args(words, i + 1, end)[2:4]:  # ALIAS URL ACCESS-KEY SECRET-KEY
                    out[k] = SECRET
                break
    if prog == "aws":
        for i in args:
            if words[i] == "set" and i + 2 < end and SECRET_NAME.search(words[i + 1]):
                out[i + 2] = SECRET
    if prog == "kubectl" and "secret" in words[at + 1:end]:
        for i in args:
            key, eq, _value = words[i].removeprefix("--from-literal=").partition("=")
            if words[i].startswith("--from-literal=") and eq:
                out[i] = f"--from-literal={key}={SECRET}"


def _generic_flags(words: list[str], out: dict[int, str], programs: dict[int, str]) -> None:
    """`--password=X`, `--token X`, `-pass X` (Go and openssl style single-dash names) for every program."""
    n = len(words)
    prog = ""
    for i, w in enumerate(words):
        prog = programs.get(i, prog)
        if i in out or not w.startswith("-"):
            continue
        m = _FLAG.fullmatch(w)
        if m is None or (m.group(1) == "-" and len(m.group(2)) < 3) or not SECRET_NAME.search(m.group(2)):
            continue
        dashes, name, value = m.groups()
        if value is not None:
            if value and not value.startswith(MASK_START) and value.lower() not in NOT_SECRET_VALUE:
                out[i] = f"{dashes}{name}={_mask_value(value)}"
        elif name.lower() in ("password", "passwd") and prog in _BOOLEAN_PASSWORD:
            continue
        elif i + 1 < n and i + 1 not in out:
            out[i + 1] = _mask_value(words[i + 1])


def _word_text(word: str) -> str:
    new = redact_text(word, contact=True)
    if new == word and len(word) >= 32 and not word.startswith(("/", ".")) and _TOKENISH.fullmatch(word) \
            and any(c.isdigit() for c in word) and any(c.isalpha() for c in word):
        return SECRET  # a long random-looking argument: an API key or a token passed positionally
    return new


def _redact_words(words: list[str], depth: int) -> list[str]:
    out: dict[int, str] = {}
    starts = [i for i, w in enumerate(words)
              if not w.startswith("-") and "=" not in w and _program(w) in _KNOWN]
    programs = {i: _program(words[i]) for i in starts}
    for i in starts:
        _command_rules(programs[i], words, i, len(words), out, depth)
    _generic_flags(words, out, programs)
    return [_word_text(out.get(i, w)) for i, w in enumerate(words)]


_ARGV_OPERATORS = frozenset({"|", "|&", "&&", "||", ";", "&"})


def _pipeline_feeders(commands: Sequence[Sequence[str]], pipelines: Sequence[Sequence[int]]) -> set[tuple[int, int]]:
    """(command, word) indexes of the words `echo`/`printf`/`cat`/`yes` feed into a later command of the same
    pipeline that reads a secret from stdin (`echo X | vault login -`)."""
    found: set[tuple[int, int]] = set()
    for pipe in pipelines:
        for k, c in enumerate(pipe):
            words = commands[c]
            if not words or _program(words[0]) not in _FEEDERS:
                continue
            if any(_READS_SECRET.fullmatch(w) for d in pipe[k + 1:] for w in commands[d]):
                found.update((c, i) for i in range(1, len(words)) if not words[i].startswith("-"))
    return found


def _redact_operator_words(words: list[str]) -> list[str]:
    """A shell command line passed word by word, operators included (`echo X | vault login -` as six
    arguments): each simple command gets the argv rules, then the pipeline rule."""
    commands: list[list[str]] = [[]]
    starts = [0]
    pipelines: list[list[int]] = [[0]]
    for i, w in enumerate(words):
        if w in _ARGV_OPERATORS:
            commands.append([])
            starts.append(i + 1)
            if w in ("|", "|&"):
                pipelines[-1].append(len(commands) - 1)
            else:
                pipelines.append([len(commands) - 1])
        else:
            commands[-1].append(w)
    out = list(words)
    for cmd, at in zip(commands, starts, strict=True):
        out[at:at + len(cmd)] = _redact_words(cmd, 0)
        if "<<<" in cmd and any(_READS_SECRET.fullmatch(w) for w in cmd):
            for i, w in enumerate(cmd[:-1]):
                if w == "<<<":
                    out[at + i + 1] = SECRET
    for c, i in _pipeline_feeders(commands, pipelines):
        out[starts[c] + i] = SECRET
    return out


def redact_argv(argv: Sequence[str]) -> list[str]:
    """An exec command (`pods/exec` `command=` list) with its secrets and PHI masked, argument by argument.

    Per program: the password of `mysql -pX`, `redis-cli -a X`, `openssl enc -k X` / `-pass pass:X`,
    `htpasswd -b file user X`, `vault login X`, `sshpass -p X`, `curl -u user:X`, `ldapsearch -w X`,
    `sqlcmd -P X`, `sqlplus user/X@db`, `rabbitmqctl add_user u X`...; for every program: `--password=X`,
    `--token X`, `-pass X`, secret-named assignments (`PGPASSWORD=X`), URIs with credentials, headers,
    tokens, long random-looking arguments, query strings and PHI. `sh -c SCRIPT` scripts are parsed as shell
    (`redact_shell`), so `echo X | vault login -` loses X.

    Remembered for the last 4096 commands: a log repeats the same exec (probes, scripts, an attacker's loop)
    thousands of times, and parsing one costs ~50 µs; three rules ask for each exec event's command.
    """
    words = tuple(str(w) for w in argv)
    if sum(map(len, words)) > _CACHED_ARGV_CHARS:
        return _redact_argv(words)
    return list(_redact_argv_cached(words))


_CACHED_ARGV_CHARS = 4096
"""Longer commands are not remembered (the cache's memory stays bounded)."""


def _redact_argv(words: tuple[str, ...]) -> list[str]:
    if _ARGV_OPERATORS.isdisjoint(words):
        return _redact_words(list(words), 0)
    return _redact_operator_words(list(words))


@lru_cache(maxsize=4096)
def _redact_argv_cached(words: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(_redact_argv(words))


# ---------------------------------------------------------------------------------------------------- shell

_OPERATORS = ("&&", "||", ";;", "<<<", "|&", ">>", "&>", "|", "&", ";", "(", ")", "<", ">", "\n")
_SEPARATORS = frozenset({"&&", "||", ";;", ";", "&", "(", ")", "\n"})
_READS_SECRET = re.compile(
    r"(?i)(?:login|unseal|--password-stdin|--stdin|--passphrase-fd|-passin|-passout|chpasswd|passwd|kinit"
    r"|cryptsetup|htpasswd|-S|--pass-stdin|--token-stdin|auth|--with-token)"
)
_FEEDERS = frozenset({"echo", "printf", "yes", "cat"})
_SHELL_SAFE = re.compile(r"[\w@%+=:,./-]*+")


def _operator_at(script: str, i: int) -> str | None:
    if script.startswith("<redacted", i) and MASK_RE.match(script, i):
        return None  # a mask is a word, not a redirection
    for o in _OPERATORS:
        if script.startswith(o, i):
            return o
    return None


def _lex(script: str) -> list[tuple[str, str, int, int]]:
    """Shell tokens: ('w', value, start, end) for words (quotes removed), ('o', op, start, end) for
    operators. Linear; an unterminated quote runs to the end (the rest is one word)."""
    toks: list[tuple[str, str, int, int]] = []
    i, n = 0, len(script)
    while i < n:
        c = script[i]
        if c in " \t\r":
            i += 1
            continue
        if c == "#" and (i == 0 or script[i - 1] in " \t\n;&|("):
            j = script.find("\n", i)
            i = n if j < 0 else j
            continue
        op = _operator_at(script, i)
        if op is not None:
            toks.append(("o", op, i, i + len(op)))
            i += len(op)
            continue
        start = i
        buf: list[str] = []
        depth = 0
        while i < n:
            c = script[i]
            if depth == 0 and (c in " \t\r\n" or (c in "&|;()<>" and _operator_at(script, i) is not None)):
                break
            if c == "<" and (m := MASK_RE.match(script, i)) is not None:
                buf.append(m.group(0))
                i = m.end()
            elif c == "\\" and i + 1 < n:
                buf.append(script[i + 1])
                i += 2
            elif c == "'":
                j = script.find("'", i + 1)
                j = n if j < 0 else j
                buf.append(script[i + 1:j])
                i = j + 1
            elif c == '"':
                j = i + 1
                while j < n and script[j] != '"':
                    if script[j] == "\\" and j + 1 < n and script[j + 1] in '"\\$`':
                        buf.append(script[j + 1])
                        j += 2
                    else:
                        buf.append(script[j])
                        j += 1
                i = j + 1
            elif c == "$" and i + 1 < n and script[i + 1] == "(":
                depth += 1
                buf.append("$(")
                i += 2
            elif c == ")" and depth:
                depth -= 1
                buf.append(c)
                i += 1
            else:
                buf.append(c)
                i += 1
        toks.append(("w", "".join(buf), start, min(i, n)))
    return toks


def _quote(word: str) -> str:
    """A replaced word as shell text; masks are shown bare (`-p<redacted:secret>`, not quoted)."""
    if _SHELL_SAFE.fullmatch(MASK_RE.sub("x", word)):
        return word
    if "'" in word and not any(c in word for c in '"$`\\'):
        return '"' + word + '"'
    return "'" + word.replace("'", "'\\''") + "'"


def redact_shell(script: str, *, _depth: int = 0) -> str:
    """A shell script (`sh -c SCRIPT`) with the argv rules applied to each simple command, the words fed by
    `echo`/`printf`/`<<<` into a command that reads a secret from stdin (`echo X | vault login -`,
    `echo X | docker login --password-stdin`) masked, and the text rules over the whole."""
    if _depth > 4 or not script:
        return redact_text(script, contact=True)
    toks = _lex(script)
    commands: list[list[int]] = [[]]  # token indexes of the words of each simple command
    pipelines: list[list[int]] = [[0]]  # command indexes of each pipeline
    here: set[int] = set()  # words after <<<
    for t, (kind, val, _s, _e) in enumerate(toks):
        if kind == "w":
            if t and toks[t - 1][:2] == ("o", "<<<"):
                here.add(t)
            commands[-1].append(t)
        elif val in ("|", "|&"):
            commands.append([])
            pipelines[-1].append(len(commands) - 1)
        elif val in _SEPARATORS:
            commands.append([])
            pipelines.append([len(commands) - 1])
    replaced: dict[int, str] = {}
    for cmd in commands:
        words = [toks[t][1] for t in cmd]
        if not words:
            continue
        for t, old, w in zip(cmd, words, _redact_words(words, _depth), strict=True):
            if w != old:
                replaced[t] = w
        if here.intersection(cmd) and any(_READS_SECRET.fullmatch(w) for w in words):
            for t in here.intersection(cmd):
                replaced[t] = SECRET
    values = [[toks[t][1] for t in cmd] for cmd in commands]
    for c, i in _pipeline_feeders(values, pipelines):
        replaced[commands[c][i]] = SECRET
    if replaced:
        parts: list[str] = []
        pos = 0
        for t in sorted(replaced):
            _kind, _val, s, e = toks[t]
            parts.append(script[pos:s])
            parts.append(_quote(replaced[t]))
            pos = e
        parts.append(script[pos:])
        script = "".join(parts)
    return redact_text(script, contact=True)
