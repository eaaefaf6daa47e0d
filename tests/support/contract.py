"""Checks every request segport sends, and every emulator answer, against Constant Contact's published spec.

The spec (shared/reference/constant-contact-v3/swagger.yaml) is Swagger 2.0; its body schemas are JSON
Schema draft 4, validated here with jsonschema-rs (formats on, `uuid` and `date-time` included). Method,
path, path and query parameters, form fields and bodies are checked. Where the spec is wrong, a small list
of OVERRIDES patches it, each with the reason; nothing is skipped.
"""

from __future__ import annotations

import copy
import email.parser
import email.policy
import re
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs
import orjson
import yaml

SPEC_PATH = Path(__file__).resolve().parents[3] / "shared" / "reference" / "constant-contact-v3" / "swagger.yaml"


def _is_uuid(value: str) -> bool:
    try:
        return len(value) == 36 and str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False


def _set(definitions: dict[str, Any], path: str, key: str, value: object) -> None:
    node: Any = definitions
    for part in path.split("."):
        node = node[part]
    node[key] = value


# Known defects of the spec, each corrected to what Constant Contact's documentation says.
OVERRIDES: list[tuple[str, str, object, str]] = [
    # ListActivityRemoveContacts declares maxItems: 0, while its text (and the guide) say up to 50 target lists
    # and up to 500 contact ids / 50 source lists / 50 tags. Taken literally, no valid request exists.
    ("ListActivityRemoveContacts.properties.list_ids", "maxItems", 50, "maxItems: 0 defect; docs say 50"),
    (
        "ListActivityRemoveContacts.properties.source.properties.contact_ids",
        "maxItems",
        500,
        "maxItems: 0 defect; docs say 500",
    ),
    (
        "ListActivityRemoveContacts.properties.source.properties.list_ids",
        "maxItems",
        50,
        "maxItems: 0 defect; docs say 50 (or 100 in an older page; 50 is the safe reading)",
    ),
    (
        "ListActivityRemoveContacts.properties.source.properties.tag_ids",
        "maxItems",
        50,
        "maxItems: 0 defect; docs say 50",
    ),
]


@dataclass
class Operation:
    method: str
    template: str
    pattern: re.Pattern[str]
    spec: dict[str, Any]

    @property
    def operation_id(self) -> str:
        return str(self.spec.get("operationId"))


