"""The one redaction layer: every text that leaves kubehipaa passes through here.

Why one module: a report, an alert line, a log line and an error message all end up in places kubehipaa does
not control (CI logs, SIEMs, tickets, e-mail). A secret or a patient identifier that reaches any of them has
leaked, whichever command printed it. Redaction rules scattered over renderers drift apart; here they are
written once, and every layer (engines, checks, reports, CLI, server) imports this leaf module.

Where it is applied (docs/redaction.md):

- at creation, where structure is still known: an exec command as an argv (`redact_argv`: which argument is
  a password depends on the program and the flag before it), a request URI (`redact_uri`: the query string
  and the application path behind `/proxy/`), a check's evidence (`checks.registry`);
- at the exit, on every record that is serialized (`Alert.to_dict`, `TimelineEntry.to_dict`, the report
  builders, the CLI's stderr console and log records): `redact_text` / `redact_tree` over each string.

Both passes use the same rules and are idempotent: a mask contains nothing any rule matches, so text redacted
at creation comes out of the exit pass unchanged (no double masking).

Masks are fixed strings, one per kind (`<redacted:secret>`, `<redacted:ssn>`, `<redacted:query>`...): they keep
neither the length nor the punctuation of what they replace, so `!@#$%^&*()` and `***-**-****` shapes no
longer tell a reader how long a password is or that a value was an SSN with dashes.

What is recognised, without context:
- credentials: PEM private keys, JWTs, AWS access key ids, GitHub/GitLab/Slack/Google/Stripe/Vault tokens,
  `Authorization:`/`Cookie:` header values, `Bearer` tokens and `Basic` credentials, the password in
  `scheme://user:password@host`, the value of a secret-named assignment (`password=`, `DB_PASSWORD=`,
  `"client_secret": "..."`, `X-Api-Key: ...`), SQL `IDENTIFIED BY '...'` / `PASSWORD '...'`;
- query strings of URLs and paths: `/api?token=...` becomes `/api?<redacted:query>` (parameter names too:
  a name can be an identifier, `?123-45-6789=1`);
- PHI, with `kubehipaa.engines.phi`'s validators: SSNs (dashed; bare 9 digits next to an SSN label), NPIs,
  MRNs and dates next to their labels (`mrn`, `patient_id`, `dob`, `birth_date`..., also inside identifiers
  such as `patient_ssn`), HL7 and FHIR payloads; with `contact=True` also phone numbers and e-mail addresses.
  After the span rules, the PHI engine itself (`phi.scan_text`) checks the result: anything it still finds is
  masked, so this layer never shows what the engine calls PHI.

Usernames and groups are identities, not PHI: the text policy leaves e-mail addresses alone (an auditor needs
`jane@hospital.org`); phone numbers and e-mail addresses are masked in command lines (`contact=True`), where
they are patient data typed into a query.

Every pattern is linear in the length of its input (anchored starts, possessive or bounded repetition).
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

from kubehipaa.engines import phi as _phi

__all__ = [
    "GENERIC",
    "MASK_RE",
    "QUERY",
    "SECRET",
    "Redacted",
    "clip",
    "install_log_redaction",
    "is_masked",
    "mask",
    "mask_sensitive",
    "redact_argv",
    "redact_shell",
    "redact_text",
    "redact_tree",
    "redact_uri",
    "redacted",
]


def mask(kind: str) -> str:
    """The fixed mask of a kind: `<redacted:ssn>`. Same string whatever it replaces."""
    return f"<redacted:{kind}>"


SECRET = mask("secret")
QUERY = mask("query")
PATH = mask("path")
GENERIC = "<redacted>"
"""For a value a check declared sensitive without saying what it is."""
MASK_RE = re.compile(r"<redacted(?::[a-z0-9-]{1,20})?>")
"""Every mask this module writes (tests use it to tell masks from leaked text)."""
_MASK_START = "<redacted"


def is_masked(text: str) -> bool:
    """True when `text` is exactly one mask."""
    return MASK_RE.fullmatch(text) is not None


class Redacted(str):
    """Text that has been through this layer, so a later pass can skip it in O(1) (a scan's exit pass would
    otherwise redo tens of thousands of finding messages the registry redacted when it made them). Anything
    built from it (`f"{x}..."`, `x + y`) is a plain `str` again, and is redacted again."""

    __slots__ = ()


def redacted(text: str) -> Redacted:
    """`text` passed through `redact_text` and marked as such."""
    return text if isinstance(text, Redacted) else Redacted(redact_text(text))


# ------------------------------------------------------------------------------------------------ secrets

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
_SECRET_NAME = re.compile(
    r"(?:pass(?:word|wd|phrase)?|pwd|(?:^|[_.-])pw|secret|token|creds?|credentials?|cookie|session[_.-]?id"
    r"|api[_.-]?key|(?:access|secret|private|signing|encryption|master|account|storage|session|client|app"
    r"|license|shared)[_.-]?key|(?:^|[_.-])auth|(?:^|[_.-])sig(?:nature)?|requirepass|masterauth)$",
    re.IGNORECASE,
)
"""A name whose value is a credential: it ENDS with a secret word, so `password_file`, `token_ttl` or
`secretName` (a path, a duration, a reference) are not masked."""
_NOT_SECRET_VALUE = frozenset({"true", "false", "yes", "no", "on", "off", "null", "none", ""})

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
        if text.startswith(_MASK_START, start):
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
        if s is not None and not text.startswith(_MASK_START, s.end()) and _CRED.match(text, s.end()):
            cred_at = s.end()
        elif s is not None and text.startswith(_MASK_START, s.end()):
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
        if m.start() < pos or not (_SECRET_NAME.search(name) or (m.group(4) == "=" and name.lower() == "key")):
            continue  # `key=...` is an API key; `key: ...` is how Kubernetes messages name a label key
        start = m.end()
        if start >= n or text.startswith(_MASK_START, start):
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
            if value.startswith(_MASK_START):
                continue
        if value.strip().rstrip(",.;)]}").lower() in _NOT_SECRET_VALUE:
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


_TOKEN_HINT = re.compile(
    r"eyJ|A(?:KIA|SIA|BIA|CCA|Iza)|gh[pousr]_|github_pat_|glpat-|xox[abposr]-|[sr]k_(?:live|test)_|hv[sbr]\.|npm_"
)
"""The prefixes `_TOKEN` starts with: one C-level scan decides whether it needs to run at all."""


def _assign_hint(low: str) -> bool:
    return ("pass" in low or "pw" in low or "secret" in low or "token" in low or "cred" in low or "key" in low
            or "auth" in low or "cookie" in low or "session" in low or "sig" in low)


def _redact_secrets(text: str) -> str:
    """Each rule runs only when a substring it needs is there (most texts skip all of them after a few `in`
    tests, which cost far less than a regex scan)."""
    if "-----BEGIN" in text:
        text = _PRIVATE_KEY.sub(SECRET, text)
    if _TOKEN_HINT.search(text) is not None:
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
    if ("=" in text or ":" in text) and _assign_hint(low):
        text = _sub_assign(text)
    if "password" in low or "identified" in low:
        text = _SQL_PASSWORD.sub(_sub_sql, text)
    return text


# --------------------------------------------------------------------------------------------------- query

_WORD = re.compile(r"\S++")
_CLOSER = {'"': '"', "'": "'", "(": ")", "[": "]", "{": "}"}


def _redact_queries(text: str) -> str:
    """`/path?anything` and `scheme://host/path?anything` keep the path and lose the query: the names of the
    parameters too (an identifier can be a name), and the fragment with it."""
    if "?" not in text:
        return text
    out: list[str] = []
    pos = 0
    for m in _WORD.finditer(text):
        word = m.group(0)
        q = word.find("?")
        if q < 0 or q + 1 >= len(word) or "/" not in word[:q]:
            continue
        if word.startswith(QUERY, q + 1):
            continue
        keep = word[-1] if word[0] in "\"'([{" and word[-1] == _CLOSER[word[0]] else ""
        out.append(text[pos:m.start() + q + 1])
        out.append(QUERY + keep)
        pos = m.end()
    if not out:
        return text
    out.append(text[pos:])
    return "".join(out)


# ------------------------------------------------------------------------------------------------------ PHI

_SSN_DASHED = re.compile(r"(?:(?<![\d-])|(?<=[A-Za-z_]-))(\d{3})-(\d{2})-(\d{4})(?![\d-])")
_SSN_BARE = re.compile(r"(?<![A-Za-z0-9])(\d{3})(\d{2})(\d{4})(?![A-Za-z0-9])")
"""Nine digits standing alone (inside `G849355949` they are part of an identifier: an MRN, not an SSN)."""
_NPI = re.compile(r"(?<![\d.])([12]\d{9})(?![\d.])")
_MRN = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{0,3}+-?\d{5,12}+(?![A-Za-z0-9])")
_DATE_ISO = re.compile(r"(?<!\d)((?:19|20)\d\d)-(\d\d)-(\d\d)(?!\d)")
_DATE_US = re.compile(r"(?<!\d)(\d{1,2})[/-](\d{1,2})[/-]((?:19|20)\d\d)(?!\d)")
_PHONE = re.compile(r"(?<![\d-])(?:\+?1[-. ]?)?\(?[2-9]\d\d\)?[-. ][2-9]\d\d[-. ]\d{4}(?![\d-])")
_EMAIL = re.compile(r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}+@([A-Za-z0-9.-]{3,255}+)")
_HL7 = re.compile(r"MSH\|\^~\\&")
_FHIR = re.compile(
    r"[\"']?resourceType[\"']?\s*+[:=]\s*+[\"']?(?:Patient|Observation|Condition|Encounter|MedicationRequest"
    r"|DiagnosticReport|Procedure|AllergyIntolerance|Immunization|Claim|Coverage|ExplanationOfBenefit|Bundle)\b"
)
_SOCIAL = re.compile(r"social[\s_.-]?security")
_MRN_LABEL = re.compile(r"medical[\s_.-]?record|patient[\s_.-]?id|chart[\s_.-]?n(?:o|umber)")
_DIGITS4 = re.compile(r"\d{4}")
_LONG_DIGITS = re.compile(r"\d{3}(?:\d{6}|-\d{2}-\d{4})")
"""What every strong kind of `engines.phi` needs when no label is in sight (HL7 and FHIR markers aside): nine
digits in a row (a bare or an inline SSN, an NPI) or an SSN's dashes. Labels and keys are tested separately."""


