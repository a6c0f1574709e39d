"""Credentials in free text: private keys, tokens, auth headers, URL passwords, secret-named assignments, SQL.

Each rule runs only when a substring it needs is present; every pattern has an anchored start and possessive or
bounded repetition (linear time).
"""

from __future__ import annotations

import base64
import binascii
import re

from kubehipaa.redaction.masks import MASK_START, SECRET

_PRIVATE_KEY = re.compile(
    r"-----BEGIN[ A-Z0-9]{0,40}PRIVATE KEY(?: BLOCK)?-----"
    r"(?:[^-]|-(?!----END))*+(?:-----END[ A-Z0-9]{0,40}PRIVATE KEY(?: BLOCK)?-----)?"
)
"""A PEM private key, with or without its END line (a truncated key is still a key)."""

_TOKEN = re.compile(
    r"(?<![A-Za-z0-9_-])(?:"
    r"eyJ[A-Za-z0-9_-]{4,}+\.[A-Za-z0-9_-]{4,}+\.[A-Za-z0-9_-]*+"  # JWT (an unsigned one ends with '.')
    r"|(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Za-z0-9])"  # AWS access key id
    r"|gh[pousr]_[A-Za-z0-9]{20,}+"  # GitHub tokens
    r"|github_pat_[A-Za-z0-9_]{20,}+"
    r"|glpat-[A-Za-z0-9_-]{20,}+"  # GitLab
    r"|xox[abposr]-[A-Za-z0-9-]{10,}+"  # Slack
    r"|AIza[A-Za-z0-9_-]{35}"  # Google API key
    r"|[sr]k_(?:live|test)_[A-Za-z0-9]{16,}+"  # Stripe
    r"|hv[sbr]\.[A-Za-z0-9_-]{20,}+"  # Vault
    r"|npm_[A-Za-z0-9]{36}"
    r")"
)

_HEADER = re.compile(
    r"(?i)(?<![\w-])((?:proxy-)?authorization|cookie|set-cookie|x-vault-token|private-token)[\"']?+\s{0,3}+[:=]"
    r"\s{0,3}+[\"']?+"
)
"""Headers whose whole value is a credential (`Authorization: Bearer x`, `Cookie: a=b; c=d`)."""
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,20}+\s++")
_CRED = re.compile(r"\S++")
_COOKIE_VALUE = re.compile(r"[^\r\n]++")
_CLOSING = "\"'"

_BEARER = re.compile(r"(?i)(?<![\w-])bearer\s++(?!<redacted)([A-Za-z0-9._~+/=-]{16,}+)")
_BASIC = re.compile(r"(?i)(?<![\w-])basic\s++(?!<redacted)([A-Za-z0-9+/]{6,}+=*+)")

_USERINFO = re.compile(
    r"(?<![A-Za-z0-9+.-])([A-Za-z][A-Za-z0-9+.-]{0,31}+://)([^\s/?#@:]{0,256}+):(?!<redacted)([^\s/]*+)"
)
"""`scheme://user:password@host`: the password runs to the LAST '@' before the path (an unescaped '@', '#' or
'?' in a password makes a malformed URL, but it must not leak half of the password)."""
_TOKEN_USERINFO = re.compile(r"(?<![A-Za-z0-9+.-])([A-Za-z][A-Za-z0-9+.-]{0,31}+://)([A-Za-z0-9_.~-]{16,256}+)@")
"""`https://<token>@github.com`: a long user part alone is a token."""

_ASSIGN = re.compile(
    r"""(?<![\w.-])(-{0,2}+)(["']?+)([A-Za-z_][\w.-]{0,63}+)\2\s{0,3}+(:=|=|:)(?!=)\s{0,3}+"""
)
SECRET_NAME = re.compile(
    r"(?:pass(?:word|wd|phrase)?|pwd|(?:^|[_.-])pw|secret|token|creds?|credentials?|cookie|session[_.-]?id"
    r"|api[_.-]?key|(?:access|secret|private|signing|encryption|master|account|storage|session|client|app"
    r"|license|shared)[_.-]?key|(?:^|[_.-])auth|(?:^|[_.-])sig(?:nature)?|requirepass|masterauth)$",
    re.IGNORECASE,
)
"""A name whose value is a credential: it ENDS with a secret word, so `password_file`, `token_ttl` or
`secretName` (a path, a duration, a reference) are not masked."""
NOT_SECRET_VALUE = frozenset({"true", "false", "yes", "no", "on", "off", "null", "none", ""})

_SQL_PASSWORD = re.compile(
    r"(?i)\b(?:identified\s++(?:with\s++\w++\s++)?by(?:\s++password)?\s++|password(?:\s++|\s*+\(\s*+))"
    r"(?!'<redacted)('(?:[^'\\]|\\.|'')*+'|\"(?:[^\"\\]|\\.)*+\")"
)


def _sub_header(text: str) -> str:
    out: list[str] = []
    pos = 0
    for m in _HEADER.finditer(text):
        start = m.end()
        if start < pos:
            continue
        name = m.group(1).lower()
        if text.startswith(MASK_START, start):
            continue
        if name in ("cookie", "set-cookie"):
            v = _COOKIE_VALUE.match(text, start)
            if v is None:
                continue
            out.append(text[pos:start])
            out.append(SECRET)
            pos = _keep_closing(text, m.start(), start, v.end())
            continue
        s = _SCHEME.match(text, start)
        cred_at = start
        if s is not None and not text.startswith(MASK_START, s.end()) and _CRED.match(text, s.end()):
            cred_at = s.end()
        elif s is not None and text.startswith(MASK_START, s.end()):
            continue
        v = _CRED.match(text, cred_at)
        if v is None:
            continue
        out.append(text[pos:cred_at])
        out.append(SECRET)
        pos = _keep_closing(text, m.start(), cred_at, v.end())
    if not out:
        return text
    out.append(text[pos:])
    return "".join(out)


