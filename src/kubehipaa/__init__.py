"""kubehipaa: make a Kubernetes cluster HIPAA-ready and prove it."""

__version__ = "0.1.0"
