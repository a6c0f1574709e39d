"""Flag parsing follows pflag: `--f=v`, `--f v`, boolean flags never consume the next token."""

from __future__ import annotations

import pytest

from kubehipaa.engines.controlplane import container_flags, parse_args, parse_go_duration, tokens_from_text


def test_equals_and_space_forms() -> None:
    pf = parse_args(["--audit-log-path=/var/log/a.log", "--audit-log-maxage", "30", "--profiling=false"])
    assert pf.get("audit-log-path") == "/var/log/a.log"
    assert pf.get("audit-log-maxage") == "30"
    assert pf.boolean("profiling") is False
    assert pf.flag("audit-log-maxage").index == 1  # type: ignore[union-attr]


def test_bool_flag_does_not_consume_next_token() -> None:
    pf = parse_args(["--anonymous-auth", "false", "--secure-port", "6443"])
    assert pf.boolean("anonymous-auth") is True
    assert pf.positional == ["false"]
    assert pf.get("secure-port") == "6443"


def test_last_occurrence_wins_and_lists_merge() -> None:
    pf = parse_args(
        [
            "--authorization-mode=AlwaysAllow",
            "--authorization-mode=Node,RBAC",
            "--enable-admission-plugins=A,B",
            "--enable-admission-plugins=C",
        ]
    )
    assert pf.get("authorization-mode") == "Node,RBAC"
    assert pf.values("enable-admission-plugins") == ["A", "B", "C"]


def test_double_dash_ends_flags() -> None:
    pf = parse_args(["--v=2", "--", "--not-a-flag=1"])
    assert not pf.has("not-a-flag")
    assert pf.positional == ["--not-a-flag=1"]


def test_container_command_and_args_indexes() -> None:
    c = {"command": ["kube-apiserver", "--a=1"], "args": ["--b", "2"]}
    pf = container_flags(c)
    assert pf.binary == "kube-apiserver"
    a, b = pf.flag("a"), pf.flag("b")
    assert a is not None and (a.source, a.index) == ("command", 1)
    assert b is not None and (b.source, b.index, b.value) == ("args", 0, "2")


def test_shell_wrapped_command() -> None:
    pf = container_flags({"command": ["/bin/sh", "-c", "kube-apiserver --anonymous-auth=false --x y"]})
    assert pf.binary == "kube-apiserver"
    assert pf.boolean("anonymous-auth") is False and pf.get("x") == "y"


def test_env_file_tokens() -> None:
    text = (
        '# kubeadm\nKUBELET_KUBEADM_ARGS="--container-runtime-endpoint=unix:///run/containerd.sock '
        '--anonymous-auth=true"\n'
        "[Service]\nExecStart=/usr/bin/kubelet --read-only-port=10255 \\\n  --rotate-certificates\n"
    )
    toks = tokens_from_text(text)
    assert "--anonymous-auth=true" in toks
    pf = parse_args(toks)
    assert pf.get("read-only-port") == "10255"
    assert pf.boolean("rotate-certificates") is True
    assert pf.boolean("anonymous-auth") is True


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("4h0m0s", 14400),
        ("5m", 300),
        ("0", 0),
        ("1.5h", 5400),
        ("300ms", 0.3),
        ("24h", 86400),
        ("bad", None),
        ("", None),
        ("10", None),
    ],
)
def test_go_duration(text: str, seconds: float | None) -> None:
    assert parse_go_duration(text) == seconds


def test_dash_and_negative_numbers_are_values_and_v_is_not_boolean() -> None:
    pf = parse_args(["--audit-log-path", "-", "--audit-log-maxage", "-1", "--v", "2", "--anonymous-auth=false"])
    assert pf.get("audit-log-path") == "-"
    assert pf.get("audit-log-maxage") == "-1"
    assert pf.get("v") == "2"  # klog's -v is a level, not a boolean
    assert pf.positional == []
    # a flag-looking token is still never swallowed by an unknown bare flag
    pf = parse_args(["--some-unknown-bool", "--anonymous-auth=false"])
    assert pf.boolean("anonymous-auth") is False
