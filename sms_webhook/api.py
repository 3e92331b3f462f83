"""The REST API on the Flask service: each operation of delta3_core.api becomes one route; nothing else here."""

from __future__ import annotations

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from delta3_core.api import ApiRequest, Operation, Reply, dispatch, load_operations
from delta3_core.api.framework import Upload, encode, problem_reply
from delta3_core.api.openapi import build_document
from delta3_core.api.problems import Problem

API_PREFIXES = ("/auth/", "/chat/", "/files/", "/models", "/openapi.json", "/docs")


def _flask_path(path: str) -> str:
    return path.replace("{", "<").replace("}", ">")


def to_response(reply: Reply) -> Response:
    """A Flask response for an API reply (a stream stays a stream)."""
    body = encode(reply)
    response = Response(body, status=reply.status, mimetype=reply.media_type or None)
    for name, value in reply.headers.items():
        response.headers[name] = value
    if reply.status == 204:
        response.headers.pop("Content-Type", None)
    return response


def _view(op: Operation, app: Flask):
    services = app.extensions["delta3_api"]

    def view(**path_params: str) -> Response:
        request.max_content_length = op.body_limit(services.settings)
        uploads = []
        if op.multipart is not None:
            uploads = [Upload(name, part.filename or "", part.stream) for name, part in request.files.items(multi=True)]
            body = b""
        else:
            body = request.get_data(cache=False)
        api_request = ApiRequest(method=request.method, headers=request.headers, query=request.args.to_dict(flat=True),
                                 path_params=path_params, body=body, remote_addr=request.remote_addr, uploads=uploads)
        return to_response(dispatch(services, op, api_request, app.config.get("DELTA3_API_CHECKS", ())))

    view.__name__ = f"api_{op.name}"
    return view


def is_api_path(path: str) -> bool:
    """True for paths the API answers (its errors are problem+json there)."""
    return path.startswith(API_PREFIXES)


def register_api(app: Flask, services) -> None:
    """Mount every API operation, the OpenAPI document and the problem+json error pages on `app`."""
    app.extensions["delta3_api"] = services
    for op in load_operations():
        app.add_url_rule(_flask_path(op.path), endpoint=f"api_{op.name}", view_func=_view(op, app),
                         methods=[op.method])
    app.add_url_rule("/openapi.json", endpoint="api_openapi", view_func=lambda: to_response(
        Reply(build_document())), methods=["GET"])

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        """Routing and size errors (404, 405, 413) as problem+json on API paths; plain elsewhere."""
        if not is_api_path(request.path):
            return error
        detail = {404: "There is no such endpoint; see GET /openapi.json.",
                  405: "This endpoint does not take that method; see GET /openapi.json.",
                  413: "The request body is too large for this endpoint."}.get(error.code or 500, error.description)
        response = to_response(problem_reply(Problem(error.code or 500, detail)))
        if error.code == 405 and getattr(error, "valid_methods", None):
            response.headers["Allow"] = ", ".join(error.valid_methods)
        return response

    @app.after_request
    def no_store(response: Response) -> Response:
        """API answers are per user: never cached by browsers or proxies."""
        if is_api_path(request.path):
            response.headers["Cache-Control"] = "no-store"
        return response
