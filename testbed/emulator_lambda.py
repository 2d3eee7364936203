"""Lambda alias fidelity for the emulator (moto 5.2.5 underneath).

Each item: what moto does, what AWS documents, what the emulator does.

Status codes and content type
-----------------------------
* moto answers GetAlias and UpdateAlias with HTTP 201, DeleteAlias with 201
  and a ``{}`` body, TagResource with 200 and ``{}``, and most Lambda answers
  carry ``Content-Type: text/html; charset=utf-8``.
* AWS (Lambda API reference, "Response Syntax" of each action): CreateAlias
  201, GetAlias 200, UpdateAlias 200, DeleteAlias 204, TagResource 204 and
  UntagResource 204 with an empty body; JSON bodies are ``application/json``.
* The emulator: the four alias handlers of moto's ``LambdaResponse`` are
  replaced (below) and answer with AWS's statuses; ``LambdaRestFront``, a
  WSGI middleware, gives every Lambda REST answer that moto labels
  ``text/html`` the type ``application/json`` (Invoke's payload is left
  alone), empties 204 bodies, and turns TagResource's 200 into 204.

Alias routing (RoutingConfig.AdditionalVersionWeights)
------------------------------------------------------
moto stores whatever it is given. AWS documents (API reference,
AliasRoutingConfiguration; developer guide, "Implement Lambda canary
deployments using a weighted alias"):

* an alias points to at most two versions: at most one additional version;
* keys match ``[0-9]+`` (1 to 1024 characters), weights are in 0.0 .. 1.0;
* both versions must be published: the alias cannot point to ``$LATEST``;
* both versions must have the same execution role (and the same dead-letter
  queue configuration; moto does not keep DeadLetterConfig, so that one is
  not checked);
* FunctionVersion matches ``(\\$LATEST|[0-9]+)`` (moto would also accept an
  alias name there).

The emulator checks these in CreateAlias and UpdateAlias, against the alias
as it will be after the call (UpdateAlias without RoutingConfig keeps the
current weights; without FunctionVersion keeps the current version):

* a value outside a documented constraint (pattern, range): HTTP 400
  ``ValidationException`` (Lambda's common error for input that fails a
  modelled constraint), "1 validation error detected: ..." style message;
* more than one additional version, ``$LATEST`` together with routing, the
  additional version equal to FunctionVersion, different execution roles:
  HTTP 400 ``InvalidParameterValueException``;
* an additional version that does not exist: HTTP 404
  ``ResourceNotFoundException`` "Function not found: <qualified ARN>" (the
  same error moto gives for a missing primary version).

The messages are the emulator's own wording, not copies of AWS's.

``RoutingConfig: {}`` or an empty ``AdditionalVersionWeights`` clears the
routing in the same call (as on AWS); the alias is then shown without
``RoutingConfig``.

RevisionId and conflicts
------------------------
* moto keeps an alias's RevisionId forever and ignores UpdateAlias'
  ``RevisionId``. AWS: every update gives the alias a new RevisionId, and
  UpdateAlias with a RevisionId that is not the current one fails with HTTP
  412 ``PreconditionFailedException``. The emulator does both.
* moto answers CreateAlias of an existing name with ``ConflictException``;
  AWS's CreateAlias error is HTTP 409 ``ResourceConflictException``.

Function tags (TagResource / ListTags / UntagResource by function ARN) work
in moto as documented apart from the statuses above.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any
from urllib.parse import unquote

from moto.awslambda import models as lambda_models
from moto.awslambda import responses as lambda_responses
from moto.awslambda.exceptions import (
    ConflictException,
    InvalidParameterValueException,
    LambdaClientError,
    PreconditionFailedException,
)

_installed = False

VERSION_PATTERN = re.compile(r"\$LATEST|[0-9]+")
WEIGHT_KEY_PATTERN = re.compile(r"[0-9]+")
ALIAS_PATH = re.compile(r"/[^/]+/functions/(?P<function>[^/]+)/aliases(?:/(?P<alias>[^/?]+))?")
LAMBDA_REST_PATH = re.compile(r"/20[0-9]{2}-[0-9]{2}-[0-9]{2}/(functions|tags)(/|$)")
TAGS_PATH = re.compile(r"/20[0-9]{2}-[0-9]{2}-[0-9]{2}/tags/")



def _headers(status: int) -> dict:
    # moto takes the HTTP status of a handler's answer from the "status" header entry.
    return {"status": status, "Content-Type": "application/json"}


class ValidationException(LambdaClientError):
    code = 400

    def __init__(self, message: str):
        super().__init__("ValidationException", message)


class ResourceConflictException(LambdaClientError):
    code = 409

    def __init__(self, message: str):
        super().__init__("ResourceConflictException", message)


def _constraint_error(value: Any, field: str, constraint: str) -> ValidationException:
    return ValidationException(
        f"1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: {constraint}"
    )


def _check_shapes(function_version: Any, routing_config: Any) -> None:
    """Documented model constraints of FunctionVersion and RoutingConfig."""
    if function_version is not None and not (
        isinstance(function_version, str) and VERSION_PATTERN.fullmatch(function_version)
    ):
        raise _constraint_error(function_version, "functionVersion",
                                "Member must satisfy regular expression pattern: (\\$LATEST|[0-9]+)")
    if routing_config is None:
        return
    if not isinstance(routing_config, dict):
        raise _constraint_error(routing_config, "routingConfig", "Member must be a structure")
    weights = routing_config.get("AdditionalVersionWeights")
    if weights is None:
        return
    if not isinstance(weights, dict):
        raise _constraint_error(weights, "routingConfig.additionalVersionWeights", "Member must be a map")
    for key, weight in weights.items():
        if not (isinstance(key, str) and 1 <= len(key) <= 1024 and WEIGHT_KEY_PATTERN.fullmatch(key)):
            raise _constraint_error(key, "routingConfig.additionalVersionWeights",
                                    "Map keys must satisfy constraint: [Member must satisfy regular "
                                    "expression pattern: [0-9]+, Member must have length between 1 and 1024]")
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0.0 <= weight <= 1.0:
            raise _constraint_error(weight, "routingConfig.additionalVersionWeights",
                                    "Map value must satisfy constraint: [Member must have value less than or "
                                    "equal to 1.0, Member must have value greater than or equal to 0.0]")


def _weights(routing_config: Any) -> dict:
    if not routing_config:
        return {}
    return dict(routing_config.get("AdditionalVersionWeights") or {})


def _check_routing(storage: Any, function_name: str, primary: str, weights: dict) -> None:
    """AWS's rules for an alias that points to two versions."""
    if not weights:
        return
    if len(weights) > 1:
        raise InvalidParameterValueException(
            f"An alias can point to at most two versions: AdditionalVersionWeights names "
            f"{len(weights)} additional versions ({', '.join(sorted(weights))}), at most 1 is allowed."
        )
    (extra,) = weights
    if primary.upper() == "$LATEST":
        raise InvalidParameterValueException(
            "An alias with a routing configuration must point to published versions; "
            "FunctionVersion $LATEST cannot be combined with AdditionalVersionWeights."
        )
    if extra == primary:
        raise InvalidParameterValueException(
            f"The additional version {extra} in AdditionalVersionWeights must differ from "
            f"the alias's FunctionVersion {primary}."
        )
    # Raises ResourceNotFoundException "Function not found: <arn>:<version>" when missing.
    first = storage.get_function_by_name_or_arn_with_qualifier(function_name, primary)
    second = storage.get_function_by_name_or_arn_with_qualifier(function_name, extra)
    if first.role != second.role:
        raise InvalidParameterValueException(
            f"Versions {primary} and {extra} have different execution roles; both versions of "
            f"a weighted alias must use the same role."
        )


