"""Kubernetes' CEL IP and CIDR libraries offline (engines/cel/network.py), through a compiled policy as
`admission test` runs them: upstream's examples, and the edges where Python's `ipaddress` alone would differ
from Go's net/netip plus upstream's refusals (zones, IPv4-mapped IPv6, leading zeros, `/08`, netmasks)."""

from __future__ import annotations

import pytest

pytest.importorskip("celpy", reason="cel-python (the `admission` extra) is not installed")

from kubehipaa.engines.cel import ObjectContext, compile_policies, evaluate_object

POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "n"}, "spec": {}}


def _verdict(expression: str) -> str:
    docs = [{"kind": "ValidatingAdmissionPolicy", "metadata": {"name": "p"},
             "spec": {"matchConstraints": {"resourceRules": [{"apiGroups": ["*"], "apiVersions": ["*"],
                                                               "operations": ["*"], "resources": ["*"]}]},
                      "validations": [{"expression": expression}]}},
            {"kind": "ValidatingAdmissionPolicyBinding", "metadata": {"name": "p"},
             "spec": {"policyName": "p", "validationActions": ["Deny"]}}]
    [d] = evaluate_object(compile_policies(docs), POD, ObjectContext("n"))
    return d.verdict


TRUE = [
    # ip library (upstream's examples)
    "ip('127.0.0.1').family() == 4", "ip('::1').family() == 6",
    "isIP('127.0.0.1')", "isIP('::1')", "!isIP('127.0.0.256')", "!isIP(':::1')",
    "ip('0.0.0.0').isUnspecified()", "!ip('127.0.0.1').isUnspecified()", "ip('::').isUnspecified()",
    "ip('127.0.0.1').isLoopback()", "!ip('192.168.0.1').isLoopback()", "ip('::1').isLoopback()",
    "!ip('2001:db8::abcd').isLoopback()",
    "ip('224.0.0.1').isLinkLocalMulticast()", "!ip('224.0.1.1').isLinkLocalMulticast()",
    "ip('ff02::1').isLinkLocalMulticast()", "!ip('fd00::1').isLinkLocalMulticast()",
    "ip('ff12::1').isLinkLocalMulticast()", "!ip('ff05::1').isLinkLocalMulticast()",
    "ip('169.254.169.254').isLinkLocalUnicast()", "!ip('192.168.0.1').isLinkLocalUnicast()",
    "ip('fe80::1').isLinkLocalUnicast()", "!ip('fd80::1').isLinkLocalUnicast()",
    "ip('192.168.0.1').isGlobalUnicast()", "!ip('255.255.255.255').isGlobalUnicast()",
    "ip('2001:db8::abcd').isGlobalUnicast()", "!ip('ff00::1').isGlobalUnicast()",
    "ip('10.0.0.1').isGlobalUnicast()", "ip('fd00::1').isGlobalUnicast()", "!ip('0.0.0.0').isGlobalUnicast()",
    # netip's grammar plus upstream's refusals
    "!isIP('01.2.3.4')", "!isIP('1.2.3')", "!isIP(' 1.2.3.4')", "!isIP('')", "!isIP('1.2.3.4/32')",
    "!isIP('::ffff:1.2.3.4')", "!isIP('::ffff:7f00:1')", "!isIP('fe80::1%eth0')", "!isIP('2001:db8::12345')",
    "isIP('2001:DB8::ABCD')",
    "string(ip('2001:DB8::0:0:0:abcd')) == '2001:db8::abcd'", "string(ip('2001:db8:0:1:0:0:0:1')) == '2001:db8:0:1::1'",
    "string(ip('10.1.2.3')) == '10.1.2.3'",
    # equality: by address; another family or a string is simply unequal
    "ip('10.0.0.1') == ip('10.0.0.1')", "ip('10.0.0.1') != ip('10.0.0.2')", "ip('::') != ip('0.0.0.0')",
    "ip('1.2.3.4') != '1.2.3.4'", "ip('2001:db8::1') == ip('2001:DB8:0::1')",
    # cidr library (upstream's examples and tests)
    "cidr('192.168.0.0/24').containsIP(ip('192.168.0.1'))", "!cidr('192.168.0.0/24').containsIP(ip('192.168.1.1'))",
    "cidr('192.168.0.0/24').containsIP('192.168.0.1')", "!cidr('192.168.0.0/24').containsIP('192.168.1.1')",
    "cidr('192.168.0.0/24').containsCIDR(cidr('192.168.0.0/25'))", "!cidr('192.168.0.0/24').containsCIDR('192.168.0.0/23')",
    "cidr('192.168.0.0/16').containsCIDR(cidr('192.168.10.0/24'))", "cidr('192.168.0.0/16').containsCIDR('192.168.0.1/32')",
    "!cidr('192.168.1.0/24').containsCIDR('192.168.2.0/24')",
    "cidr('2001:db8::/32').containsIP('2001:db8::1')", "!cidr('2001:db8::/32').containsIP(ip('2001:dc8::1'))",
    "cidr('2001:db8::/32').containsCIDR('2001:db8::/33')", "!cidr('2001:db8::/32').containsCIDR('2001:db8::/31')",
    "cidr('0.0.0.0/0').containsIP('8.8.8.8')", "!cidr('0.0.0.0/0').containsIP('::1')",
    "!cidr('::/0').containsCIDR('10.0.0.0/8')", "cidr('::/0').containsCIDR('2001:db8::/32')",
    "cidr('10.0.0.1/8').containsIP('10.255.0.1')",
    "cidr('192.168.0.1/24').ip() == ip('192.168.0.1')", "cidr('::1/128').ip().family() == 6",
    "cidr('192.168.0.1/24').masked() == cidr('192.168.0.0/24')",
    "cidr('192.168.0.0/24') == cidr('192.168.0.0/24').masked()",
    "cidr('192.168.0.1/24') != cidr('192.168.0.1/24').masked()",
    "cidr('192.168.0.0/16').prefixLength() == 16", "cidr('::1/128').prefixLength() == 128",
    "cidr('::/0').prefixLength() == 0", "cidr('10.1.2.3/0').prefixLength() == 0",
    "string(cidr('192.168.0.0/24')) == '192.168.0.0/24'", "string(cidr('2001:db8:1::/32').masked()) == '2001:db8::/32'",
    "isCIDR('192.168.0.0/16')", "isCIDR('::1/128')", "isCIDR('10.0.0.1/8')",
    "!isCIDR('192.168.0.0/33')", "!isCIDR('::1/129')", "!isCIDR('192.168.0.0/')", "!isCIDR('10.0.0.0')",
    "!isCIDR('10.0.0.0/08')", "!isCIDR('10.0.0.0/+8')", "!isCIDR('10.0.0.0/255.0.0.0')", "!isCIDR('010.0.0.0/8')",
    "!isCIDR('::ffff:0.0.0.0/96')", "!isCIDR('fe80::%eth0/64')", "!isCIDR('10.0.0.0/8 ')", "!isCIDR('/0')",
    # string() of anything else is unchanged, and `string` is still the type name
    "string(5) == '5'", "string('x') == 'x'", "type('x') == string", "type(ip('::1')) != string",
]
ERRORS = [
    "ip('127.0.0.256') == ip('127.0.0.1')", "ip('::ffff:1.2.3.4').family() == 6", "ip('fe80::1%eth0').isLoopback()",
    "cidr('192.168.0.0/') == cidr('192.168.0.0/24')", "cidr('::ffff:1.2.3.4/120').prefixLength() == 120",
    "cidr('10.0.0.0/33').prefixLength() == 33", "cidr(5).prefixLength() == 5", "isCIDR(5)",
    "ip('1.2.3.4').prefixLength() == 0", "cidr('10.0.0.0/8').family() == 4",
    "cidr('10.0.0.0/8').containsIP('10.0.0.256')", "cidr('10.0.0.0/8').containsCIDR('10.0.0.0/40')",
]


@pytest.mark.parametrize("expression", TRUE)
def test_ip_and_cidr_functions_match_upstream(expression: str) -> None:
    assert _verdict(expression) == "allow"


@pytest.mark.parametrize("expression", ERRORS)
def test_invalid_input_and_wrong_receiver_are_errors_not_answers(expression: str) -> None:
    """Upstream returns a CEL error (the policy's failurePolicy decides), never false."""
    assert _verdict(expression) == "error"
