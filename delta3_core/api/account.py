"""/auth account lifecycle: delete the account, export its data, reset a forgotten password by SMS code."""

from __future__ import annotations

import tempfile

from pydantic import BaseModel, Field

from .. import accounts
from ..accounts.export import write_export
from .framework import Call, Model, Reply, operation
from .transfer import BINARY, _chunks, attachment


class DeleteConfirmation(Model):
    password: str | None = Field(None, max_length=1024, description="the account's password, to confirm it is you")
    email: str | None = Field(None, max_length=320, examples=["ada@example.com"],
                              description="instead of the password, for an account made by signing in with Google "
                                          "(it has none): the account's email address")


class ResetRequest(Model):
    email: str = Field(max_length=320, examples=["ada@example.com"])


class ResetConfirm(Model):
    email: str = Field(max_length=320, examples=["ada@example.com"])
    code: str = Field(max_length=20, examples=["123456"], description="the 6-digit code from the SMS (or operator)")
    new_password: str = Field(max_length=1024)


class Notice(BaseModel):
    detail: str = Field(description="what happened, as a sentence for people")


RESET_SENT = ("If an account with that email has a linked phone, a 6-digit code is on its way by SMS; it expires "
              "in 10 minutes. No phone linked? Ask the operator of this server for a code.")


@operation("DELETE", "/auth/me", summary="Delete your account", tag="auth", body=DeleteConfirmation, status=204,
           errors=(401, 422, 429))
def delete_me(call: Call) -> None:
    """Delete the account and all its data (history, usage, key, files with every version, undo checkpoints, turns,
    tokens, phone link). Send `{password}`; an account made by signing in with Google has no password: send
    `{email}`, its email address, instead (422 if it does not match).

    The account is gone when this answers; data a failure left behind is purged by a later retry.
    """
    accounts.delete_account(call.services, call.user_id, call.body.password, call.body.email)


@operation("GET", "/auth/export", summary="Export your data", tag="auth", media={"application/zip": BINARY})
def export_me(call: Call) -> Reply:
    """One zip: account.json (no key, no password hash), history.json (tool records, usage), workspace/."""
    spool = tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024)  # noqa: SIM115 (closed by _chunks when sent)
    write_export(call.services, call.user_id, spool)
    spool.seek(0)
    return Reply(_chunks(spool), media_type="application/zip", headers=attachment("delta3-export.zip"))


@operation("POST", "/auth/password-reset", summary="Ask for a password reset code", tag="auth", body=ResetRequest,
           response=Notice, status=202, auth=False, errors=(422, 429))
def request_reset(call: Call) -> Notice:
    """Text a 6-digit code to the account's linked phone; the same answer whether or not the account exists."""
    accounts.request_reset(call.services, call.body.email, source=call.request.remote_addr)
    return Notice(detail=RESET_SENT)


@operation("POST", "/auth/password-reset/confirm", summary="Set a new password with a reset code", tag="auth",
           body=ResetConfirm, response=Notice, auth=False, errors=(401, 422, 429))
def confirm_reset(call: Call) -> Notice:
    """Set the new password; every session and personal access token of the account is revoked."""
    accounts.confirm_reset(call.services, call.body.email, call.body.code, call.body.new_password,
                           source=call.request.remote_addr)
    return Notice(detail="Your password is changed and every session and token was ended; log in with it now.")
