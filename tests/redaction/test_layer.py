"""The redaction layer on its own: commands, URIs, free text, masks (kubehipaa.redaction).

Every case names the secret that must vanish and the context that must stay: redaction that masks everything
would pass the first half and fail the second.
"""

from __future__ import annotations

import re

import pytest

from kubehipaa.engines import phi
from kubehipaa.redaction import (
    MASK_RE,
    QUERY,
    SECRET,
    clip,
    mask_sensitive,
    redact_argv,
    redact_text,
    redact_tree,
    redact_uri,
)

PW = "Pa55-w0rd!x"
JWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJqYW5lIn0.c2lnbmF0dXJlLXNpZ25hdHVyZQ"

# (argv, what must vanish, what must stay): the 14 exec-command shapes of the security probe, and more
EXEC_SHAPES = [
    (["curl", "-u", f"admin:{PW}", "https://ehr.local/api"], [PW], ["curl -u admin:", "https://ehr.local/api"]),
    (["curl", f"--user=admin:{PW}", "https://x"], [PW], ["--user=admin:"]),
    (["redis-cli", "-h", "cache", "-a", PW, "PING"], [PW], ["redis-cli -h cache -a", "PING"]),
    (["mysql", "-uroot", f"-p{PW}", "-e", "select 1"], [PW], ["mysql -uroot -p<redacted:secret>"]),
    (["mysql", f"--password={PW}", "ehr"], [PW], ["--password=<redacted:secret> ehr"]),
    (["openssl", "enc", "-aes-256-cbc", "-k", PW, "-in", "a"], [PW], ["openssl enc -aes-256-cbc -k", "-in a"]),
    (["openssl", "enc", "-pass", f"pass:{PW}"], [PW], ["-pass pass:<redacted:secret>"]),
    (["htpasswd", "-b", "/etc/nginx/.htpasswd", "admin", PW], [PW], ["htpasswd -b /etc/nginx/.htpasswd admin"]),
    (["htpasswd", "-nb", "admin", f"a={PW}"], [PW], ["htpasswd -nb admin"]),
    (["sh", "-c", f"echo {PW} | vault login -"], [PW], ["| vault login -"]),
    (["sh", "-c", f"echo -n '{PW}' | docker login --password-stdin -u bot reg.local"], [PW], ["docker login"]),
    (["curl", "-H", f"Authorization: Bearer {JWT}", "https://x"], [JWT, "c2lnbmF0dXJl"], ["Authorization: Bearer"]),
    (["psql", f"postgresql://app:{PW}@db:5432/ehr"], [PW], ["postgresql://app:", "@db:5432/ehr"]),
    (["psql", "-c", "select * from patients where patient_ssn='123456789'"], ["123456789"], ["patient_ssn="]),
    (["psql", "-c", "select * from patients where mrn = 'A7654321'"], ["7654321"], ["where mrn"]),
    (["psql", "-c", "select name from patients where birth_date='1984-02-29'"], ["1984-02-29"], ["birth_date"]),
    (["psql", "-c", "select * from p where ssn='123-45-6789' or email='jo@example.com'"],
     ["123-45-6789", "jo@example.com"], ["select * from p"]),
    (["vault", "login", "hvs.CAESIJk3bW9kZXN0dG9rZW5oZXJl"], ["CAESIJk3bW9k"], ["vault login"]),
    (["vault", "login", "-method=userpass", "username=jane", f"password={PW}"], [PW], ["username=jane"]),
    (["env", f"PGPASSWORD={PW}", "psql", "-h", "db"], [PW], ["PGPASSWORD=", "psql -h db"]),
    (["kubectl", f"--token={PW}", "get", "pods"], [PW], ["kubectl --token=", "get pods"]),
    (["sshpass", "-p", PW, "ssh", "db"], [PW], ["ssh db"]),
    (["ldapsearch", "-x", "-D", "cn=admin", "-w", PW, "-b", "dc=x"], [PW], ["-D cn=admin", "-b dc=x"]),
    (["sqlcmd", "-S", "db", "-U", "sa", "-P", PW], [PW], ["-U sa -P"]),
    (["sqlplus", f"scott/{PW}@orcl"], [PW], ["scott/", "@orcl"]),
    (["rabbitmqctl", "add_user", "jane", PW], [PW], ["add_user jane"]),
    (["redis-cli", "AUTH", "default", PW], [PW], ["redis-cli AUTH"]),
    (["docker", "login", "-u", "bot", "-p", PW, "reg"], [PW], ["-u bot -p"]),
    (["mongosh", "-u", "root", "-p", PW], [PW], ["-u root -p"]),
    (["aws", "configure", "set", "aws_secret_access_key", PW], [PW], ["aws_secret_access_key"]),
    (["kubectl", "create", "secret", "generic", "db", f"--from-literal=dsn={PW}"], [PW], ["--from-literal=dsn="]),
    (["curl", "-d", f"username=jane&password={PW}", "https://x/login"], [PW], ["username=jane"]),
    (["curl", "https://api.local/v1/export?token=ghp_abcdefghijklmnopqrstuvwxyz0123456789"],
     ["ghp_", "export?token"], ["https://api.local/v1/export?<redacted:query>"]),
    (["sh", "-c", f"mysql -uroot -p'{PW} x' -e 'select 1' && curl -u admin:{PW} https://x"], [PW],
     ["select 1", "&& curl -u admin:"]),
    (["bash", "-lc", f"export DB_PASSWORD='{PW}'; ./migrate"], [PW], ["./migrate"]),
    (["sh", "-c", f"vault login - <<< {PW}"], [PW], ["vault login -"]),
    (["python3", "-c", f"connect(password='{PW}')"], [PW], ["connect(password="]),
    # a shell line passed word by word (operators as arguments), and mysql's -p with a separate word
    (["echo", PW, "|", "vault", "login", "-"], [PW], ["echo <redacted:secret> | vault login -"]),
    (["vault", "login", "-", "<<<", PW], [PW], ["vault login - <<<"]),
    (["mysql", "-u", "root", "-p", PW], [PW], ["mysql -u root -p"]),
]


