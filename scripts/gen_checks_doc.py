#!/usr/bin/env python3
"""Generate docs/checks.md from the check registry, so the published catalog never drifts from the code.

Usage:
    python scripts/gen_checks_doc.py            # rewrite docs/checks.md
    python scripts/gen_checks_doc.py --check    # exit 1 if docs/checks.md is out of date (used by the tests)
    python scripts/gen_checks_doc.py --stdout   # print instead of writing
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from kubehipaa.checks.registry import Check, all_checks  # noqa: E402

DOC = ROOT / "docs" / "checks.md"

# Titles of the HIPAA Security Rule paragraphs (45 CFR Part 164, Subpart C) the catalog refers to.
PARAGRAPHS: dict[str, str] = {
    "164.308(a)(1)(ii)(A)": "Risk analysis",
    "164.308(a)(1)(ii)(B)": "Risk management",
    "164.308(a)(1)(ii)(D)": "Information system activity review",
    "164.308(a)(3)(ii)(A)": "Authorization and/or supervision",
    "164.308(a)(3)(ii)(B)": "Workforce clearance procedure",
    "164.308(a)(3)(ii)(C)": "Termination procedures",
    "164.308(a)(4)(i)": "Information access management",
    "164.308(a)(4)(ii)(B)": "Access authorization",
    "164.308(a)(4)(ii)(C)": "Access establishment and modification",
    "164.308(a)(5)(ii)(B)": "Protection from malicious software",
    "164.308(a)(5)(ii)(C)": "Log-in monitoring",
    "164.308(a)(5)(ii)(D)": "Password management",
    "164.308(a)(6)(i)": "Security incident procedures",
    "164.308(a)(6)(ii)": "Response and reporting",
    "164.308(a)(7)(i)": "Contingency plan",
    "164.308(a)(7)(ii)(A)": "Data backup plan",
    "164.308(a)(7)(ii)(B)": "Disaster recovery plan",
    "164.308(a)(8)": "Evaluation",
    "164.310(a)(1)": "Facility access controls",
    "164.310(d)(1)": "Device and media controls",
    "164.312(a)(1)": "Access control",
    "164.312(a)(2)(i)": "Unique user identification",
    "164.312(a)(2)(ii)": "Emergency access procedure",
    "164.312(a)(2)(iii)": "Automatic logoff",
    "164.312(a)(2)(iv)": "Encryption and decryption",
    "164.312(b)": "Audit controls",
    "164.312(c)(1)": "Integrity",
    "164.312(c)(2)": "Mechanism to authenticate electronic protected health information",
    "164.312(d)": "Person or entity authentication",
    "164.312(e)(1)": "Transmission security",
    "164.312(e)(2)(i)": "Integrity controls",
    "164.312(e)(2)(ii)": "Encryption",
    "164.316(b)(1)": "Documentation",
    "164.316(b)(2)(i)": "Time limit (retain documentation six years)",
}
SAFEGUARDS = {
    "164.308": "Administrative safeguards",
    "164.310": "Physical safeguards",
    "164.312": "Technical safeguards",
    "164.316": "Policies, procedures and documentation",
}

# Why each area matters for HIPAA, in one paragraph; areas without an entry get a generic heading only.
AREAS: dict[str, tuple[str, str]] = {
    "rbac": ("RBAC", "Who may read or change what in the cluster is the access-control safeguard itself "
             "(164.312(a)(1)) and the evidence of access authorization (164.308(a)(4)(ii)(B)): wildcards, "
             "cluster-admin bindings, anonymous access and broad Secret readers all let identities reach "
             "ePHI or the credentials that protect it without an individual authorization."),
    "workloads": ("Workloads", "A container that can reach its node (privileged, host namespaces, hostPath, "
                  "extra capabilities, root without seccomp) can read every other pod's volumes, memory and "
                  "tokens on that node, so namespace-level access control to ePHI (164.312(a)(1)) and the "
                  "integrity of ePHI (164.312(c)(1)) no longer hold. Field semantics follow the Pod Security "
                  "Standards exactly; severities are raised in PHI namespaces."),
    "images": ("Images", "The code that processes ePHI must be the code that was reviewed and scanned: mutable "
               "tags change it silently (164.308(a)(5)(ii)(B) protection from malicious software, "
               "164.312(c)(1) integrity). A digest pins the exact bytes."),
    "secrets": ("Secrets and PHI in configuration", "Credentials in env values or ConfigMaps defeat "
                "authentication (164.312(d)) and are not encrypted at rest like Secrets "
                "(164.312(a)(2)(iv)); PHI-shaped values (SSN, NPI with its check digit, MRN, DOB, HL7/FHIR "
                "fragments) in ConfigMaps, env or metadata put ePHI outside every safeguard. Evidence is "
                "always the fixed mask `<redacted>`, never the value or its shape."),
    "namespaces": ("Namespaces", "PHI namespaces are the unit of isolation: Pod Security admission labels "
                   "enforce the workload safeguards at admission time, not only at review time."),
    "pod_security": ("Pod Security Standards", "The restricted profile evaluated as upstream admission does, "
                     "per policy version."),
    "network": ("Network", "Transmission security (164.312(e)(1)) and access control inside the cluster: "
                "default-deny ingress and egress around PHI namespaces, no open egress, no exposed node "
                "ports or unrestricted load balancers, TLS on ingress."),
    "apiserver": ("API server", "The API server is the gate to every object holding or protecting ePHI: "
                  "authentication, authorization, admission and TLS flags decide whether the other "
                  "safeguards can be enforced at all."),
    "encryption": ("Encryption at rest", "Secrets (and other resources holding ePHI) must be encrypted in "
                   "etcd with a strong provider and managed keys (164.312(a)(2)(iv))."),
    "audit": ("Audit policy", "Audit controls (164.312(b)) and activity review (164.308(a)(1)(ii)(D)): who "
              "read or changed ePHI-bearing objects must be recorded at the right level and kept six years."),
    "kubelet": ("Kubelet", "Node agents hold every pod's secrets; anonymous or unauthorized kubelet access "
                "bypasses the API server's access control."),
}


def _cell(items: tuple[str, ...] | list[str]) -> str:
    return ", ".join(items) if items else "–"


def _severity(chk: Check) -> str:
    meta = chk.meta
    if meta.phi_severity is not None and meta.phi_severity != meta.severity:
        return f"{meta.severity.label} / **{meta.phi_severity.label}** in PHI ns"
    return meta.severity.label


def render(checks: list[Check]) -> str:
    by_area: dict[str, list[Check]] = defaultdict(list)
    for chk in checks:
        by_area[chk.meta.area].append(chk)
    order = [a for a in AREAS if a in by_area] + sorted(a for a in by_area if a not in AREAS)
    lines = [
        "# Check catalog",
        "",
        "<!-- Generated by scripts/gen_checks_doc.py from the check registry. Do not edit by hand. -->",
        "",
        f"{len(checks)} checks in {len(by_area)} areas. Every check names the HIPAA Security Rule paragraphs "
        "it supports; *satisfies* means the check alone evidences the paragraph's technical requirement, "
        "*supports* means it is one piece of the evidence. Severity is raised for resources in PHI "
        "namespaces where noted. `kubehipaa checks list --format json` prints the same data.",
        "",
        "| Area | Checks |",
        "|---|---|",
    ]
    for area in order:
        title = AREAS.get(area, (area.replace("_", " ").title(), ""))[0]
        lines.append(f"| [{title}](#{_anchor(title)}) | {len(by_area[area])} |")
    lines.append("")
    for area in order:
        title, why = AREAS.get(area, (area.replace("_", " ").title(), ""))
        lines += [f"## {title}", ""]
        if why:
            lines += [why, ""]
        lines += ["| Id | Title | Severity | HIPAA | Relation | CIS / NSA / PSS |", "|---|---|---|---|---|---|"]
        for chk in by_area[area]:
            m = chk.meta
            xref = "; ".join(x for x in (_cell(m.cis) if m.cis else "", _cell(m.nsa) if m.nsa else "",
                                         _cell(m.pss) if m.pss else "") if x) or "–"
            lines.append(f"| {m.id} | {m.title} | {_severity(chk)} | {_cell(m.hipaa)} | {m.relation} | {xref} |")
        lines.append("")
        for chk in by_area[area]:
            m = chk.meta
            lines += [f"**{m.id}** — {m.title}.", ""]
            if m.description:
                lines += [f"- Why: {m.description}"]
            lines += [f"- Remediation: {m.remediation}", ""]
    used = sorted({p for chk in checks for p in chk.meta.hipaa})
    lines += ["## HIPAA paragraphs referenced", "", "| Paragraph | Title | Safeguard | Checks |", "|---|---|---|---|"]
    for para in used:
        ids = [c.meta.id for c in checks if para in c.meta.hipaa]
        safeguard = SAFEGUARDS.get(para[:7], "")
        lines.append(f"| {para} | {PARAGRAPHS.get(para, '')} | {safeguard} | {len(ids)}: {_compact(ids)} |")
    lines.append("")
    return "\n".join(lines)


def _compact(ids: list[str]) -> str:
    return ", ".join(ids) if len(ids) <= 8 else ", ".join(ids[:8]) + f", … (+{len(ids) - 8})"


def _anchor(title: str) -> str:
    return "".join(ch for ch in title.lower().replace(" ", "-") if ch.isalnum() or ch == "-")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/checks.md is out of date")
    parser.add_argument("--stdout", action="store_true", help="print instead of writing docs/checks.md")
    args = parser.parse_args(argv)
    text = render(all_checks())
    if args.stdout:
        sys.stdout.write(text)
        return 0
    if args.check:
        current = DOC.read_text() if DOC.exists() else ""
        if current != text:
            print("docs/checks.md is out of date: run python scripts/gen_checks_doc.py", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(text)
    print(f"wrote {DOC.relative_to(ROOT)} ({len(text.splitlines())} lines)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