@dataclass
class Contract:
    base_path: str
    operations: list[Operation]
    definitions: dict[str, Any]
    checked_requests: int = 0
    checked_responses: int = 0
    seen_operations: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _validators: dict[str, jsonschema_rs.Draft4Validator] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path = SPEC_PATH) -> Contract:
        spec = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
        definitions = copy.deepcopy(spec["definitions"])
        for where, key, value, _reason in OVERRIDES:
            _set(definitions, where, key, value)
        operations = []
        for template, methods in spec["paths"].items():
            regex = "^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template)) + "$"
            for method, operation in methods.items():
                if method in ("get", "post", "put", "patch", "delete"):
                    operations.append(Operation(method.upper(), template, re.compile(regex), operation))
        # Literal paths before templated ones: /activities/contact_exports is not /activities/{activity_id}.
        operations.sort(key=lambda op: op.template.count("{"))
        return cls(spec["basePath"], operations, definitions)

    def _validator(self, schema_json: str) -> jsonschema_rs.Draft4Validator:
        validator = self._validators.get(schema_json)
        if validator is None:
            schema = orjson.loads(schema_json)
            validator = jsonschema_rs.Draft4Validator(
                {**schema, "definitions": self.definitions}, validate_formats=True, formats={"uuid": _is_uuid}
            )
            self._validators[schema_json] = validator
        return validator

    def _schema_problems(self, schema: dict[str, Any], instance: Any, where: str) -> list[str]:
        validator = self._validator(orjson.dumps(schema, option=orjson.OPT_SORT_KEYS).decode())
        return [
            f"{where}: {error.message} at {'/'.join(map(str, error.instance_path))}"
            for error in list(validator.iter_errors(instance))[:5]
        ]

    def find(self, method: str, url: httpx.URL) -> tuple[Operation, dict[str, str]] | None:
        if not url.path.startswith(self.base_path + "/"):
            return None
        path = url.path[len(self.base_path) :]
        for operation in self.operations:
            found = operation.pattern.match(path)
            if found and operation.method == method:
                return operation, found.groupdict()
        return None

    def is_api(self, url: httpx.URL) -> bool:
        return url.path.startswith(self.base_path + "/")

    # -- requests ------------------------------------------------------------------------------------------

    def request_problems(self, request: httpx.Request) -> list[str]:
        found = self.find(request.method, request.url)
        if found is None:
            return [f"{request.method} {request.url.path} is not an operation of the V3 spec"]
        operation, path_values = found
        with self._lock:
            self.checked_requests += 1
            self.seen_operations.add(operation.operation_id)
        where = f"{operation.operation_id} request"
        problems: list[str] = []
        if not request.headers.get("authorization", "").startswith("Bearer "):
            problems.append(f"{where}: no bearer token")
        parameters = operation.spec.get("parameters", [])
        declared_query = {p["name"]: p for p in parameters if p["in"] == "query"}
        for parameter in parameters:
            if parameter["in"] == "path":
                problems += _value_problems(parameter, path_values.get(parameter["name"]), where)
        query = dict(request.url.params.multi_items())
        for name, value in query.items():
            if name == "cursor":  # opaque paging cursor: it only ever comes from a _links.next href
                continue
            if name not in declared_query:
                problems.append(f"{where}: query parameter {name!r} is not in the spec")
            else:
                problems += _value_problems(declared_query[name], value, where)
        for name, parameter in declared_query.items():
            if parameter.get("required") and name not in query:
                problems.append(f"{where}: required query parameter {name!r} missing")
        body_parameter = next((p for p in parameters if p["in"] == "body"), None)
        form_parameters = [p for p in parameters if p["in"] == "formData"]
        content = request.read()
        content_type = request.headers.get("content-type", "")
        if body_parameter is not None:
            if not content_type.startswith("application/json"):
                problems.append(f"{where}: body sent as {content_type!r}, the spec consumes application/json")
            try:
                body = orjson.loads(content)
            except orjson.JSONDecodeError:
                return [*problems, f"{where}: the body is not JSON"]
            problems += self._schema_problems(body_parameter["schema"], body, where)
        elif form_parameters:
            problems += _form_problems(form_parameters, content_type, content, where)
        elif content:
            problems.append(f"{where}: a body was sent to an operation that takes none")
        return problems

    # -- responses -----------------------------------------------------------------------------------------

    def response_problems(self, request: httpx.Request, response: httpx.Response) -> list[str]:
        found = self.find(request.method, request.url)
        if found is None:
            return []
        operation, _ = found
        with self._lock:
            self.checked_responses += 1
        where = f"{operation.operation_id} response {response.status_code}"
        declared = operation.spec.get("responses", {})
        entry = declared.get(str(response.status_code))
        content = response.read()
        if response.status_code >= 400:
            # Error bodies follow the documented shapes: an array of {error_key, error_message}
            # (APIErrorSchema) or one such object (AuthorizationErrorSchema, the 429 bodies).
            try:
                body = orjson.loads(content)
            except orjson.JSONDecodeError:
                return [f"{where}: the error body is not JSON"]
            shape = "APIErrorSchema" if isinstance(body, list) else "AuthorizationErrorSchema"
            problems = self._schema_problems({"$ref": f"#/definitions/{shape}"}, body, where)
            items = body if isinstance(body, list) else [body]
            if not items or not all(isinstance(i, dict) and "error_key" in i and "error_message" in i for i in items):
                problems.append(f"{where}: the error body lacks error_key/error_message")
            return problems
        if entry is None:
            return [f"{where}: status {response.status_code} is not a documented answer of this operation"]
        schema = entry.get("schema")
        if schema is None:
            return []
        produces = operation.spec.get("produces", ["application/json"])
        if "application/json" not in produces:
            return (
                []
                if response.headers.get("content-type", "").startswith(produces[0])
                else [f"{where}: content type {response.headers.get('content-type')!r}, the spec produces {produces}"]
            )
        try:
            body = orjson.loads(content)
        except orjson.JSONDecodeError:
            return [f"{where}: the body is not JSON"]
        return self._schema_problems(schema, body, where)


