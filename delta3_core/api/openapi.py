"""The OpenAPI 3.1 document, generated from the registered operations and their pydantic models."""

from __future__ import annotations

from typing import Any

from pydantic.json_schema import models_json_schema

from .framework import OPERATIONS, Operation
from .problems import MEDIA_TYPE, ProblemModel, title

REF = "#/components/schemas/{model}"
# Answers any operation may give besides its own: malformed input, limits, the store being unreachable.
COMMON_ERRORS = (400, 413, 429, 503)


def _errors(op: Operation) -> list[int]:
    codes = set(COMMON_ERRORS) | set(op.errors)
    if op.auth:
        codes.add(401)
    if op.body is not None:
        codes |= {415, 422}
    if op.query is not None or op.multipart is not None:
        codes.add(422)
    return sorted(codes)


def _query_parameters(op: Operation, schemas: dict[tuple, Any]) -> list[dict[str, Any]]:
    if op.query is None:
        return []
    schema = schemas[(op.query, "validation")]
    params = []
    for name, info in op.query.model_fields.items():
        prop = schema.get("properties", {}).get(name, {})
        param: dict[str, Any] = {"name": name, "in": "query", "required": info.is_required(), "schema": prop}
        if info.description:
            param["description"] = info.description
        params.append(param)
    return params


def build_document(operations: list[Operation] | None = None, server_url: str | None = None) -> dict[str, Any]:
    """The whole OpenAPI 3.1 document (a plain dict)."""
    operations = OPERATIONS if operations is None else operations
    inputs = {(m, "validation") for op in operations for m in (op.body, op.query) if m is not None}
    outputs = {(m, "serialization") for op in operations if (m := op.response) is not None}
    outputs.add((ProblemModel, "serialization"))
    keys = sorted(inputs | outputs, key=lambda pair: (pair[0].__name__, pair[1]))
    refs, defs = models_json_schema(keys, ref_template=REF)
    schemas = {key: _resolve(refs[key], defs.get("$defs", {})) for key in keys if key[0] in
               {op.query for op in operations}}
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op, refs, schemas)
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "DELTA3 REST API", "version": "1",
                 "description": "Chat with Gemini about your workspace, and manage its files and your account. "
                                "Errors are application/problem+json (RFC 9457)."},
        "paths": paths,
        "components": {"schemas": defs.get("$defs", {}),
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                                      "description": "A session token from /auth/login or "
                                                                     "/auth/register, or a personal access token."}}},
    }
    if server_url:
        document["servers"] = [{"url": server_url}]
    return document


def _resolve(ref: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in ref:
        return defs[ref["$ref"].rsplit("/", 1)[-1]]
    return ref


def _operation(op: Operation, refs: dict[tuple, Any], schemas: dict[tuple, Any]) -> dict[str, Any]:
    doc: dict[str, Any] = {"operationId": op.name, "summary": op.summary, "tags": [op.tag],
                           "security": [{"bearer": []}] if op.auth else []}
    if op.handler.__doc__:
        doc["description"] = op.handler.__doc__.strip()
    params = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
              for name in _path_names(op.path)]
    params += _query_parameters(op, schemas)
    if params:
        doc["parameters"] = params
    if op.body is not None:
        doc["requestBody"] = {"required": True,
                              "content": {"application/json": {"schema": refs[(op.body, "validation")]}}}
    elif op.multipart is not None:
        doc["requestBody"] = {"required": True, "content": {"multipart/form-data": {"schema": op.multipart}}}
    success: dict[str, Any] = {"description": op.summary}
    if op.response is not None:
        success["content"] = {"application/json": {"schema": refs[(op.response, "serialization")]}}
    elif op.media:
        success["content"] = {media: {"schema": schema} for media, schema in op.media.items()}
    responses: dict[str, Any] = {str(op.status): success}
    problem = {"content": {MEDIA_TYPE: {"schema": refs[(ProblemModel, "serialization")]}}}
    for code in _errors(op):
        responses[str(code)] = {"description": title(code), **problem}
    doc["responses"] = responses
    return doc


def _path_names(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{") and part.endswith("}")]