def _keep_closing(text: str, opened: int, start: int, end: int) -> int:
    """Where a masked span really ends: when the header was a quoted string (`"Authorization: Bearer x"`, the
    quote just before `opened`), its closing quote is left in place so the text keeps its quoting; any other
    final quote belongs to the value and is masked with it."""
    last = text[end - 1]
    if end - 1 > start and last in _CLOSING and opened > 0 and text[opened - 1] == last:
        return end - 1
    return end


def _basic(m: re.Match[str]) -> str:
    cand = m.group(1)
    try:
        decoded = base64.b64decode(cand + "=" * (-len(cand) % 4), validate=True)
    except (binascii.Error, ValueError):
        return m.group(0)
    if b":" not in decoded:
        return m.group(0)  # "basic authentication" is prose, "Basic dXNlcjpwdw==" is user:password
    return m.group(0)[: m.start(1) - m.start(0)] + SECRET


def _bearer(m: re.Match[str]) -> str:
    cand = m.group(1)
    if not (any(c.isdigit() for c in cand) or (cand.lower() != cand and cand.upper() != cand)):
        return m.group(0)  # a long lower-case word after "bearer" is prose
    return m.group(0)[: m.start(1) - m.start(0)] + SECRET


_PLACEHOLDER = re.compile(r"(?i)pass(?:word|wd)?|pwd|\$\{[^}]*\}|\$\([^)]*\)|\{\{.*\}\}|<[^<>]*>")
"""A slot for a password, not one: `user:password@host` in documentation, `${DB_PASSWORD}` in a template."""


def _userinfo(m: re.Match[str]) -> str:
    rest = m.group(3)
    at = rest.rfind("@")
    if at < 0 or _PLACEHOLDER.fullmatch(rest[:at]):
        return m.group(0)  # host:port, not user:password; or a placeholder
    return f"{m.group(1)}{m.group(2)}:{SECRET}{rest[at:]}"


def _sub_assign(text: str) -> str:
    out: list[str] = []
    pos = 0
    n = len(text)
    for m in _ASSIGN.finditer(text):
        name = m.group(3)
        if m.start() < pos or not (SECRET_NAME.search(name) or (m.group(4) == "=" and name.lower() == "key")):
            continue  # `key=...` is an API key; `key: ...` is how Kubernetes messages name a label key
        start = m.end()
        if start >= n or text.startswith(MASK_START, start):
            continue
        quote = text[start]
        if quote in "\"'":
            close = start + 1
            while close < n and text[close] != quote:
                close += 2 if text[close] == "\\" else 1
            end = min(close + 1, n)
            value = text[start + 1:min(close, n)]
            if end < n and not text[end].isspace() and text[end] not in ",;&)}]":
                quote = ""  # `"ab"cd`: quotes inside one word (shell concatenation): mask the whole word
                while end < n and not text[end].isspace():
                    end += 1
        else:
            end = start
            while end < n and not text[end].isspace():
                end += 1
            value = text[start:end]
            if value.startswith(MASK_START):
                continue
        if value.strip().rstrip(",.;)]}").lower() in NOT_SECRET_VALUE:
            continue  # `--anonymous-auth=false).` in a sentence
        out.append(text[pos:start])
        out.append(f"{quote}{SECRET}{quote}" if quote and quote in "\"'" else SECRET)
        pos = end
    if not out:
        return text
    out.append(text[pos:])
    return "".join(out)


def _sub_sql(m: re.Match[str]) -> str:
    return m.group(0)[: m.start(1) - m.start(0)] + f"'{SECRET}'"


TOKEN_HINT = re.compile(
    r"eyJ|A(?:KIA|SIA|BIA|CCA|Iza)|gh[pousr]_|github_pat_|glpat-|xox[abposr]-|[sr]k_(?:live|test)_|hv[sbr]\.|npm_"
)
"""The prefixes `_TOKEN` starts with: one C-level scan decides whether it needs to run at all."""


def assign_hint(low: str) -> bool:
    """A lower-cased text that holds a word `_ASSIGN`'s secret names need (`SECRET_NAME`, `key`)."""
    return ("pass" in low or "pw" in low or "secret" in low or "token" in low or "cred" in low or "key" in low
            or "auth" in low or "cookie" in low or "session" in low or "sig" in low)


def redact_credentials(text: str) -> str:
    """Each rule runs only when a substring it needs is there (most texts skip all of them after a few `in`
    tests, which cost far less than a regex scan)."""
    if "-----BEGIN" in text:
        text = _PRIVATE_KEY.sub(SECRET, text)
    if TOKEN_HINT.search(text) is not None:
        text = _TOKEN.sub(SECRET, text)
    low = text.lower()
    if "authorization" in low or "cookie" in low or "-token" in low:
        text = _sub_header(text)
    if "bearer" in low:
        text = _BEARER.sub(_bearer, text)
    if "basic" in low:
        text = _BASIC.sub(_basic, text)
    if "://" in text:
        text = _USERINFO.sub(_userinfo, text)
        text = _TOKEN_USERINFO.sub(lambda m: f"{m.group(1)}{SECRET}@", text)
    if ("=" in text or ":" in text) and assign_hint(low):
        text = _sub_assign(text)
    if "password" in low or "identified" in low:
        text = _SQL_PASSWORD.sub(_sub_sql, text)
    return text
