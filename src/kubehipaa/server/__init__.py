"""Long-running receivers (the API server's audit webhook backend).

Only light constants live here so the CLI can show `--help` defaults without importing FastAPI.
"""

DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024
"""The API server's default batch is at most 400 events (`--audit-webhook-batch-max-size`); 16 MiB leaves
room for RequestResponse-level events with large bodies."""
DEFAULT_SPOOL_MAX_BYTES = 1024 * 1024 * 1024
"""1 GiB: at the API server's default webhook ceiling (~4,000 events/s, ~1-2 KB each) several minutes of
backlog before the receiver answers 429 and the API server holds and retries."""
DEFAULT_SPOOL_HIGH_WATER = 0.8
"""/healthz reports unhealthy above this fraction of `--spool-max-bytes`."""
DEFAULT_MAX_INFLIGHT_BYTES = 128 * 1024 * 1024
"""Request bodies held in memory at once (being read, validated, waiting for the spool's fsync)."""
DEFAULT_MAX_CONNECTIONS = 256
DEFAULT_HEADER_TIMEOUT = 10.0
DEFAULT_BODY_TIMEOUT = 30.0
"""The API server gives up on a webhook request after 30 s (`defaultRequestTimeout`)."""
DEFAULT_IDLE_TIMEOUT = 15.0
DEFAULT_TLS_HANDSHAKE_TIMEOUT = 10.0
DEFAULT_SHUTDOWN_TIMEOUT = 20.0
"""Within Kubernetes' default 30 s termination grace period."""
DEFAULT_ADMISSION_MAX_BODY_BYTES = 3 * 1024 * 1024
"""An AdmissionReview carries one object; 3 MiB is the API server's own limit on a request body."""
DEFAULT_ADMISSION_PORT = 8443