@pytest.mark.parametrize(("argv", "gone", "kept"), EXEC_SHAPES, ids=[" ".join(c[0])[:40] for c in EXEC_SHAPES])
def test_exec_command_secrets_are_masked_and_the_command_stays_readable(argv: list[str], gone: list[str],
                                                                       kept: list[str]) -> None:
    out = " ".join(redact_argv(argv))
    for secret in gone:
        assert secret not in out, out
    for text in kept:
        assert text in out, out
    assert " ".join(redact_argv(out.split(" "))) == out or MASK_RE.search(out)  # stable on its own output


@pytest.mark.parametrize("argv", [
    ["docker", "run", "-p", "8080:80", "nginx"],  # -p is a port, not a password
    ["ssh", "-p2222", "host"],
    ["tar", "cf", "-", "/var/lib/postgresql/data"],
    ["cat", "/var/run/secrets/kubernetes.io/serviceaccount/token"],
    ["psql", "--password", "-h", "db", "ehr"],  # psql's --password takes no value
    ["kubectl", "get", "secret", "db-creds", "-o", "yaml"],
    ["ls", "-la", "/data/2026-01-02"],
])
def test_harmless_commands_are_left_alone(argv: list[str]) -> None:
    assert redact_argv(argv) == argv


def test_uri_query_string_is_masked_whole_and_proxy_paths_lose_their_identifiers() -> None:
    uri = ("/api/v1/namespaces/clinical/services/ehr:80/proxy/patients/123-45-6789/records"
           "?token=ghp_abcdefghijklmnopqrstuvwxyz0123456789&password=x&ssn=123456789")
    out = redact_uri(uri)
    assert out == f"/api/v1/namespaces/clinical/services/ehr:80/proxy/patients/<redacted:path>?{QUERY}"
    assert redact_uri("/api/v1/namespaces/x/pods?watch=1") == f"/api/v1/namespaces/x/pods?{QUERY}"
    assert redact_uri("/healthz") == "/healthz"
    assert redact_uri("/api/v1/nodes/n1/proxy/metrics") == "/api/v1/nodes/n1/proxy/metrics"
    assert redact_uri("/api/v1/nodes/n1/proxy/logs/a1b2c3d4") == "/api/v1/nodes/n1/proxy/logs/<redacted:path>"
    # percent-encoded identifiers in the application path are masked too
    assert "6789" not in redact_uri("/api/v1/namespaces/x/pods/p:8080/proxy/p/123%2D45%2D6789")


