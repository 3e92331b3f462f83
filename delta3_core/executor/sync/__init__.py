"""A run against an S3 workspace: manifest-driven sync, and the restore-run-push cycle both executors use."""
