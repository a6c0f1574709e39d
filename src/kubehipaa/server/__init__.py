"""Long-running receivers (the API server's audit webhook backend).

Only light constants live here so the CLI can show `--help` defaults without importing FastAPI.
"""

DEFAULT_QUEUE_EVENTS = 100_000
DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024
"""The API server's default batch is at most 400 events (`--audit-webhook-batch-max-size`); 16 MiB leaves
room for RequestResponse-level events with large bodies."""