@pytest.mark.parametrize(("text", "gone", "kept"), [
    ("anonymous request /api?token=abc123&ssn=123-45-6789 from 1.2.3.4", ["abc123", "6789"], ["/api?", "1.2.3.4"]),
    ("kubectl/v1.30 token=s3cr3tValue", ["s3cr3tValue"], ["kubectl/v1.30 token="]),
    ("Mozilla/5.0 (Bearer AbCdEf0123456789xyz)", ["AbCdEf0123456789xyz"], ["Mozilla/5.0"]),
    ("x-api-key: k3yK3yK3y", ["k3yK3yK3y"], ["x-api-key"]),
    ('{"client_secret": "a\\"b c", "user": "jane"}', ['a\\"b c'], ['"user": "jane"']),
    ("Basic amFuZTpodW50ZXIy", ["amFuZTpodW50ZXIy"], ["Basic"]),
    ("ALTER USER u IDENTIFIED BY 'hunter2'", ["hunter2"], ["ALTER USER u"]),
    ("CREATE ROLE app WITH PASSWORD 'hunter2'", ["hunter2"], ["CREATE ROLE app"]),
    ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\n-----END OPENSSH PRIVATE KEY-----", ["b3BlbnNzaC1rZXk"],
     []),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIEtruncated", ["MIIEtruncated"], []),
    ("key AKIAIOSFODNN7EXAMPLE", ["IOSFODNN7"], ["key"]),
    ("git clone https://ghp_abcdefghijklmnopqrstuvwxyz0123456789@github.com/o/r", ["ghp_abc"], ["github.com/o/r"]),
    ("patient MRN: A1234567, DOB 02/29/1984, SSN 123456789", ["1234567", "1984", "123456789"], ["patient"]),
    ("NPI 1234567893", ["1234567893"], ["NPI"]),
    ("MSH|^~\\&|EPIC|X|PID|1||12345||DOE^JANE", ["DOE^JANE", "12345"], []),
])
def test_text_rules(text: str, gone: list[str], kept: list[str]) -> None:
    out = redact_text(text)
    for secret in gone:
        assert secret not in out, out
    for k in kept:
        assert k in out, out
    assert redact_text(out) == out  # idempotent: a mask is never masked again


@pytest.mark.parametrize("text", [
    "jane@hospital.org created pod clinical/web",  # identities stay (the text policy keeps e-mail addresses)
    "grants '*' resources or verbs",
    "--anonymous-auth=true",  # a boolean is not a secret
    "--token-auth-file=/etc/kubernetes/tokens.csv",  # a path named by a secret word is not a secret
    "secretName: db-creds",
    "image registry.k8s.io/pause@sha256:" + "0123456789abcdef" * 4,
    "basic authentication is enabled; bearer tokens are accepted",
    "2026-11-27T10:00:00.000000Z",
    "10.1.2.3",
    "what? and/or?",
])
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert redact_text(text) == text


def test_contact_details_are_masked_in_commands_only() -> None:
    assert redact_text("jane@hospital.org") == "jane@hospital.org"
    assert redact_text("call (555) 555-0142") == "call (555) 555-0142"
    assert redact_text("jane@hospital.org (555) 555-0142", contact=True) == "<redacted:email> <redacted:phone>"


