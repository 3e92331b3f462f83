"""What only the local bubblewrap sandbox does (every mode's shared behaviour: test_executor_contract.py)."""

from __future__ import annotations

import contextlib
import os
import platform
import socket
import subprocess
import sys
import threading
import time
from dataclasses import replace

import pytest

from delta3_core.errors import SandboxUnavailableError
from delta3_core.executor import make_executor, sandbox_status
from delta3_core.executor.local.executor import LocalExecutor
from tests.fixtures.executor import processes_with, run_parallel

pytestmark = pytest.mark.sandbox


def test_one_users_fork_bomb_does_not_starve_another_users_run(local_executor):
    bomb = threading.Thread(target=local_executor.run, args=("mallory", "shell", "b(){ b | b & }; b; sleep 2"))
    bomb.start()
    try:
        code = "import subprocess\nps = [subprocess.Popen(['sleep', '0.2']) for _ in range(20)]\n" \
               "print(sum(p.wait() == 0 for p in ps))"
        result = local_executor.run("alice", "python", code)
    finally:
        bomb.join()
    assert result.stdout == "20\n", result.stderr


def test_the_sandbox_cannot_see_host_files_or_other_workspaces(local_executor, local_backend, sandbox_settings):
    local_backend.files.write_bytes("bob", "bob-secret.txt", b"bob's data")
    code = ("import os\nprint(sorted(os.listdir('/')))\n"
            f"print(os.path.exists({str(sandbox_settings.data_dir)!r}))\n"
            "print(os.path.exists('/etc/shadow'), os.path.exists('/root'))")
    result = local_executor.run("alice", "python", code)
    lines = result.stdout.splitlines()
    assert "workspace" in lines[0] and "home" not in lines[0] and "root" not in lines[0]
    assert lines[1:] == ["False", "False False"]
    found = local_executor.run("alice", "shell", "find / -name 'bob-secret*' 2>/dev/null | head")
    assert found.stdout == ""


def _proc_views(executor, user_id: str, paths: str) -> str:
    """What a run of `user_id` reads from the /proc files matching the glob patterns in `paths`."""
    code = ("import glob\n"
            f"for p in sorted(f for pattern in {paths.split()!r} for f in glob.glob(pattern)):\n"
            "    print(p, open(p, 'rb').read())")
    result = executor.run(user_id, "python", code)
    assert result.ok, result
    return result.stdout


def test_no_command_line_in_the_sandbox_names_the_data_dir_or_the_user_id(local_executor, sandbox_settings):
    # bwrap's own command line is every sandboxed process's /proc/1/cmdline: its options go through --args
    seen = _proc_views(local_executor, "pat-7q3x", "/proc/*/cmdline")
    assert "/proc/1/cmdline b" in seen and "--args" in seen
    for secret in (str(sandbox_settings.data_dir), "pat-7q3x"):
        assert secret not in seen, [line for line in seen.splitlines() if secret in line]


@pytest.mark.xfail(strict=True, reason="the kernel shows a bind mount's source as its path inside its filesystem "
                   "(a symlink, --bind-fd or /proc/self/fd source shows the same); only a workspace stored at a "
                   "path that names neither could hide it")
def test_the_mount_table_in_the_sandbox_names_neither_the_data_dir_nor_the_user_id(local_executor, sandbox_settings):
    seen = _proc_views(local_executor, "pat-7q3x", "/proc/self/mountinfo /proc/self/mounts")
    assert " /workspace " in seen
    for secret in (str(sandbox_settings.data_dir), "pat-7q3x"):
        assert secret not in seen, [line for line in seen.splitlines() if secret in line]


def test_dev_shm_residue_never_reaches_the_next_user(local_executor):
    # $TMPDIR residue is in the contract suite; /dev/shm is the sandbox's other writable place
    local_executor.run("mallory", "shell", "echo bait > /dev/shm/residue")
    assert local_executor.run("alice", "shell", "ls -A /dev/shm").stdout == ""


@pytest.mark.parametrize("host", ["1.1.1.1", "169.254.169.254"])
def test_network_is_off_by_default(local_executor, host):
    code = (f"import socket\ntry:\n    socket.create_connection(({host!r}, 80), timeout=1); print('connected')\n"
            "except OSError as e: print('blocked', e)")
    assert local_executor.run("alice", "python", code).stdout.startswith("blocked")