def _alias_json(alias: Any) -> dict:
    body = alias.to_json()
    if not _weights(body.get("RoutingConfig")):
        body.pop("RoutingConfig", None)
    return body


def _names_from_path(path: str) -> tuple[str, str | None]:
    match = ALIAS_PATH.search(path.split("?", 1)[0])
    if match is None:
        raise InvalidParameterValueException(f"emulator: cannot read the function and alias from {path}")
    alias = match["alias"]
    return unquote(match["function"]), unquote(alias) if alias is not None else None


def install() -> None:
    """Patch moto's Lambda backend and response handlers (idempotent)."""
    global _installed
    if _installed:
        return
    _installed = True

    storage_class = lambda_models.LambdaStorage
    moto_put_alias = storage_class.put_alias
    moto_update_alias = storage_class.update_alias

    def put_alias(self, name, function_name, function_version, description, routing_config):
        _check_shapes(function_version, routing_config)
        _check_routing(self, function_name, function_version or "", _weights(routing_config))
        try:
            alias = moto_put_alias(self, name, function_name, function_version, description,
                                   routing_config if _weights(routing_config) else None)
        except ConflictException as exc:
            raise ResourceConflictException(exc.message) from None
        return alias

    def update_alias(self, name, function_name, function_version, description, routing_config,
                     revision_id=None):
        _check_shapes(function_version, routing_config)
        alias = self.get_alias(name, function_name)
        if revision_id is not None and revision_id != alias.revision_id:
            raise PreconditionFailedException(
                "The RevisionId given does not match the alias's current RevisionId; "
                "call GetAlias for the current one."
            )
        primary = function_version if function_version is not None else alias.function_version
        weights = _weights(routing_config) if routing_config is not None else _weights(alias.routing_config)
        _check_routing(self, function_name, primary, weights)
        alias = moto_update_alias(self, name, function_name, function_version, description, routing_config)
        if not _weights(alias.routing_config):
            alias.routing_config = None
        alias.revision_id = str(uuid.uuid4())
        return alias

    storage_class.put_alias = put_alias
    storage_class.update_alias = update_alias

    def backend_update_alias(self, name, function_name, function_version, description, routing_config,
                             revision_id=None):
        return self._lambdas.update_alias(name, function_name, function_version, description,
                                          routing_config, revision_id)

    lambda_models.LambdaBackend.update_alias = backend_update_alias

    # Response handlers with AWS's status codes and content type.
    response_class = lambda_responses.LambdaResponse

    def create_alias(self):
        function_name, _ = _names_from_path(self.path)
        params = json.loads(self.body or "{}")
        alias = self.backend.create_alias(
            name=params.get("Name"),
            function_name=function_name,
            function_version=params.get("FunctionVersion"),
            description=params.get("Description", ""),
            routing_config=params.get("RoutingConfig"),
        )
        return 201, _headers(201), json.dumps(_alias_json(alias))

    def get_alias(self):
        function_name, alias_name = _names_from_path(self.path)
        alias = self.backend.get_alias(name=alias_name, function_name=function_name)
        return 200, _headers(200), json.dumps(_alias_json(alias))

    def update_alias_response(self):
        function_name, alias_name = _names_from_path(self.path)
        params = json.loads(self.body or "{}")
        alias = self.backend.update_alias(
            name=alias_name,
            function_name=function_name,
            function_version=params.get("FunctionVersion"),
            description=params.get("Description"),
            routing_config=params.get("RoutingConfig"),
            revision_id=params.get("RevisionId"),
        )
        return 200, _headers(200), json.dumps(_alias_json(alias))

    def delete_alias(self):
        function_name, alias_name = _names_from_path(self.path)
        self.backend.delete_alias(name=alias_name, function_name=function_name)
        return 204, {"status": 204}, ""

    response_class.create_alias = create_alias
    response_class.get_alias = get_alias
    response_class.update_alias = update_alias_response
    response_class.delete_alias = delete_alias