def _valid_date(y: int, m: int, d: int) -> bool:
    if not (1900 <= y <= 2099 and 1 <= m <= 12 and 1 <= d <= 31):
        return False
    if m == 2:
        return d <= (29 if y % 4 == 0 and (y % 100 != 0 or y % 400 == 0) else 28)
    return d <= 30 if m in (4, 6, 9, 11) else True


def _ssn(m: re.Match[str]) -> str:
    return mask("ssn") if _phi.is_valid_ssn(m.group(1), m.group(2), m.group(3)) else m.group(0)


def _npi(m: re.Match[str]) -> str:
    return mask("npi") if _phi.is_valid_npi(m.group(1)) else m.group(0)


def _iso(m: re.Match[str]) -> str:
    return mask("dob") if _valid_date(int(m.group(1)), int(m.group(2)), int(m.group(3))) else m.group(0)


def _us(m: re.Match[str]) -> str:
    return mask("dob") if _valid_date(int(m.group(3)), int(m.group(1)), int(m.group(2))) else m.group(0)


def _email(m: re.Match[str]) -> str:
    labels = m.group(1).strip(".").split(".")
    tld = labels[-1]
    return mask("email") if len(labels) >= 2 and len(tld) >= 2 and tld.isalpha() else m.group(0)


def _labels(text: str, key: str | None) -> tuple[bool, bool, bool]:
    """Which labels (SSN, MRN, DOB) appear in the text or its key, also inside identifiers (`patient_ssn`):
    they make bare numbers and dates PHI."""
    low = f"{text}\n{key}".lower() if key else text.lower()
    ssn = "ssn" in low or ("social" in low and _SOCIAL.search(low) is not None)
    mrn = "mrn" in low or (("record" in low or "patient" in low or "chart" in low)
                           and _MRN_LABEL.search(low) is not None)
    dob = "dob" in low or "birth" in low or "d.o.b" in low
    return ssn, mrn, dob


