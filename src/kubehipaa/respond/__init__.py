"""Incident response against a live cluster: contain, revoke, preserve evidence, keep the record.

Every action is planned from what the API server answers now (GET), sent as exact requests (or printed under
`--dry-run`), and appended to the evidence folder's hash-chained `actions.jsonl` with the API's answer.
This package is one of the three that talk to the outside world (with `sources/` and `server/`).
"""