def test_the_hosts_loopback_is_unreachable_unless_network_is_enabled(sandbox_settings, local_backend,
                                                                      require_sandbox):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        code = (f"import socket\ntry:\n    socket.create_connection(('127.0.0.1', {port}), timeout=1)"
                "; print('connected')\nexcept OSError as e: print('blocked', e)")
        closed = LocalExecutor(sandbox_settings, local_backend).run("alice", "python", code)
        opened = LocalExecutor(replace(sandbox_settings, sandbox_network=True), local_backend).run(
            "alice", "python", code)
    assert closed.stdout.startswith("blocked")
    assert opened.stdout == "connected\n"


def test_missing_bwrap_refuses_to_run_and_says_how_to_fix(sandbox_settings, local_backend, monkeypatch):
    monkeypatch.setattr("delta3_core.executor.local.probe.find_bwrap", lambda: None)
    executor = make_executor(sandbox_settings, local_backend)
    with pytest.raises(SandboxUnavailableError, match="apt-get install bubblewrap"):
        executor.run("alice", "python", "print(1)")
    assert "not installed" in sandbox_status(sandbox_settings)
    assert local_backend.files.list_files("alice") == []


def test_unsafe_mode_runs_with_limits_only_and_says_so(sandbox_settings, local_backend, monkeypatch):
    monkeypatch.setattr("delta3_core.executor.local.probe.find_bwrap", lambda: None)
    unsafe = replace(sandbox_settings, unsafe_no_sandbox=True)
    result = make_executor(unsafe, local_backend).run("alice", "python", "print('hi')")
    assert result.stdout == "hi\n" and "WITHOUT a sandbox" in result.message
    assert sandbox_status(unsafe).startswith("UNSAFE")
    slow = make_executor(unsafe, local_backend).run("alice", "python", "while True: pass")
    assert slow.limit_hit in ("wall_time", "cpu_time")
    bomb = make_executor(unsafe, local_backend).run("alice", "python", "import os\nwhile True: os.fork()")
    assert bomb.limit_hit == "processes"


def test_sandbox_status_reports_ok_with_network_state(sandbox_settings, require_sandbox):
    assert sandbox_status(sandbox_settings) == "ok: code runs in a bubblewrap sandbox (network off)."


def test_a_data_folder_the_sandbox_user_cannot_reach_is_explained(tmp_path, monkeypatch):
    from delta3_core.executor.supervisor import uids as sandbox

    def refuse(path, uid):
        raise OSError(95, "Operation not supported")

    monkeypatch.setattr(sandbox, "ensure_search", refuse)
    with pytest.raises(SandboxUnavailableError, match="DELTA3_DATA_DIR"):
        sandbox.hand_over(tmp_path, sandbox.HOST_UID)


@pytest.mark.parametrize("name, depth", [("d" * 200, 25), ("d", 70)], ids=["path-too-long", "too-deep"])
def test_files_hidden_deep_in_folders_still_count_against_the_quota(local_executor, name, depth):
    # 25 levels of 200-character names is a path no path-based walk can open; 70 levels is past MAX_DEPTH
    code = (f"import os, time\nfor _ in range({depth}):\n    os.mkdir({name!r}); os.chdir({name!r})\n"
            "for i in range(8):\n    open(f'f{i}', 'wb').write(b'0' * 4 * 1024 * 1024)\ntime.sleep(1.5)")
    result = local_executor.run("mallory", "python", code)
    assert result.limit_hit == "disk", result
    if depth > 64:
        assert any(note.endswith("levels deep, not looked into)") for note in result.skipped), result.skipped


@pytest.mark.skipif(platform.machine() != "x86_64", reason="syscall numbers below are x86_64's")
def test_kernel_interfaces_behind_most_sandbox_escapes_are_refused(local_executor):
    code = ("import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nbuf = ctypes.create_string_buffer(128)\n"
            "calls = {'io_uring_setup': (425, 1, buf), 'userfaultfd': (323, 1), 'bpf': (321, 0, buf, 128),\n"
            "         'perf_event_open': (298, buf, 0, -1, -1, 0), 'keyctl': (250, 0, -3, 0),\n"
            "         'add_key': (248, b'user', b'k', b'v', 1, -3), 'request_key': (249, b'user', b'k', 0, -3)}\n"
            "for name, args in calls.items():\n    ctypes.set_errno(0)\n"
            "    print(name, libc.syscall(*args), ctypes.get_errno())")
    result = local_executor.run("mallory", "python", code)
    assert result.stdout.split("\n")[:-1] == [f"{name} -1 1" for name in (
        "io_uring_setup", "userfaultfd", "bpf", "perf_event_open", "keyctl", "add_key", "request_key")], result


