"""Host-side supervision shared by both executors: processes, /proc, rlimits, environment, outcomes, uids, scans."""
