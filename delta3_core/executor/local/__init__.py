"""DELTA3_EXECUTOR=local: runs code on this host in a bubblewrap sandbox (zygotes start it ahead; slots admit runs)."""
