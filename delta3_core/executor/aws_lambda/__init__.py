"""DELTA3_EXECUTOR=lambda: the event protocol, the app-side client, per-user credentials, and the worker."""