def test_masks_are_fixed_whatever_they_replace() -> None:
    """No mask keeps the length or the punctuation of what it replaced (`!@#$%^&*()`, `***-**-****`)."""
    short = redact_argv(["mysql", "-pa1!"])
    long = redact_argv(["mysql", "-p" + "a1!@#$%^&*()" * 5])
    assert short == long == ["mysql", "-p" + SECRET]
    assert redact_text("ssn 123-45-6789") == redact_text("ssn 234-56-7890") == "ssn <redacted:ssn>"
    assert mask_sensitive("**!@#$%^&*()#**") == mask_sensitive("###-##-####") == "<redacted>"
    assert mask_sensitive(["data.password", "###"]) == ["data.password", "<redacted>"]
    assert mask_sensitive(None) == "<redacted>"


def test_the_phi_engine_is_the_authority() -> None:
    """Whatever `engines.phi.scan_text` calls PHI does not survive, even where the span rules are blind (a
    bare SSN labelled only by its field name)."""
    out = redact_text("123456789", key="ssn")
    assert "123456789" not in out and not phi.scan_text(out, "ssn")
    samples = ["ssn 123456789", "SSN: 123-45-6789", "MRN 00123456", "DOB: 1990-07-04", "npi 1245319599",
               "resourceType: Patient", "MSH|^~\\&|A", "jo@example.com", "+1 (555) 555-0142"]
    for s in samples:
        assert not phi.scan_text(redact_text(s, contact=True)), s


def test_tree_redacts_keys_and_values_and_keeps_other_types() -> None:
    tree = {"data": {"123-45-6789": "x", "n": 3, "ok": True, "l": ["token=abcdef"]}}
    assert redact_tree(tree) == {"data": {"<redacted:ssn>": "x", "n": 3, "ok": True, "l": ["token=<redacted:secret>"]}}


def test_clip_never_cuts_a_mask() -> None:
    text = "curl/8 " + SECRET + " more"
    assert clip(text, 12) == "curl/8 …"
    assert clip("short", 12) == "short"


def test_linear_time_on_hostile_text() -> None:
    """A run of the characters every pattern loops over, with nothing to match: bounded time (no backtracking)."""
    import time

    for chunk in ("a-", "a.", "a=", "/?", "1-", "a:", "eyJ.", "Bearer ", "-----BEGIN ", "x@", "'", "ssn1"):
        text = chunk * 20_000
        start = time.perf_counter()
        redact_text(text, contact=True)
        redact_argv(text.split(" ")[:2000])
        assert time.perf_counter() - start < 2.0, chunk


def test_masks_match_the_published_pattern() -> None:
    out = " ".join(redact_argv(["curl", "-u", "a:b", "-H", "Cookie: x=y", "https://h/p?q=1"]))
    masks = MASK_RE.findall(out)
    assert masks and all(re.fullmatch(r"<redacted:[a-z]+>", m) for m in masks)


def test_the_tools_own_texts_are_never_mangled() -> None:
    """Rule logic, check descriptions and remediation contain no secret: the rules must leave every one alone
    (a false positive there would show up in every report)."""
    from kubehipaa.checks.registry import all_checks
    from kubehipaa.engines.auditlog import RULES

    texts = [t for c in all_checks() for t in (c.meta.title, c.meta.description, c.meta.remediation)]
    texts += [t for r in RULES for t in (r.title, r.logic, r.remediation)]
    changed = [t for t in texts if redact_text(t) != t]
    assert not changed, changed[:3]


def test_text_before_an_hl7_header_is_redacted_too() -> None:
    """An HL7 message masks everything from its MSH header on; what precedes it (here an SSN glued to the
    header) is still text under the ordinary rules, in one pass (redaction is idempotent)."""
    from kubehipaa.redaction import redact_text

    for text in ("001-01-0001MSH|^~\\&|EPIC|", "patient ssn 123-45-6789 then MSH|^~\\&|LAB|x"):
        once = redact_text(text)
        assert "0001" not in once and "6789" not in once
        assert "MSH|" not in once
        assert redact_text(once) == once
