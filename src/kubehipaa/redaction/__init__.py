"""The one redaction layer: every text that leaves kubehipaa passes through here.

Why one module: a report, an alert line, a log line and an error message all end up in places kubehipaa does
not control (CI logs, SIEMs, tickets, e-mail). A secret or a patient identifier that reaches any of them has
leaked, whichever command printed it. Redaction rules scattered over renderers drift apart; here they are
written once, and every layer (engines, checks, reports, CLI, server) imports this leaf package (it imports
only `kubehipaa.engines.phi`, itself pure and without dependencies).

Modules: `masks` (the fixed masks), `credentials` and `identifiers` (the rules for secrets and for PHI in any
text), `text` (`redact_text`, `redact_tree`, `redact_uri`: the text policy, with query strings), `commands`
(`redact_argv`, `redact_shell`: exec command lines), `logs` (log records).

Where it is applied (docs/redaction.md):

- at creation, where structure is still known: an exec command as an argv (`redact_argv`: which argument is
  a password depends on the program and the flag before it), a request URI (`redact_uri`: the query string
  and the application path behind `/proxy/`), a check's hit (`checks.registry`: message, evidence, object);
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

from kubehipaa.redaction.commands import redact_argv, redact_shell
from kubehipaa.redaction.logs import install_log_redaction, redact_record
from kubehipaa.redaction.masks import GENERIC, MASK_RE, PATH, QUERY, SECRET, Redacted, clip, is_masked, mask
from kubehipaa.redaction.text import mask_sensitive, redact_text, redact_tree, redact_uri, redacted

__all__ = [
    "GENERIC",
    "MASK_RE",
    "PATH",
    "QUERY",
    "SECRET",
    "Redacted",
    "clip",
    "install_log_redaction",
    "is_masked",
    "mask",
    "mask_sensitive",
    "redact_argv",
    "redact_record",
    "redact_shell",
    "redact_text",
    "redact_tree",
    "redact_uri",
    "redacted",
]
