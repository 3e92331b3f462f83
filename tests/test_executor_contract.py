"""One executor contract, run unchanged against every mode: the local sandbox, it on S3, and the Lambda.

Each test is a hostile (or plain) program and what every executor must make of it. What only one mode
does is tested beside it: test_executor_local.py (bwrap) and test_lambda_handler.py (the Lambda).
"""

from __future__ import annotations

import uuid

import pytest

from delta3_core.errors import ValidationError
from tests.fixtures.executor import processes_with, run_parallel


# -- files ---------------------------------------------------------------------------------
def test_code_runs_and_its_files_are_saved_in_the_users_workspace(executor):
    result = executor.run("alice", "python", "print('hello'); open('out.txt', 'w').write('data')")
    assert result.ok and result.stdout == "hello\n" and result.exit_code == 0
    assert result.files_changed == ["out.txt"]
    assert executor.stored("alice") == {"out.txt": b"data"}
    again = executor.run("alice", "shell", "cat out.txt")
    assert again.stdout == "data" and again.files_changed == []


def test_shell_commands_run_in_the_workspace_with_its_files(executor):
    executor.backend.files.write_bytes("alice", "notes.txt", b"from the web")
    result = executor.run("alice", "shell", 'ls; cat notes.txt; echo; test "$HOME" = "$PWD" && echo home')
    assert result.stdout.split("\n") == ["notes.txt", "from the web", "home", ""]


def test_edits_made_between_runs_are_seen_by_the_next_run(executor):
    files = executor.backend.files
    executor.run("alice", "python", "open('n.txt', 'w').write('1')")
    files.write_bytes("alice", "n.txt", b"edited")
    assert executor.run("alice", "shell", "cat n.txt").stdout == "edited"
    files.delete("alice", "n.txt")
    files.write_bytes("alice", "m.txt", b"new")
    assert executor.run("alice", "shell", "ls").stdout == "m.txt\n"


def test_files_written_before_a_failure_are_kept(executor):
    result = executor.run("alice", "python", "open('partial.txt', 'w').write('saved')\nraise SystemExit(3)")
    assert result.exit_code == 3 and not result.ok and "exit code 3" in result.message
    assert executor.stored("alice") == {"partial.txt": b"saved"}


