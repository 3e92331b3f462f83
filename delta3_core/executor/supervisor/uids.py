"""Which host uid runs code when the app is root, and handing a workspace folder over to that uid."""

from __future__ import annotations

import os
import struct
from pathlib import Path

from ...storage.nofollow import walk
from ..contract import SandboxUnavailableError

# When the app runs as root, the sandbox runs as this otherwise unused host uid instead: the kernel never
# enforces RLIMIT_NPROC for host root, so without it a fork bomb would only be stopped by the clock.
HOST_UID = 911911
UNSANDBOXED_UID = 911912  # unsafe mode, and the Lambda handler when called on a host as root (tests)


def host_uid(sandboxed: bool = True) -> int | None:
    """The uid to drop to before starting code when we are root, else None (keep ours).

    Code run without bwrap gets another uid than the sandboxes: as their uid it would own their user
    namespaces, and could read a waiting sandbox's workspace through /proc/<pid>/root.
    """
    if os.geteuid() != 0:
        return None
    return HOST_UID if sandboxed else UNSANDBOXED_UID


ACL_XATTR = "system.posix_acl_access"
ACL_USER_OBJ, ACL_USER, ACL_GROUP_OBJ, ACL_MASK, ACL_OTHER = 0x01, 0x02, 0x04, 0x10, 0x20
ACL_UNDEFINED_ID = 0xFFFFFFFF


def hand_over(root: Path, uid: int) -> None:
    """Let `uid` reach and write `root`: a search-only ACL on locked ancestors, and ownership of the tree."""
    for parent in root.resolve().parents:
        try:
            ensure_search(parent, uid)
        except OSError:
            raise SandboxUnavailableError(
                f"Code cannot run: the sandbox user (uid {uid}) cannot reach {parent}, and its filesystem "
                "does not accept an ACL entry for it. Run the app as a non-root user, or point "
                "DELTA3_DATA_DIR at a folder whose parents others may enter (chmod o+x).") from None
    _own(str(root), None, uid)
    # By descriptor: a run of the same user may swap a folder for a link to a host folder while we walk,
    # and a path-based chown (as root) would then follow it out of the workspace.
    for _rel_dir, dir_fd, entries in walk(root):
        for name, info in entries:
            if info.st_uid != uid:
                _own(name, dir_fd, uid)


def _own(name: str, dir_fd: int | None, uid: int) -> None:
    """chown `name` (never a link's target) to `uid` unless it already is; quiet if it vanished."""
    try:
        if os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_uid != uid:
            os.chown(name, uid, uid, dir_fd=dir_fd, follow_symlinks=False)
    except OSError:
        pass


def ensure_search(path: Path, uid: int) -> None:
    """Give `uid` (only it) search permission on folder `path` through its POSIX ACL, if it lacks it.

    Checked on every run: a later chmod (pytest and backup tools do that) silently masks an older entry.
    """
    info = os.stat(path)
    if info.st_mode & 0o001 or info.st_uid == uid:
        return
    entries = _read_acl(path, info.st_mode)
    if entries.get((ACL_USER, uid), 0) & 1 and entries.get((ACL_MASK, ACL_UNDEFINED_ID), 0) & 1:
        return
    entries[(ACL_USER, uid)] = entries.get((ACL_USER, uid), 0) | 1
    mask = entries.get((ACL_MASK, ACL_UNDEFINED_ID), (info.st_mode >> 3) & 7)
    entries[(ACL_MASK, ACL_UNDEFINED_ID)] = mask | 1
    data = struct.pack("<I", 2) + b"".join(
        struct.pack("<HHI", tag, perm, ident) for (tag, ident), perm in sorted(entries.items()))
    os.setxattr(path, ACL_XATTR, data)


def _read_acl(path: Path, mode: int) -> dict[tuple[int, int], int]:
    """The folder's ACL entries as {(tag, id): perm}; the plain mode bits when it has no ACL."""
    try:
        raw = os.getxattr(path, ACL_XATTR)
    except OSError:
        raw = b""
    entries = {(tag, ident): perm for tag, perm, ident in struct.iter_unpack("<HHI", raw[4:])} if raw else {}
    if not entries:
        entries = {(ACL_USER_OBJ, ACL_UNDEFINED_ID): (mode >> 6) & 7,
                   (ACL_GROUP_OBJ, ACL_UNDEFINED_ID): (mode >> 3) & 7,
                   (ACL_OTHER, ACL_UNDEFINED_ID): mode & 7}
    return entries


