"""Generated secrets and PHI, where they are placed, and how a leak is recognised.

A secret is drawn with enough entropy that any 8-character window of it (with at least three letters or
digits) is unique: finding such a window in an output is a leak, not a coincidence ('source' in 'resource').
The random characters come from a seed hypothesis draws; what hypothesis shapes directly is the structure
(which punctuation, where, how long), so shrinking a failure never produces a secret made of ordinary words.
"""

from __future__ import annotations

import base64
import json
import random
import re
import string
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, quote_plus

from hypothesis import strategies as st

from kubehipaa.engines import phi

PUNCT = "!@#$%^&*()-_=+[]{};:,.<>/?~|'\"`\\"
ALNUM = string.ascii_letters + string.digits


def _no_long_digit_run(s: str) -> bool:
    # a run of 4+ digits inside a password could make a date, an SSN or an NPI with the characters around it: a
    # PHI finding the longer variant of the same password might not produce (not what the length test is about)
    return re.search(r"\d{4}", s) is None


def _rng_text(rng: random.Random, alphabet: str, k: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(k))


@st.composite
def passwords(draw: st.DrawFn, min_size: int = 14, max_size: int = 28) -> str:
    """Passwords that start with a letter and mix random letters and digits (the entropy comes from a seed, so
    shrinking never turns them into words) with punctuation hypothesis chooses and places (quotes, backslash,
    shell and URL metacharacters)."""
    rng = random.Random(draw(st.integers(0, 2**63)))
    size = draw(st.integers(min_size, max_size))
    punct = draw(st.lists(st.sampled_from(PUNCT), min_size=1, max_size=max(1, size // 3)))
    while True:
        chars = [rng.choice(string.ascii_letters), *_rng_text(rng, ALNUM, size - 1 - len(punct))]
        for c in punct:
            chars.insert(draw(st.integers(1, len(chars))), c)
        text = "".join(chars)
        if _no_long_digit_run(text):
            return text


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@st.composite
def jwts(draw: st.DrawFn) -> str:
    rng = random.Random(draw(st.integers(0, 2**63)))
    sub = _rng_text(rng, ALNUM, draw(st.integers(8, 24)))
    sig = bytes(rng.getrandbits(8) for _ in range(draw(st.integers(32, 48))))
    header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = _b64url(json.dumps({"sub": sub, "iat": 1767225600}).encode())
    return f"{header}.{payload}.{_b64url(sig)}"


@st.composite
def github_tokens(draw: st.DrawFn) -> str:
    rng = random.Random(draw(st.integers(0, 2**63)))
    return f"gh{draw(st.sampled_from('pousr'))}_{_rng_text(rng, ALNUM, draw(st.integers(36, 40)))}"


@st.composite
def aws_keys(draw: st.DrawFn) -> str:
    rng = random.Random(draw(st.integers(0, 2**63)))
    return "AKIA" + _rng_text(rng, string.ascii_uppercase + string.digits, 16)


@st.composite
def ssns(draw: st.DrawFn) -> str:
    rng = random.Random(draw(st.integers(0, 2**63)))
    # areas from 100: a bare `0xxxxxxxx` in YAML is a number to Kubernetes' decoder, and loses its zero
    area = rng.choice([a for a in range(100, 900) if a != 666])
    return f"{area:03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"


@st.composite
def mrns(draw: st.DrawFn) -> str:
    # 6-8 digits: with 10 an MRN can also be a valid NPI, and the PHI engine may call it either
    rng = random.Random(draw(st.integers(0, 2**63)))
    return _rng_text(rng, string.ascii_uppercase, draw(st.integers(1, 3))) + _rng_text(
        rng, string.digits, draw(st.integers(6, 8)))


@st.composite
def dobs(draw: st.DrawFn) -> str:
    rng = random.Random(draw(st.integers(0, 2**63)))
    y, m, d = rng.randint(1920, 2015), rng.randint(1, 12), rng.randint(1, 28)
    return f"{y}-{m:02d}-{d:02d}" if draw(st.booleans()) else f"{m:02d}/{d:02d}/{y}"


@dataclass(frozen=True)
class Secrets:
    password: str
    password2: str
    jwt: str
    github: str
    aws: str
    ssn: str
    mrn: str
    dob: str
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def ssn_bare(self) -> str:
        return self.ssn.replace("-", "")

    def values(self) -> list[str]:
        return [self.password, self.password2, self.jwt, self.github, self.aws, self.ssn, self.ssn_bare, self.mrn,
                self.dob]


@st.composite
def secret_bundles(draw: st.DrawFn) -> Secrets:
    return Secrets(password=draw(passwords()), password2=draw(passwords()), jwt=draw(jwts()),
                   github=draw(github_tokens()), aws=draw(aws_keys()), ssn=draw(ssns()), mrn=draw(mrns()),
                   dob=draw(dobs()))


def longer(s: Secrets) -> Secrets:
    """The same secrets, each one longer (or, for fixed-size identifiers, different): an output that does not
    reveal length must not change."""
    area = (int(s.ssn[:3]) - 100 + 1) % 800 + 100
    area = 667 if area == 666 else area
    return Secrets(password=s.password + "Zq!7x#Wm", password2=s.password2 + "Kp%2t&Lr", jwt=s.jwt + "AbCd",
                   github=s.github + "Xy9z", aws="AKIA" + s.aws[4:][::-1], ssn=f"{area:03d}{s.ssn[3:]}",
                   mrn=s.mrn + "7", dob=s.dob.replace("-28", "-27").replace("/28/", "/27/"))


# -------------------------------------------------------------------------------------------------- leaks


def _forms(secret: str) -> set[str]:
    """How a secret can be spelled in an output: as is, URL-encoded, JSON- or XML-escaped."""
    forms = {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1]}
    forms.add(secret.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;"))
    forms.add(secret.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("'", "&#39;")
              .replace('"', "&#34;"))
    return forms


def _windows(form: str, size: int = 8) -> set[str]:
    if len(form) <= size:
        return {form}
    return {form[i:i + size] for i in range(len(form) - size + 1)
            if sum(c.isalnum() for c in form[i:i + size]) >= 3}


def leaks(output: str, secrets: list[str]) -> list[str]:
    """The secrets (or 8-character pieces of them) found in `output`, and length-revealing shapes."""
    found = []
    for secret in secrets:
        for form in _forms(secret):
            hit = next((w for w in _windows(form) if w in output), None)
            if hit is not None:
                found.append(f"{secret!r} (as {hit!r})")
                break
        shape = phi.redact(secret)
        if len(shape) >= 6 and shape in output:
            found.append(f"shape of {secret!r}: {shape!r}")
    for m in re.finditer(r"[#*]{4,}", output):
        found.append(f"shape-like mask {m.group(0)!r}")
    return found


def dump(doc: Any) -> str:
    return json.dumps(doc)
