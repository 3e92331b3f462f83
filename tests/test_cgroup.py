"""The per-run cgroup v2 memory limit, against a folder laid out like cgroupfs (this host may delegate none)."""

from __future__ import annotations

from pathlib import Path

from delta3_core.executor.local.cgroup import RunCgroups, enter, hit_limit, own_cgroup


def fake_cgroup(root: Path, controllers: str, subtree: str = "", procs: str = "") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "cgroup.controllers").write_text(controllers + "\n")
    (root / "cgroup.subtree_control").write_text(subtree + "\n")
    (root / "cgroup.procs").write_text(procs)
    return root


def test_own_cgroup_is_found_from_mountinfo_and_proc_self_cgroup(tmp_path):
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text("22 1 0:20 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n"
                         "30 1 0:27 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n")
    self_cgroup = tmp_path / "cgroup"
    self_cgroup.write_text("4:memory:/x\n0::/system.slice/delta3.service\n")
    assert own_cgroup(str(mountinfo), str(self_cgroup)) == Path("/sys/fs/cgroup/unified/system.slice/delta3.service")
    self_cgroup.write_text("4:memory:/x\n")  # cgroup v1 only
    assert own_cgroup(str(mountinfo), str(self_cgroup)) is None


def test_no_memory_controller_means_the_watch_alone(tmp_path):
    cgroups = RunCgroups(fake_cgroup(tmp_path / "cg", "cpu pids"))
    assert not cgroups.available and cgroups.create(256) is None
    assert not RunCgroups(None).available


def test_a_delegated_cgroup_moves_the_app_to_a_leaf_and_caps_each_run(tmp_path):
    parent = fake_cgroup(tmp_path / "cg", "cpu memory pids", procs="101\n102\n")
    cgroups = RunCgroups(parent)
    assert cgroups.available
    assert (parent / "cgroup.subtree_control").read_text() == "+memory"
    assert (parent / "app" / "cgroup.procs").read_text() == "102"  # each pid was written in turn
    group = cgroups.create(256)
    assert group.parent == parent and group.name.startswith("delta3-run-")
    assert (group / "memory.max").read_text() == str(256 * 1024 * 1024)
    assert (group / "memory.swap.max").read_text() == "0" and (group / "memory.oom.group").read_text() == "1"
    assert enter(group, 4242) and (group / "cgroup.procs").read_text() == "4242"
    assert cgroups.create(256) != group  # one per run


def test_an_oom_kill_in_the_run_cgroup_is_reported_as_the_memory_limit(tmp_path):
    group = tmp_path / "run"
    group.mkdir()
    (group / "memory.events").write_text("low 0\nhigh 0\nmax 12\noom 1\noom_kill 0\n")
    assert not hit_limit(group)
    (group / "memory.events").write_text("low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\n")
    assert hit_limit(group)
    assert not hit_limit(tmp_path / "gone")
