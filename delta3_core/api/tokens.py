"""/auth/tokens: personal access tokens, shown once, listed without their secret, revoked by id."""

from __future__ import annotations

from pydantic import BaseModel, Field

from ..accounts import tokens as pat
from ..storage.base import AccessTokenRecord
from .auth import iso
from .framework import Call, Model, operation


class NewToken(Model):
    name: str = Field(max_length=100, examples=["laptop"])
    expires_in_days: int | None = Field(None, ge=1, le=pat.MAX_EXPIRY_DAYS, description="leave out: never expires")


class TokenInfo(BaseModel):
    id: str
    name: str
    created_at: str
    expires_at: str | None


class CreatedToken(TokenInfo):
    token: str = Field(description="the secret: shown this once, store it now")


class TokenList(BaseModel):
    tokens: list[TokenInfo]


def _info(record: AccessTokenRecord) -> dict:
    return {"id": record.token_id, "name": record.name, "created_at": iso(record.created_at),
            "expires_at": iso(record.expires_at)}


@operation("GET", "/auth/tokens", summary="List your personal access tokens", tag="tokens", response=TokenList)
def list_tokens(call: Call) -> TokenList:
    """Your live personal access tokens, oldest first, without their secrets."""
    return TokenList(tokens=[TokenInfo(**_info(r)) for r in pat.list_tokens(call.services.backend, call.user_id)])


@operation("POST", "/auth/tokens", summary="Create a personal access token", tag="tokens", body=NewToken,
           response=CreatedToken, status=201)
def create_token(call: Call) -> CreatedToken:
    """A new token for scripts and tools; the answer is the only time its secret is shown."""
    record, secret = pat.create_token(call.services.backend, call.user_id, call.body.name, call.body.expires_in_days)
    return CreatedToken(**_info(record), token=secret)


@operation("DELETE", "/auth/tokens/{token_id}", summary="Revoke a personal access token", tag="tokens", status=204,
           errors=(404,))
def revoke_token(call: Call) -> None:
    """Revoke one of your tokens at once; 404 if you have none with that id."""
    pat.revoke_token(call.services.backend, call.user_id, call.request.path_params["token_id"])
