"""The REST API on the Flask service: each operation of delta3_core.api becomes one route; nothing else here."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask, Response, request
from flask_swagger_ui import get_swaggerui_blueprint
from werkzeug.exceptions import HTTPException

from delta3_core.api import ApiRequest, Operation, Reply, dispatch, load_operations
from delta3_core.api.cors import cors_headers
from delta3_core.api.framework import Upload, encode, problem_reply
from delta3_core.api.limits import check_rate
from delta3_core.api.openapi import build_document
from delta3_core.api.problems import Problem

if TYPE_CHECKING:
    from delta3_core.services import Services

API_PREFIXES = ("/auth/", "/chat/", "/files/", "/models", "/openapi.json", "/docs")
CHECKS = (check_rate,)
_ROUTING_DETAIL = {404: "There is no such endpoint; see GET /openapi.json.",
                   405: "This endpoint does not take that method; see GET /openapi.json.",
                   413: "The request body is too large for this endpoint."}


def _flask_path(path: str) -> str:
    return path.replace("{", "<").replace("}", ">")


def to_response(reply: Reply) -> Response:
    """A Flask response for an API reply (a stream stays a stream)."""
    response = Response(encode(reply), status=reply.status, mimetype=reply.media_type or None)
    for name, value in reply.headers.items():
        response.headers[name] = value
    if reply.status == 204:
        response.headers.pop("Content-Type", None)
    return response


def _view(op: Operation, services: Services):
    def view(**path_params: str) -> Response:
        request.max_content_length = op.body_limit(services.settings)
        uploads, form, body = [], {}, b""
        if op.multipart is not None:
            uploads = [Upload(name, part.filename or "", part.stream) for name, part in request.files.items(multi=True)]
            form = request.form.to_dict(flat=True)
        else:
            body = request.get_data(cache=False)
        api_request = ApiRequest(method=request.method, headers=request.headers, query=request.args.to_dict(flat=True),
                                 path_params=path_params, body=body, remote_addr=request.remote_addr, uploads=uploads,
                                 form=form)
        return to_response(dispatch(services, op, api_request, CHECKS))

    view.__name__ = f"api_{op.name}"
    return view


def is_api_path(path: str) -> bool:
    """True for paths the API answers (its errors are problem+json there)."""
    return path.startswith(API_PREFIXES)


def register_api(app: Flask, services: Services) -> None:
    """Mount every API operation, /openapi.json, /docs and the problem+json error pages on `app`."""
    for op in load_operations():
        app.add_url_rule(_flask_path(op.path), endpoint=f"api_{op.name}", view_func=_view(op, services),
                         methods=[op.method])
    document = build_document()
    app.add_url_rule("/openapi.json", endpoint="api_openapi", view_func=lambda: to_response(Reply(document)),
                     methods=["GET"])
    # Swagger UI from the flask-swagger-ui package's own files: /docs works offline, no CDN.
    app.register_blueprint(get_swaggerui_blueprint("/docs", "../openapi.json", config={
        "app_name": "DELTA3 API", "persistAuthorization": False}))

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        """Routing and size errors (404, 405, 413...) as problem+json on API paths; as before elsewhere."""
        if not is_api_path(request.path):
            return error
        code = error.code or 400
        response = to_response(problem_reply(Problem(code, _ROUTING_DETAIL.get(code, error.description or ""))))
        if code == 405 and getattr(error, "valid_methods", None):
            response.headers["Allow"] = ", ".join(error.valid_methods)
        return response

    @app.errorhandler(Exception)
    def unexpected(error: Exception):
        """A bug must still answer in the API's shape; the log gets the traceback, never the request body."""
        if isinstance(error, HTTPException):
            return http_error(error)
        app.logger.exception("unexpected error on %s %s", request.method, request.path)
        if not is_api_path(request.path):
            return Response("Internal Server Error", status=500, mimetype="text/plain")
        return to_response(problem_reply(Problem(500, "Something went wrong on our side; please try again.")))

    @app.after_request
    def api_headers(response: Response) -> Response:
        """Never cached (answers are per user); CORS only for the listed origins."""
        if is_api_path(request.path):
            response.headers["Cache-Control"] = "no-store"
            preflight = request.method == "OPTIONS"
            response.headers.update(cors_headers(services.settings, request.headers.get("Origin"), preflight,
                                                 response.headers.get("Allow", "")))
        return response