def _value_problems(parameter: dict[str, Any], value: str | None, where: str) -> list[str]:
    name = parameter["name"]
    if value is None:
        return [f"{where}: required parameter {name!r} missing"] if parameter.get("required") else []
    kind = parameter.get("type")
    items = value.split(",") if parameter.get("format") == "csv" else [value]
    problems = []
    for item in items:
        if kind == "integer":
            if not re.fullmatch(r"-?\d+", item):
                problems.append(f"{where}: {name}={item!r} is not an integer")
                continue
            number = int(item)
            if "minimum" in parameter and number < parameter["minimum"]:
                problems.append(f"{where}: {name}={number} is below {parameter['minimum']}")
            if "maximum" in parameter and number > parameter["maximum"]:
                problems.append(f"{where}: {name}={number} is above {parameter['maximum']}")
        elif kind == "boolean" and item not in ("true", "false"):
            problems.append(f"{where}: {name}={item!r} is not true or false")
        if "enum" in parameter and item not in parameter["enum"]:
            problems.append(f"{where}: {name}={item!r} is not one of {parameter['enum']}")
        if parameter.get("format") == "uuid" and not _is_uuid(item):
            problems.append(f"{where}: {name}={item!r} is not a uuid")
    return problems


def _form_problems(parameters: list[dict[str, Any]], content_type: str, content: bytes, where: str) -> list[str]:
    if not content_type.startswith("multipart/form-data"):
        return [f"{where}: sent as {content_type!r}, the spec consumes multipart/form-data"]
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + content
    )
    parts: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        parts[str(name)] = part
    problems = []
    declared = {p["name"]: p for p in parameters}
    for name in parts:
        if name not in declared:
            problems.append(f"{where}: form field {name!r} is not in the spec")
    for name, parameter in declared.items():
        part = parts.get(name)
        if part is None:
            if parameter.get("required"):
                problems.append(f"{where}: required form field {name!r} missing")
            continue
        if parameter["type"] == "file":
            if not part.get_filename():
                problems.append(f"{where}: form field {name!r} must be a file")
            continue
        value = part.get_payload(decode=True).decode("utf-8")
        if (
            parameter.get("format") == "csv"
            and "maxItems" in parameter
            and len(value.split(",")) > parameter["maxItems"]
        ):
            problems.append(f"{where}: {name} holds more than {parameter['maxItems']} items")
        if "enum" in parameter and value not in parameter["enum"]:
            problems.append(f"{where}: {name}={value!r} is not one of {parameter['enum']}")
    return problems


class ContractViolation(AssertionError):
    pass


class ContractTransport(httpx.BaseTransport):
    """Wraps any transport; every V3 exchange through it is checked against the spec, and a violation fails the test."""

    def __init__(self, inner: httpx.BaseTransport, contract: Contract) -> None:
        self.inner = inner
        self.contract = contract

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if not self.contract.is_api(request.url):
            return self.inner.handle_request(request)
        problems = self.contract.request_problems(request)
        if problems:
            raise ContractViolation("segport sent a request the spec does not allow:\n  " + "\n  ".join(problems))
        response = self.inner.handle_request(request)
        response.read()
        problems = self.contract.response_problems(request, response)
        if problems:
            raise ContractViolation("the emulator answered outside the spec:\n  " + "\n  ".join(problems))
        return response

    def close(self) -> None:
        self.inner.close()