def test_memory_outside_any_process_cannot_be_held(local_executor):
    # memfd and System V shared memory count against no rlimit; the sandbox refuses to create them
    code = ("import ctypes, os\ntry:\n    os.memfd_create('x'); print('memfd made')\n"
            "except OSError as e: print('memfd refused', e.errno)\n"
            "libc = ctypes.CDLL(None, use_errno=True)\n"
            "print('shmget', libc.shmget(0, 1 << 20, 0o1600), ctypes.get_errno())")
    result = local_executor.run("mallory", "python", code)
    assert result.stdout.splitlines() == ["memfd refused 1", "shmget -1 1"], result


@contextlib.contextmanager
def _folder_flipping_to(root, outside):
    """While inside, another process (like a concurrent run of the same user) keeps swapping the
    workspace folder `d` for a symlink to the host folder `outside`, and back."""
    flip = ("import os, sys\nroot, outside = sys.argv[1:]\nd, real = root + '/d', root + '/d.real'\n"
            "steps = [lambda: os.rename(d, real), lambda: os.symlink(outside, d), lambda: os.unlink(d),\n"
            "         lambda: os.rename(real, d)]\nwhile True:\n    for step in steps:\n"
            "        try: step()\n        except OSError: pass")
    flipper = subprocess.Popen([sys.executable, "-c", flip, str(root), str(outside)])  # no GIL shared
    try:
        while not (root / "d.real").exists() and flipper.poll() is None:
            pass  # until the flipping has begun
        yield
    finally:
        flipper.kill()
        flipper.wait()


def _twin_folders(tmp_path, make):
    root, outside = tmp_path / "ws", tmp_path / "host"
    for folder, prefix in ((root / "d", "ws"), (outside, "host")):
        folder.mkdir(parents=True)
        for i in range(1000):
            make(folder / f"{prefix}{i}")
    return root, outside


@pytest.mark.skipif(os.geteuid() != 0, reason="hand_over changes owners only when the app runs as root")
def test_handing_the_workspace_over_never_follows_a_folder_swapped_for_a_link(tmp_path):
    from delta3_core.executor.supervisor import uids as sandbox

    root, outside = _twin_folders(tmp_path, lambda path: path.write_text("x"))
    with _folder_flipping_to(root, outside):
        for _ in range(300):
            sandbox.hand_over(root, sandbox.HOST_UID)
    assert {os.lstat(path).st_uid for path in [outside, *outside.iterdir()]} == {0}


def test_removing_links_after_a_run_never_follows_a_folder_swapped_for_a_link(tmp_path):
    # the host's own symlinks (think /lib64 or /etc/alternatives) must survive a workspace cleanup
    from delta3_core.executor.supervisor.scan import remove_specials, scan

    root, outside = _twin_folders(tmp_path, lambda path: path.symlink_to("/usr"))
    with _folder_flipping_to(root, outside):
        for _ in range(20000):
            found = scan(root)
            remove_specials(root, found.special_paths)
            assert not [path for path in found.special_paths if "host" in path]  # no host names either
    assert len(list(outside.iterdir())) == 1000


def test_one_user_gets_at_most_two_runs_at_once_and_the_rest_wait_their_turn(local_executor, local_backend):
    # many tabs of one user must not add up to many times the memory limit on this host
    code = "import time\nopen('log', 'a').write('start\\n')\ntime.sleep(0.5)\nopen('log', 'a').write('end\\n')"
    results = run_parallel(local_executor, [("mallory", code)] * 4)
    assert all(r.ok for r in results), results
    running, most = 0, 0
    for line in local_backend.files.read_bytes("mallory", "log").decode().split():
        running += 1 if line == "start" else -1
        most = max(most, running)
    assert most == 2


def test_code_run_without_bwrap_cannot_reach_into_a_waiting_sandbox(sandbox_settings, local_backend,
                                                                    local_executor):
    # unsafe mode (and the Lambda handler run on a host) runs code outside any namespace; if it shared the
    # sandboxes' uid it would own their user namespaces and could read /proc/<pid>/root/workspace
    local_backend.files.write_bytes("bob", "bob-secret.txt", b"bob's data")
    local_executor.run("bob", "python", "print(1)")  # leaves a sandbox waiting for bob's next run
    code = ("import os\nfor pid in filter(str.isdigit, os.listdir('/proc')):\n    try:\n"
            "        print(open(f'/proc/{pid}/root/workspace/bob-secret.txt').read())\n"
            "    except OSError:\n        pass")
    bobs_folder = str(local_backend.files.local_root("bob"))
    for _ in range(1000):  # the waiting sandbox is started in the background
        if processes_with(bobs_folder):
            break
        time.sleep(0.01)
    result = LocalExecutor(replace(sandbox_settings, unsafe_no_sandbox=True), local_backend).run(
        "mallory", "python", code)
    assert result.ok and "bob's data" not in result.stdout
