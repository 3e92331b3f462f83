"""Undo: a checkpoint per turn that changed files, and reverting them on any channel.

Call `undo_last(services, user_id, channel)` from every channel; a chat turn records its
checkpoint through a `Recorder` handed to the tools. Retention: the newest KEEP_TURNS (50)
turns, at most 30 days; see localstore.py and s3versions.py for where old content lives.
"""

from __future__ import annotations

from .history import FileChange, FileVersion, file_versions, restore_version, text_diff, turn_diffs, version_content
from .recorder import KEEP_TURNS, Recorder, forget, sweep, versions_for
from .undo import UndoResult, undo_last, undo_turn, undoable

__all__ = ["KEEP_TURNS", "FileChange", "FileVersion", "Recorder", "UndoResult", "file_versions",
           "forget", "restore_version", "sweep", "text_diff", "turn_diffs", "undo_last", "undo_turn", "undoable",
           "version_content", "versions_for"]
