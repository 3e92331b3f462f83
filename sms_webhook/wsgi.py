"""WSGI entry for any WSGI server: `waitress-serve sms_webhook.wsgi:app`, gunicorn, mod_wsgi..."""

from __future__ import annotations

from . import create_app

app = create_app()
