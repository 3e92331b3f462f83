"""Expiring links to workspace images for MMS: tokens signed with itsdangerous locally, S3 presigned URLs on AWS."""

from __future__ import annotations

import logging
import mimetypes
import time
from typing import TYPE_CHECKING

from itsdangerous import BadSignature, URLSafeSerializer

from ..errors import AuthError, ValidationError
from ..storage.codec import workspace_prefix

if TYPE_CHECKING:
    from delta3_core.services import Services

log = logging.getLogger("delta3.media")

MEDIA_TTL_S = 3600  # Twilio fetches media when it sends; an hour covers its retries
MAX_MEDIA = 10  # Twilio's limit of media per message
MEDIA_ROUTE = "/media/"


def _serializer(secret: str) -> URLSafeSerializer:
    # A salt of its own, so a media token can never pass as any other signed value.
    return URLSafeSerializer(secret, salt="delta3-media-links")


def sign_token(secret: str, user_id: str, path: str, ttl_s: int = MEDIA_TTL_S, now: float | None = None) -> str:
    """A URL-safe token naming one workspace file of one user until it expires."""
    expires = int((time.time() if now is None else now) + ttl_s)
    return _serializer(secret).dumps({"u": user_id, "p": path, "e": expires})


def read_token(secret: str, token: str, now: float | None = None) -> tuple[str, str]:
    """The (user_id, path) a token names; AuthError when it is forged, altered or expired."""
    try:
        data = _serializer(secret).loads(token)
        user_id, path, expires = str(data["u"]), str(data["p"]), int(data["e"])
    except (BadSignature, ValueError, KeyError, TypeError):
        raise AuthError("This media link is not valid.") from None
    if (time.time() if now is None else now) > expires:
        raise AuthError("This media link has expired.")
    return user_id, path


def read_media(services: Services, token: str) -> tuple[bytes, str]:
    """The bytes and MIME type of the file a media token names; AuthError (bad link), NotFoundError (gone)."""
    user_id, path = read_token(services.settings.secret_key, token)
    data = services.backend.files.read_bytes(user_id, path)
    return data, mimetypes.guess_type(path)[0] or "application/octet-stream"


def media_url(services: Services, user_id: str, path: str, ttl_s: int = MEDIA_TTL_S) -> str:
    """A public, expiring URL for one workspace file, fit for Twilio's MediaUrl."""
    settings = services.settings
    if settings.backend == "aws":
        import boto3
        from botocore.config import Config

        # SigV4 links carry their lifetime (X-Amz-Expires) and work in every region.
        return boto3.client("s3", config=Config(signature_version="s3v4")).generate_presigned_url(
            "get_object", Params={"Bucket": settings.bucket, "Key": workspace_prefix(user_id) + path},
            ExpiresIn=ttl_s)
    if not settings.public_url:
        raise ValidationError("DELTA3_PUBLIC_URL is not set, so images cannot be sent by MMS.")
    return settings.public_url + MEDIA_ROUTE + sign_token(settings.secret_key, user_id, path, ttl_s)


def urls_for(services: Services, user_id: str, images: list[str]) -> list[str]:
    """Expiring URLs for the images an answer produced (workspace paths), at most Twilio's limit."""
    from ..workspace import validate_path

    urls = []
    for image in images[:MAX_MEDIA]:
        try:
            urls.append(media_url(services, user_id, validate_path(image)))
        except ValidationError as error:  # one bad path should not cost the whole answer
            log.warning("skipping an image that cannot be linked: %s", error)
    return urls