def _redact_phi(text: str, contact: bool, key: str | None) -> str:
    hl7 = _HL7.search(text) if "MSH|" in text else None
    if hl7 is not None:
        return text[: hl7.start()] + mask("hl7")  # every segment after the header is the patient's record
    if "resourceType" in text and _FHIR.search(text) is not None:
        return mask("fhir")
    labelled = long_digits = False
    if _DIGITS4.search(text) is not None:
        ssn, mrn, dob = _labels(text, key)
        labelled = ssn or mrn or dob
        long_digits = _LONG_DIGITS.search(text) is not None
        if long_digits:
            if "-" in text:
                text = _SSN_DASHED.sub(_ssn, text)
            if ssn:
                text = _SSN_BARE.sub(_ssn, text)
            text = _NPI.sub(_npi, text)
        if dob:
            text = _DATE_ISO.sub(_iso, text)
            text = _DATE_US.sub(_us, text)
        if mrn:
            text = _MRN.sub(mask("mrn"), text)
        if contact:
            text = _PHONE.sub(mask("phone"), text)
    elif not contact:
        return text  # every strong kind has four digits in a row (or a marker, handled above)
    if contact and "@" in text:
        text = _EMAIL.sub(_email, text)
    if not contact and key is None and not labelled and not long_digits:
        return text  # nothing any strong kind could be made of (a timestamp, a port, a version)
    return _engine_guard(text, contact, key)


