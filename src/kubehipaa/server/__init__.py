"""Long-running receivers (the API server's audit webhook backend)."""
