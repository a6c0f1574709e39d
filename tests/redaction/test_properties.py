"""Properties of the layer itself, over many generated secrets (fast: no CLI run).

For every placement: the secret is gone (no 8-character piece of it is left), and the redacted text is the same
for a longer secret (a mask that kept a length, a quote or a trailing character would differ).
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from urllib.parse import quote, urlencode

from hypothesis import given, settings
from hypothesis import strategies as st

from kubehipaa.redaction import redact_argv, redact_text, redact_uri

from .secrets import Secrets, leaks, longer, secret_bundles

FAST = settings(max_examples=60, deadline=None)

ARGV: list[Callable[[Secrets], list[str]]] = [
    lambda s: ["curl", "-u", f"admin:{s.password}", "https://ehr.local"],
    lambda s: ["curl", f"-uadmin:{s.password}", "https://ehr.local"],
    lambda s: ["redis-cli", "-a", s.password, "--no-auth-warning", "GET", "k"],
    lambda s: ["mysql", "-h", "db", f"-p{s.password}", "ehr"],
    lambda s: ["mysqldump", f"--password={s.password}", "ehr"],
    lambda s: ["openssl", "enc", "-d", "-k", s.password, "-in", "x.enc"],
    lambda s: ["openssl", "rsa", "-passin", f"pass:{s.password}", "-in", "k.pem"],
    lambda s: ["htpasswd", "-bc", "/etc/h", "admin", s.password],
    lambda s: ["sh", "-c", f"echo {shlex.quote(s.password)} | vault login -"],
    lambda s: ["bash", "-c", f"printf %s {shlex.quote(s.password)} | docker login -u bot --password-stdin r"],
    lambda s: ["sh", "-c", f"vault login - <<< {shlex.quote(s.password)}"],
    lambda s: ["curl", "-H", f"Authorization: Bearer {s.jwt}", "https://x"],
    lambda s: ["curl", "-H", f"Authorization: Basic {s.github}", "https://x"],
    lambda s: ["psql", f"postgresql://app:{quote(s.password, safe='')}@db:5432/ehr"],
    lambda s: ["psql", "-c", f"select * from patients where patient_ssn='{s.ssn_bare}' and mrn='{s.mrn}'"],
    lambda s: ["psql", "-c", f"select * from p where ssn='{s.ssn}' or date_of_birth='{s.dob}'"],
    lambda s: ["vault", "login", f"hvs.{s.github[4:]}"],
    lambda s: ["env", f"PGPASSWORD={s.password}", "psql", "-h", "db"],
    lambda s: ["sh", "-c", f"export DB_PASSWORD={shlex.quote(s.password)}; ./run"],
    lambda s: ["sh", "-c", f"mysql -uroot -p{shlex.quote(s.password)} -e 'select 1'"],
    lambda s: ["kubectl", "--token", s.jwt, "get", "pods"],
    lambda s: ["sshpass", "-p", s.password, "ssh", "db"],
    lambda s: ["ldapsearch", "-w", s.password, "-D", "cn=admin"],
    lambda s: ["sqlcmd", "-U", "sa", "-P", s.password],
    lambda s: ["docker", "login", "-u", "bot", "-p", s.password, "reg"],
    lambda s: ["aws", "configure", "set", "aws_secret_access_key", s.password],
    lambda s: ["curl", "-d", f"user=jane&password={quote(s.password, safe='')}", "https://x/login"],
    lambda s: ["curl", f"https://x/export?token={s.github}&ssn={s.ssn}&k={quote(s.password, safe='')}"],
    lambda s: ["git", "clone", f"https://{s.github}@github.com/o/r.git"],
    lambda s: ["python3", "-c", f"import os; os.environ['AWS_ACCESS_KEY_ID']='{s.aws}'"],
]


@FAST
@given(s=secret_bundles())
def test_exec_shapes_leak_nothing_and_not_the_length(s: Secrets) -> None:
    for make in ARGV:
        out = " ".join(redact_argv(make(s)))
        assert not leaks(out, s.values()), out
        assert " ".join(redact_argv(make(longer(s)))) == out


URIS: list[Callable[[Secrets], str]] = [
    lambda s: "/api/v1/namespaces/clinical/configmaps?" + urlencode({"token": s.github, "password": s.password,
                                                                       "ssn": s.ssn}),
    lambda s: f"/api/v1/namespaces/clinical/services/ehr:80/proxy/patients/{s.ssn}/{s.mrn}/{quote(s.password)}",
    lambda s: f"/api/v1/nodes/n1/proxy/logs/{s.ssn_bare}?x={quote(s.password)}",
    lambda s: f"/api/v1/namespaces/x/pods/p/exec?command=mysql&command=-p{quote(s.password)}",
    lambda s: f"/apis/x/v1/patients/{s.ssn}#{quote(s.password)}",
]


@FAST
@given(s=secret_bundles())
def test_request_uris_leak_nothing_and_not_the_length(s: Secrets) -> None:
    for make in URIS:
        out = redact_uri(make(s))
        assert not leaks(out, s.values()), out
        assert redact_uri(make(longer(s))) == out
        assert redact_text(out) == out


TEXTS: list[Callable[[Secrets], str]] = [
    lambda s: f"backup-tool/2.1 token={s.password}",
    lambda s: f"curl/8.5 (Bearer {s.jwt})",
    lambda s: f"sync/1.0 ({s.github})",
    lambda s: f"ehr-sync patient {s.ssn}",
    lambda s: f"anonymous request /api?password={quote(s.password)}&ssn={s.ssn} from 203.0.113.7",
    lambda s: f'{{"client_secret": {s.password!r}, "user": "jane"}}',
    lambda s: f"patient MRN {s.mrn}, DOB {s.dob}, SSN {s.ssn_bare}",
    lambda s: f"key={s.aws} secret={s.password}",
    lambda s: f"X-Vault-Token: {s.password}",
    lambda s: f"Cookie: session={s.password}; csrftoken={s.password2}",
]


@FAST
@given(s=secret_bundles())
def test_free_text_leaks_nothing_and_not_the_length(s: Secrets) -> None:
    for make in TEXTS:
        out = redact_text(make(s))
        assert not leaks(out, s.values()), out
        assert redact_text(make(longer(s))) == out
        assert redact_text(out) == out


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_redaction_is_idempotent_and_total_on_any_text(text: str) -> None:
    once = redact_text(text, contact=True)
    assert redact_text(once, contact=True) == once
    assert redact_text(once) == once
    assert isinstance(redact_argv(text.split(" ")), list)
    assert isinstance(redact_uri(text), str)