_GUARD_DIGITS = re.compile(r"\d{2,}")


def _engine_guard(text: str, contact: bool, key: str | None) -> str:
    """The PHI engine is the authority: whatever `phi.scan_text` still finds after the span rules is masked
    (the whitespace-separated word that holds it; failing that, every run of digits)."""
    kinds = _phi.KINDS if contact else _phi.STRONG_KINDS
    if not _phi.might_contain_phi(text):
        return text
    found = [m for m in _phi.scan_text(text, key) if m.kind in kinds]
    if not found:
        return text

    def word(m: re.Match[str]) -> str:
        hits = [p for p in _phi.scan_text(m.group(0), key) if p.kind in kinds]
        return mask(hits[0].kind) if hits else m.group(0)

    text = _WORD.sub(word, text)
    if any(m.kind in kinds for m in _phi.scan_text(text, key)):
        text = _GUARD_DIGITS.sub(mask(found[0].kind), text)
    return text


# ------------------------------------------------------------------------------------------------ text API


def redact_text(text: str, *, contact: bool = False, key: str | None = None) -> str:
    """Mask credentials, query strings and PHI in free text; `contact` also masks phone numbers and e-mail
    addresses; `key` is the field name the text came from (`ssn`, `dob`: it labels bare numbers and dates).

    Idempotent: `redact_text(redact_text(x)) == redact_text(x)`.
    """
    if not text:
        return text
    if key is None:
        if len(text) <= _CACHE_MAX:
            return _cached(text, contact)
        if not _may_hold_anything(text):
            return text
    return _redact(text, contact, key)


_CACHE_MAX = 256
_GATE = re.compile(r"[=:?@|]|\d{4}")


def _may_hold_anything(text: str) -> bool:
    """A necessary condition of every rule, tested first because nearly every string fails it (a name, a path
    like `spec.containers[0].image`, a message without digits or `=:?@`): what each rule needs is one of these
    characters, four digits in a row, a token prefix, a PEM header, or a word it starts with."""
    if _GATE.search(text) is not None or "-----BEGIN" in text or _TOKEN_HINT.search(text) is not None:
        return True
    low = text.lower()
    return "bearer" in low or "basic" in low or "password" in low or "identified" in low


@lru_cache(maxsize=65536)
def _cached(text: str, contact: bool) -> str:
    """Reports repeat the same short strings (users, verbs, namespaces, paths, messages) thousands of times,
    and the exit pass sees again what creation redacted: a hit costs a dictionary lookup."""
    return _redact(text, contact, None) if _may_hold_anything(text) else text


def _redact(text: str, contact: bool, key: str | None) -> str:
    text = _redact_secrets(text)
    text = _redact_queries(text)
    return _redact_phi(text, contact, key)


def redact_tree(value: Any, *, contact: bool = False) -> Any:
    """A JSON-like value with every string (dict keys included) passed through `redact_text`."""
    if isinstance(value, str):
        return redact_text(value, contact=contact)
    if isinstance(value, dict):
        return {(redact_text(k, contact=contact) if isinstance(k, str) else k): redact_tree(v, contact=contact)
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_tree(v, contact=contact) for v in value]
    return value