def test_links_and_special_files_are_removed_reported_and_never_saved(executor, tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("host file")
    code = f"import os\nos.symlink('/', 'root')\nos.symlink({str(outside)!r}, 'out')\nos.mkfifo('pipe')\n" \
           "open('real.txt', 'w').write('x')"
    result = executor.run("alice", "python", code)
    assert sorted(s.split(" ")[0] for s in result.skipped) == ["out", "pipe", "root"]
    assert "root (symlink)" in " ".join(result.skipped)
    assert executor.stored("alice") == {"real.txt": b"x"}
    assert executor.run("alice", "shell", "ls").stdout == "real.txt\n"
    assert outside.read_text() == "host file"


def test_a_run_sees_only_its_own_users_files(executor):
    executor.run("bob", "python", "open('bob-secret.txt', 'w').write('private')")
    result = executor.run("alice", "shell", "ls -A; ls -A .. | grep -c bob || true")
    assert result.stdout == "0\n"


def test_concurrent_runs_of_one_user_keep_every_file(executor):
    code = "import time; open('f{}.txt', 'w').write('{}'); time.sleep(0.3)"
    results = run_parallel(executor, [("alice", code.format(i, i)) for i in range(3)])
    assert all(r.ok for r in results), results
    assert executor.stored("alice") == {"f0.txt": b"0", "f1.txt": b"1", "f2.txt": b"2"}


def test_concurrent_runs_of_two_users_stay_apart(executor):
    code = "import os, time\nopen('mine.txt', 'w').write('x'); time.sleep(0.3)\nprint(os.listdir('.'))"
    alice, bob = run_parallel(executor, [("alice", code), ("bob", code)])
    assert alice.stdout == bob.stdout == "['mine.txt']\n"
    assert executor.stored("alice") == executor.stored("bob") == {"mine.txt": b"x"}


def test_bad_requests_are_refused_before_anything_runs(executor):
    with pytest.raises(ValidationError, match="Unknown run kind"):
        executor.run("alice", "ruby", "puts 1")
    with pytest.raises(ValidationError, match="larger than 100 KB"):
        executor.run("alice", "python", "#" * 200_000)
    assert executor.stored("alice") == {}


# -- time, memory, processes ----------------------------------------------------------------
def test_an_endless_loop_is_stopped_and_the_next_run_works(executor):
    result = executor.run("alice", "python", "while True: pass")
    assert result.limit_hit in ("wall_time", "cpu_time") and "time" in result.message
    assert executor.run("alice", "python", "print(1)").stdout == "1\n"


def test_sleeping_forever_is_stopped_by_the_wall_clock(executor):
    result = executor.run("alice", "shell", "sleep 1000")
    assert result.limit_hit == "wall_time" and "2-second time limit" in result.message


def test_a_memory_bomb_is_stopped_with_a_memory_message(executor):
    result = executor.run("alice", "python", "blocks = []\nwhile True: blocks.append(bytearray(10**7))")
    assert result.limit_hit == "memory", result
    assert "256 MB" in result.message


def test_memory_spread_over_many_processes_hits_the_memory_limit(executor):
    # RLIMIT_DATA caps each process; four children of 100 MB each are 400 MB for a 256 MB run
    code = ("import os, time\nfor _ in range(4):\n    if os.fork() == 0:\n"
            "        block = b'x' * (100 * 1024 * 1024)\n        time.sleep(5)\n        os._exit(0)\n"
            "time.sleep(5)")
    result = executor.run("mallory", "python", code)
    assert result.limit_hit == "memory", result


def test_a_python_fork_bomb_hits_the_process_limit_and_the_next_run_works(executor):
    result = executor.run("mallory", "python", "import os\nwhile True: os.fork()")
    assert result.limit_hit == "processes" and "at most 32" in result.message, result
    assert executor.run("mallory", "python", "print('still fine')").stdout == "still fine\n"


def test_a_shell_fork_bomb_is_contained_and_the_next_run_works(executor):
    # the shell itself may finish (its `sleep 1` outlives the failed forks): the cap shows in stderr
    result = executor.run("mallory", "shell", "b(){ b | b & }; b; sleep 1")
    assert result.limit_hit in ("processes", "wall_time") or "fork" in result.stderr, result
    assert executor.run("mallory", "python", "print('still fine')").stdout == "still fine\n"


def test_a_background_process_does_not_outlive_its_run(executor):
    token = str(900000 + uuid.uuid4().int % 99999)
    first = executor.run("mallory", "shell", f"setsid sleep {token} > /dev/null 2>&1 & echo started")
    assert first.stdout == "started\n"
    assert not processes_with(token)


# -- output ---------------------------------------------------------------------------------
def test_an_output_flood_is_stopped_cut_and_marked(executor):
    result = executor.run("alice", "python", "while True: print('spam' * 100)")
    assert result.limit_hit == "output" and result.stdout_truncated
    assert len(result.stdout) < 16 * 1024 + 200
    assert result.stdout.endswith("[output truncated: only the first 16 KB was kept]")


def test_one_huge_line_is_cut_but_the_run_completes(executor):
    result = executor.run("alice", "python", "import sys; sys.stdout.write('x' * 1_000_000); print('done')")
    assert result.exit_code == 0 and result.stdout_truncated and result.limit_hit is None
    assert "Output was cut to the first 16 KB" in result.message


def test_binary_output_is_decoded_with_replacement_characters(executor):
    result = executor.run("alice", "python", r"import sys; sys.stdout.buffer.write(b'ok \xff\xfe\x00 end')")
    assert result.stdout == "ok \ufffd\ufffd\x00 end"


# -- disk -----------------------------------------------------------------------------------
def test_a_file_larger_than_the_file_limit_fails_with_a_clear_message(executor):
    result = executor.run("alice", "python", "open('big', 'wb').write(b'0' * 6 * 1024 * 1024)")
    assert result.limit_hit == "file_size"
    assert "5 MB per-file limit" in result.message


def test_filling_the_disk_stops_at_the_quota_and_keeps_earlier_files(executor):
    executor.backend.files.write_bytes("alice", "keep.txt", b"important")
    code = "i = 0\nwhile True:\n    open(f'fill{i}', 'wb').write(b'0' * 4 * 1024 * 1024); i += 1"
    result = executor.run("alice", "python", code)
    assert result.limit_hit == "disk" and "20 MB storage quota" in result.message
    assert executor.stored("alice")["keep.txt"] == b"important"


def test_sparse_files_count_at_their_full_size_against_the_quota(executor):
    # each file is under the 5 MB per-file limit and takes almost no disk, but syncs and exports at 4 MB
    code = "for i in range(50):\n    f = open(f's{i}', 'wb'); f.seek(4 * 1024 * 1024); f.write(b'x'); f.close()"
    result = executor.run("mallory", "python", code + "\nimport time; time.sleep(1.5)")
    assert result.limit_hit == "disk", result


def test_many_empty_files_fill_the_quota_instead_of_the_hosts_inodes(executor):
    # a 1 MB quota is 256 entries: few enough to make on a busy machine long before the wall clock
    code = "import os, time\nfor i in range(2000):\n    os.close(os.open(f'e{i}', os.O_CREAT | os.O_WRONLY))\n" \
           "time.sleep(1.5)"
    result = executor.with_settings(quota_mb=1).run("mallory", "python", code)
    assert result.limit_hit == "disk", result


# -- what a run can see ---------------------------------------------------------------------
def test_tmp_residue_never_reaches_the_next_run(executor):
    executor.run("mallory", "shell", 'echo bait > "$TMPDIR/residue"')
    assert executor.run("alice", "shell", 'ls -A "$TMPDIR"').stdout == ""


def test_no_secret_is_visible_by_environment_or_proc(executor, monkeypatch):
    secrets = {"DELTA3_SECRET_KEY": "s3cr3t-app-key", "GEMINI_API_KEY": "AIza-fake-gemini",
               "AWS_SECRET_ACCESS_KEY": "aws-secret-value", "TWILIO_AUTH_TOKEN": "twilio-token-value"}
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    code = ("import os, glob\nprint(dict(os.environ))\n"
            "for p in glob.glob('/proc/*/environ'):\n"
            "    try: print(p, open(p, 'rb').read())\n"
            "    except OSError as e: print(p, e)")
    result = executor.run("alice", "python", code)
    assert "HOME" in result.stdout and "/proc/" in result.stdout
    for secret in (*secrets.values(), "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID"):
        assert secret not in result.stdout + result.stderr


# -- the runtime (issue 15) --------------------------------------------------------------------
LIBRARIES = ("numpy", "pandas", "scipy", "sympy", "matplotlib", "requests", "PIL", "bs4", "openpyxl", "lxml")


def roomy(executor):
    """Room for real work (big imports, a plot) on a busy 2-core machine."""
    return executor.with_settings(run_wall_s=120.0, run_memory_mb=512)


def test_every_listed_library_imports(executor):
    code = f"import {', '.join(LIBRARIES)}\nprint('imported', len([{', '.join(LIBRARIES)}]))"
    result = roomy(executor).run("alice", "python", code)
    assert result.ok and result.stdout == f"imported {len(LIBRARIES)}\n", result


def test_node_runs_and_npm_is_there(executor):
    result = roomy(executor).run("alice", "shell", "node -e 'console.log(6 * 7)' && npm --version")
    assert result.ok and result.stdout.splitlines()[0] == "42", result


def test_a_large_address_space_reservation_no_longer_dies(executor):
    # What V8, Go and the JVM do at start: reserve gigabytes of address space, and commit a little of it.
    code = ("import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nlibc.mmap.restype = ctypes.c_void_p\n"
            "libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int,"
            " ctypes.c_long]\n"
            "address = libc.mmap(None, 8 << 30, 0, 0x22, -1, 0)  # PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS\n"
            "print('reserved 8 GB' if address not in (None, ctypes.c_void_p(-1).value) else"
            " f'refused {ctypes.get_errno()}')")
    result = executor.run("alice", "python", code)
    assert result.ok and result.stdout == "reserved 8 GB\n", result


@pytest.mark.parametrize("code", [
    "block = bytearray(2 * 1024 ** 3)\nprint('allocated')",  # one real 2 GB allocation
    # shared memory, which no rlimit counts: the watch (or the cgroup) stops it while it is held
    "import mmap, time\nm = mmap.mmap(-1, 2 << 30)\nfor i in range(0, len(m), 4096): m[i] = 1\n"
    "time.sleep(3)\nprint('filled')",
])
def test_a_real_two_gigabyte_allocation_still_dies_with_the_memory_message(executor, code):
    result = executor.run("alice", "python", code)
    assert result.limit_hit == "memory", result
    assert "256 MB" in result.message and "allocated" not in result.stdout and "filled" not in result.stdout


def test_a_plot_run_changes_only_the_plot_and_leaves_no_caches(executor):
    code = ("import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [1, 4, 9])\nplt.title('squares {}')\n"
            "plt.savefig('plot.png')\nprint('saved')")
    runner = roomy(executor)
    for attempt in range(2):  # the first run of a process may build the shared font list; the next uses it
        result = runner.run("alice", "python", code.format(attempt))
        assert result.ok and result.files_changed == ["plot.png"], result
        assert "Fontconfig" not in result.stderr, result.stderr
    assert list(executor.stored("alice")) == ["plot.png"]
    assert executor.run("alice", "shell", 'ls -A "$TMPDIR"').stdout == ""


def test_packages_a_user_installs_persist_and_stay_invisible_to_others(executor):
    # where `pip install` puts packages (installing for real is in test_executor_runtime.py)
    code = ("import os, site\nprint(site.getuserbase() == os.path.join(os.environ['HOME'], '.delta3', 'python'))\n"
            "path = os.path.join(site.getusersitepackages(), 'mine_pkg.py')\nos.makedirs(os.path.dirname(path))\n"
            "open(path, 'w').write('VALUE = 7')")
    result = executor.run("alice", "python", code)
    assert result.stdout == "True\n", result
    assert [path for path in executor.stored("alice") if path.endswith("mine_pkg.py")], executor.stored("alice")
    assert executor.run("alice", "python", "import mine_pkg; print(mine_pkg.VALUE)").stdout == "7\n"
    assert "ModuleNotFoundError" in executor.run("bob", "python", "import mine_pkg").stderr


def test_installed_packages_count_against_the_quota(executor):
    code = ("import os, site, time\nfolder = os.path.join(site.getusersitepackages(), 'big')\nos.makedirs(folder)\n"
            "for i in range(10):\n    open(os.path.join(folder, f'{i}.so'), 'wb').write(os.urandom(4 << 20))\n"
            "time.sleep(5)")
    result = executor.run("alice", "python", code)
    assert result.limit_hit == "disk" and "storage quota" in result.message, result
