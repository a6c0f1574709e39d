"""Everything that reads the outside world for scanning lives here (files, kustomize, cluster, etcd, logs)."""