def mask_sensitive(value: Any) -> Any:
    """A value a check declared sensitive: every string that carries no letter or digit (the shapes of
    `phi.redact`, or a punctuation-only password) becomes the generic mask; strings with letters (the key
    names a check lists on purpose) are redacted as text; None becomes the generic mask."""
    if value is None:
        return GENERIC
    if isinstance(value, str):
        return redact_text(value) if any(c.isalnum() for c in value) else GENERIC
    if isinstance(value, list | tuple):
        out: list[Any] = []
        for v in value:
            m = mask_sensitive(v)
            if m not in out:
                out.append(m)
        return out
    if isinstance(value, dict):
        return {k: mask_sensitive(v) for k, v in value.items()}
    return GENERIC


def clip(text: str, limit: int) -> str:
    """`text` cut to `limit` characters without cutting a mask in half (a cut mask reads like data)."""
    if len(text) <= limit:
        return text
    cut = text[:limit]
    lt = cut.rfind("<")
    if lt >= 0:
        m = MASK_RE.match(text, lt)
        if m is not None and m.end() > limit:
            cut = cut[:lt]
    return cut + "…"


# ------------------------------------------------------------------------------------------------ URIs

_PROXY = "/proxy"
_PLAIN_SEGMENT = re.compile(r"(?:[A-Za-z][A-Za-z_.-]{0,31}|v\d{1,2}(?:(?:alpha|beta)\d{0,2})?)")


def redact_uri(uri: str) -> str:
    """A request URI with its query string masked (`?<redacted:query>`), the application path behind a
    `/proxy/` subresource cut at its first segment that is not a plain word (`/proxy/patients/<redacted:path>`:
    what a pod, service or node serves there is the application's data, not Kubernetes', and an identifier may
    run over several segments), and the rest redacted as text."""
    if not uri:
        return uri
    path, q, _query = uri.partition("?")
    if not q:
        path, h, _frag = path.partition("#")
        q = "?" if h else ""
    at = path.find(_PROXY + "/")
    if at >= 0:
        head, tail = path[: at + len(_PROXY) + 1], path[at + len(_PROXY) + 1:]
        segs = tail.split("/")
        cut = next((i for i, seg in enumerate(segs) if seg and not _PLAIN_SEGMENT.fullmatch(seg)), None)
        if cut is not None:
            segs[cut:] = [PATH]
        path = _redact(head, False, None) + "/".join(segs)
    else:
        path = _redact(path, False, None)
    return path + ("?" + QUERY if q else "")


# ------------------------------------------------------------------------------------------------ commands

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
            if words[i] == "set" and i + 2 < end and _SECRET_NAME.search(words[i + 1]):
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
        if m is None or (m.group(1) == "-" and len(m.group(2)) < 3) or not _SECRET_NAME.search(m.group(2)):
            continue
        dashes, name, value = m.groups()
        if value is not None:
            if value and not value.startswith(_MASK_START) and value.lower() not in _NOT_SECRET_VALUE:
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
    """
    words = [str(w) for w in argv]
    if _ARGV_OPERATORS.isdisjoint(words):
        return _redact_words(words, 0)
    return _redact_operator_words(words)


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


# ------------------------------------------------------------------------------------------------ logging

_INSTALLED = False


def install_log_redaction() -> None:
    """Redact every log record where it is made (all loggers, uvicorn's access log included: it prints
    request paths with their query strings). Idempotent. See `redact_record`."""
    global _INSTALLED
    if _INSTALLED:
        return
    _INSTALLED = True
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return redact_record(previous(*args, **kwargs))

    logging.setLogRecordFactory(factory)


def redact_record(record: logging.LogRecord) -> logging.LogRecord:
    """A log record whose message, arguments and traceback carry no secret.

    The arguments are redacted one by one when that is enough, so formatters that read them (uvicorn's access
    log unpacks method, path, status) keep working; when a secret spans the format string and an argument
    (`"password=%s"`), the whole message is replaced by its redacted text.
    """
    try:
        message = record.getMessage()
    except Exception:  # a bad format string: logging reports it itself when the record is emitted
        return record
    if record.exc_info and not record.exc_text:
        record.exc_text = redact_text(logging.Formatter().formatException(record.exc_info))
    safe = redact_text(message)
    if safe == message:
        return record
    args = record.args
    if isinstance(args, tuple) and args:
        record.args = tuple(redact_text(a) if isinstance(a, str) else a for a in args)
        try:
            again = record.getMessage()
        except Exception:
            again = None
        if again is not None and redact_text(again) == again:
            return record
    record.msg, record.args = safe, None
    return record