class LambdaRestFront:
    """WSGI middleware: AWS's content type and empty 204 bodies for Lambda's
    REST-JSON answers, and TagResource's 204."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ: dict, start_response):
        path = environ.get("PATH_INFO", "")
        if not LAMBDA_REST_PATH.match(path) or path.endswith("/invocations"):
            return self.app(environ, start_response)
        tag_resource = environ.get("REQUEST_METHOD") == "POST" and TAGS_PATH.match(path) is not None
        captured: dict[str, Any] = {}

        def capture(status: str, headers, exc_info=None):
            captured["status"], captured["headers"] = status, list(headers)
            return lambda _data: None

        chunks = self.app(environ, capture)
        try:
            body = b"".join(chunks)
        finally:
            if hasattr(chunks, "close"):
                chunks.close()
        status, headers = captured["status"], captured["headers"]
        code = int(status.split(" ", 1)[0])
        if tag_resource and code == 200:
            code, status = 204, "204 No Content"
        if code == 204:
            body = b""
        fixed = []
        for name, value in headers:
            lower = name.lower()
            if lower == "content-length":
                continue
            if lower == "content-type" and value.lower().startswith("text/html"):
                value = "application/json"
            fixed.append((name, value))
        if code != 204:
            fixed.append(("Content-Length", str(len(body))))
        start_response(status, fixed)
        return [body]


def wrap(app):
    """Install the patches and put the middleware in front of ``app``."""
    install()
    return LambdaRestFront(app)
