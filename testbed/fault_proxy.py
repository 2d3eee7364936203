#!/usr/bin/env python3
"""Fault-injecting HTTP proxy between an AWS client and the emulator.

Real AWS throttles, fails and drops connections; the emulator never does. This
proxy sits in front of it (loopback only) so that the provider's retry and
recovery paths can be tested: every request is forwarded, except that, per a
seeded random draw, some get a fault instead of or around the forwarding.

Usage
-----
    fault_proxy.py --upstream http://127.0.0.1:<emulator port>
                   [--port 0] [--port-file FILE] [--exit-on-stdin-eof] [--quiet]
                   [--fault SCOPE=KIND:PROBABILITY ...] [--seed 1] [--slow-delay 1.0]

It listens on 127.0.0.1 and starts and stops like `emulator.py` (`PORT=<n>`
on stdout, `--port-file`, SIGTERM/SIGINT, `--exit-on-stdin-eof`). An upstream
that is not `http://` on a loopback address is refused.

Faults
------
SCOPE is `*` (every request), a service (`elbv2`, `cloudwatch`, `lambda`,
`route53`, `codedeploy`, `appconfig`: botocore's names) or `SERVICE:Operation` (`lambda:UpdateAlias`).
For each kind the most specific scope that names it wins, so
`--fault '*=throttle:0.2' --fault 'route53:GetChange=throttle:0'` throttles
everything but GetChange. A request's kinds share one draw: their
probabilities are stacked and must add up to at most 1 for every scope.

* `throttle`: the service's throttling error (below), not forwarded.
* `unavailable`: HTTP 503 `ServiceUnavailable` (Type `Receiver`), not forwarded.
* `reset`: the request is read, then the connection closed without an answer.
* `slow`: forwarded; the answer goes back after `--slow-delay` seconds.
* `late`: forwarded (the change happens upstream), then the connection is
  closed without the answer: the client sees a failure of a write that took.

Control endpoints (never forwarded):
`GET /_fault_proxy/stats` → `{"requests": {service: {operation: n}},
"faults": {service: {operation: {kind: n}}}}`; `DELETE /_fault_proxy/stats`
zeroes it; `PUT /_fault_proxy/faults` with `{"faults": [SCOPE=KIND:P, ...],
"seed": n, "slow_delay": s}` replaces the faults (and restarts the draws;
`seed` and `slow_delay` default to the command line's), 400 when invalid.

Identification
--------------
The service is the SigV4 credential scope's signing name (the emulator's
`emulator_route53.CREDENTIAL`), mapped to its botocore model. The operation:
RPCv2-CBOR (`smithy-protocol: rpc-v2-cbor`) from the path
`/service/<prefix>/operation/<Op>` (the emulator's `CborBridge` route); JSON
from `X-Amz-Target: <prefix>.<Op>`; Query from the form's `Action`; rest-json
and rest-xml by matching method and path against the model's `requestUri`
templates. The protocol found decides the error shape. Requests of a service
without a model here are forwarded untouched (and counted under `?`).

Error shapes and the AWS facts behind them
------------------------------------------
* Throttling on ELBv2 and CloudWatch: HTTP 400, code `Throttling`, message
  "Rate exceeded". CloudWatch's knowledge-center article on "400
  ThrottlingException" shows the Query body `<ErrorResponse><Error><Type>Sender
  </Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error>
  <RequestId>...</RequestId></ErrorResponse>`; the ELB API reference's common
  errors list `Throttling` among the errors of all actions.
* Throttling on Route 53: HTTP 400, code `Throttling`, message "Rate
  exceeded" in the same `ErrorResponse` envelope (knowledge center, "API
  throttling errors in Route 53"; the account limit is five requests a
  second). Its other throttle, `PriorRequestNotComplete` (HTTP 400, for a
  request to a hosted zone still processing an earlier one), is not injected.
* Throttling on Lambda: HTTP 429 `TooManyRequestsException` ("The request
  throughput limit was exceeded"); its members are `Type`, `message`,
  `Reason` (e.g. `CallerRateLimitExceeded`) and `retryAfterSeconds`, which
  the model binds to the `Retry-After` header. rest-json puts the code in
  `x-amzn-ErrorType`.
* `ServiceUnavailable` is HTTP 503 in the common errors of the Query APIs.

Per protocol: Query and rest-xml send that XML `ErrorResponse` (`text/xml`,
with the service's namespace); JSON `{"__type": code, "message": ...}`;
rest-json `x-amzn-ErrorType: code` and a JSON body; RPCv2-CBOR the emulator's
CBOR error (`__type` `com.amazonaws.cloudwatch#<code>`). CloudWatch is
`awsQueryCompatible`, so its JSON and CBOR errors also carry
`x-amzn-query-error: <code>;Sender|Receiver`, from which the SDKs take the
Query code. botocore's standard retries treat `Throttling` and
`TooManyRequestsException` as throttling errors and 503 as transient.
"""

from __future__ import annotations

import argparse
import collections
import gzip
import http.client
import ipaddress
import json
import os
import random
import re
import sys
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.sax.saxutils import escape

import botocore.session

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # sibling modules, also under `python -I`
import emulator  # noqa: E402  (CBOR route and error, serve)
import emulator_route53  # noqa: E402  (signing name, Route 53 namespace)

KINDS = ("throttle", "unavailable", "reset", "slow", "late")
CONTROL = "/_fault_proxy/"

# The botocore model of each signing name the provider calls.
MODEL_OF_SIGNING_NAME = {
    "elasticloadbalancing": "elbv2",
    "monitoring": "cloudwatch",
    "lambda": "lambda",
    "route53": "route53",
    "codedeploy": "codedeploy",
    # AppConfig's data plane signs as `appconfig` too; its calls are counted as operation `?`.
    "appconfig": "appconfig",
}
# Route 53's model has no xmlNamespace in its metadata.
XML_NAMESPACES = {"route53": emulator_route53.NAMESPACE}

HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade",
              "content-length"}


@dataclass(frozen=True)
class ErrorAnswer:
    status: int
    code: str
    message: str
    headers: tuple = ()
    fields: dict = field(default_factory=dict)


THROTTLED = ErrorAnswer(400, "Throttling", "Rate exceeded")
THROTTLED_BY_SERVICE = {
    "lambda": ErrorAnswer(429, "TooManyRequestsException", "Rate exceeded", headers=(("Retry-After", "1"),),
                          fields={"Type": "User", "Reason": "CallerRateLimitExceeded"}),
}
UNAVAILABLE = ErrorAnswer(503, "ServiceUnavailable", "Service is unavailable. Try again later.")


@dataclass(frozen=True)
class Call:
    service: str
    operation: str
    protocol: str | None  # botocore's protocol names; None: unknown service, never faulted
    model: object | None


class Identifier:
    """Service, operation and protocol of a request (see the module docstring)."""

    def __init__(self):
        session = botocore.session.get_session()
        self.models = {name: session.get_service_model(service) for name, service in MODEL_OF_SIGNING_NAME.items()}
        self.rest_routes = {name: _rest_routes(model) for name, model in self.models.items()
                            if model.protocol in ("rest-json", "rest-xml")}

    def identify(self, method: str, target: str, headers, body: bytes) -> Call:
        credential = emulator_route53.CREDENTIAL.search(headers.get("Authorization", ""))
        signing_name = credential["service"] if credential else "?"
        model = self.models.get(signing_name)
        service = model.service_name if model else signing_name
        path, _, query = target.partition("?")
        cbor_route = emulator.ROUTE.fullmatch(path)
        if cbor_route and headers.get("smithy-protocol", "").lower() == "rpc-v2-cbor":
            return Call(service, cbor_route["operation"], "smithy-rpc-v2-cbor", model)
        if headers.get("X-Amz-Target"):
            return Call(service, headers["X-Amz-Target"].rpartition(".")[2], "json", model)
        form = urllib.parse.parse_qs(query)
        if headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
            if headers.get("Content-Encoding", "").lower() == "gzip":
                body = gzip.decompress(body)
            form.update(urllib.parse.parse_qs(body.decode("utf-8", "replace")))
        if "Action" in form:
            return Call(service, form["Action"][0], "query", model)
        if model is None:
            return Call(service, "?", None, None)
        operation = next((name for verb, pattern, keys, name in self.rest_routes.get(signing_name, ())
                          if verb == method and pattern.fullmatch(path.rstrip("/") or "/")
                          and keys <= set(urllib.parse.parse_qs(query, keep_blank_values=True))), "?")
        return Call(service, operation, model.protocol, model)


def _rest_routes(model) -> list[tuple[str, re.Pattern, set, str]]:
    """(method, path pattern, query keys the URI requires, operation) of a
    rest model, the most literal templates first so that
    `/functions/{F}/aliases` is not taken for `/functions/{F}`."""
    routes = []
    for name in model.operation_names:
        http_spec = model.operation_model(name).http
        path, _, query = http_spec["requestUri"].partition("?")
        path = path.rstrip("/") or "/"
        pattern = "".join(
            ("(.+)" if part.endswith("+}") else "([^/]+)") if part.startswith("{") else re.escape(part)
            for part in re.split(r"(\{[^}]+\})", path))
        literal = len(re.sub(r"\{[^}]+\}", "", path))
        keys = {pair.partition("=")[0] for pair in query.split("&") if pair}
        routes.append((literal + len(keys), http_spec["method"], re.compile(pattern), keys, name))
    routes.sort(key=lambda route: -route[0])
    return [route[1:] for route in routes]


def error_response(call: Call, kind: str) -> tuple[int, list[tuple[str, str]], bytes]:
    """The throttling or unavailable answer in the request's protocol."""
    answer = THROTTLED_BY_SERVICE.get(call.service, THROTTLED) if kind == "throttle" else UNAVAILABLE
    fault_type = "Sender" if answer.status < 500 else "Receiver"
    metadata = call.model.metadata if call.model else {}
    query_error = [("x-amzn-query-error", f"{answer.code};{fault_type}")] if "awsQueryCompatible" in metadata else []
    request_id = str(uuid.uuid4())
    if call.protocol == "smithy-rpc-v2-cbor":
        namespace = emulator.SMITHY_NAMESPACE.get(call.service)
        status, headers, body = emulator.call_wsgi(lambda _environ, start_response: emulator.cbor_error(
            start_response, answer.status, f"{namespace}#{answer.code}" if namespace else answer.code,
            answer.message, query_error=query_error[0][1] if query_error else "", request_id=request_id), {})
        return status, [*headers.items(), *answer.headers], body
    if call.protocol in ("json", "rest-json"):
        body = {"message": answer.message, **answer.fields}
        headers = [("x-amzn-RequestId", request_id), *answer.headers]
        if call.protocol == "json":
            body = {"__type": answer.code, **body}
            content_type = f"application/x-amz-json-{metadata.get('jsonVersion', '1.0')}"
            headers += query_error
        else:
            content_type = "application/json"
            headers.append(("x-amzn-ErrorType", answer.code))
        return answer.status, [("Content-Type", content_type), *headers], json.dumps(body).encode()
    namespace = metadata.get("xmlNamespace") or XML_NAMESPACES.get(call.service)
    xmlns = f' xmlns="{namespace}"' if namespace else ""
    body = (f"<ErrorResponse{xmlns}><Error><Type>{fault_type}</Type><Code>{answer.code}</Code>"
            f"<Message>{escape(answer.message)}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>")
    return answer.status, [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id), *answer.headers], \
        body.encode()


class FaultPlan:
    """Which fault, if any, a request gets: one seeded draw per request."""

    def __init__(self, specs: list[str], seed: int, slow_delay: float):
        if slow_delay < 0:
            raise ValueError(f"slow delay {slow_delay} is negative")
        self.slow_delay = slow_delay
        self.by_scope: dict[tuple, dict[str, float]] = collections.defaultdict(dict)
        for spec in specs:
            scope, kind, probability = _parse_fault(spec)
            self.by_scope[scope][kind] = probability
        for scope in list(self.by_scope):
            total = sum(self._probabilities(*scope).values())
            if total > 1:
                raise ValueError(f"fault probabilities of {':'.join(filter(None, scope)) or '*'} add up to {total:g} (> 1)")
        self.random = random.Random(seed)
        self.lock = threading.Lock()

    def _probabilities(self, service: str | None, operation: str | None) -> dict[str, float]:
        return {**self.by_scope.get((None, None), {}), **self.by_scope.get((service, None), {}),
                **self.by_scope.get((service, operation), {})}

    def draw(self, call: Call) -> str | None:
        with self.lock:
            draw = self.random.random()
        probabilities = self._probabilities(call.service, call.operation)
        for kind in KINDS:
            draw -= probabilities.get(kind, 0.0)
            if draw < 0:
                return kind
        return None


def _parse_fault(spec: str) -> tuple[tuple, str, float]:
    """`SCOPE=KIND:PROBABILITY` → ((service, operation), kind, probability)."""
    scope, equals, fault = spec.partition("=")
    kind, colon, probability_text = fault.partition(":")
    if not equals or not colon or kind not in KINDS:
        raise ValueError(f"fault {spec!r} is not SCOPE=KIND:PROBABILITY with KIND one of {', '.join(KINDS)}")
    try:
        probability = float(probability_text)
    except ValueError:
        probability = -1.0
    if not 0 <= probability <= 1:
        raise ValueError(f"fault {spec!r}: probability {probability_text!r} is not a number from 0 to 1")
    service, _, operation = scope.partition(":")
    if scope == "*":
        return (None, None), kind, probability
    return (service, operation or None), kind, probability


class Stats:
    """Requests seen and faults injected, per service, operation and kind."""

    def __init__(self):
        self.lock = threading.Lock()
        self.clear()

    def clear(self) -> None:
        with self.lock:
            self.requests: collections.Counter = collections.Counter()
            self.faults: collections.Counter = collections.Counter()

    def count(self, call: Call, fault: str | None) -> None:
        with self.lock:
            self.requests[call.service, call.operation] += 1
            if fault:
                self.faults[call.service, call.operation, fault] += 1

    def as_json(self) -> dict:
        with self.lock:
            requests: dict = collections.defaultdict(dict)
            for (service, operation), n in self.requests.items():
                requests[service][operation] = n
            faults: dict = collections.defaultdict(lambda: collections.defaultdict(dict))
            for (service, operation, kind), n in self.faults.items():
                faults[service][operation][kind] = n
        return {"requests": requests, "faults": faults}


class FaultProxy(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, upstream: tuple[str, int], plan: FaultPlan, seed: int, quiet: bool):
        super().__init__(("127.0.0.1", port), ProxyHandler)
        self.upstream, self.plan, self.seed, self.quiet = upstream, plan, seed, quiet
        self.identifier = Identifier()
        self.stats = Stats()


class ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the SDKs expect
    server: FaultProxy

    def handle_any(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.startswith(CONTROL):
            return self._control(body)
        call = self.server.identifier.identify(self.command, self.path, self.headers, body)
        fault = self.server.plan.draw(call) if call.protocol else None
        self.server.stats.count(call, fault)
        if fault in ("throttle", "unavailable"):
            return self._answer(*error_response(call, fault))
        if fault == "reset":
            self.close_connection = True
            return None
        answer = self._forward(body)
        if fault == "late":
            self.close_connection = True
            return None
        if fault == "slow":
            time.sleep(self.server.plan.slow_delay)
        return self._answer(*answer)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = handle_any

    def _forward(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        connection = http.client.HTTPConnection(*self.server.upstream, timeout=120)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            connection.request(self.command, self.path, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, [(k, v) for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP], \
                response.read()
        finally:
            connection.close()

    def _answer(self, status: int, headers, body: bytes) -> None:
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in HOP_BY_HOP:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _control(self, body: bytes) -> None:
        route = (self.command, self.path[len(CONTROL):])
        if route == ("GET", "stats"):
            return self._json(200, self.server.stats.as_json())
        if route == ("DELETE", "stats"):
            self.server.stats.clear()
            return self._json(200, {})
        if route == ("PUT", "faults"):
            try:
                config = json.loads(body or b"{}")
                self.server.plan = FaultPlan(config.get("faults", []), config.get("seed", self.server.seed),
                                             config.get("slow_delay", self.server.plan.slow_delay))
            except (ValueError, TypeError, AttributeError) as error:
                return self._json(400, {"error": str(error)})
            return self._json(200, {})
        return self._json(404, {"error": f"no control endpoint {self.command} {self.path}"})

    def _json(self, status: int, value) -> None:
        self._answer(status, [("Content-Type", "application/json")], json.dumps(value).encode())

    def log_message(self, format, *args):  # noqa: A002 - BaseHTTPRequestHandler's signature
        if not self.server.quiet:
            super().log_message(format, *args)


def loopback_upstream(url: str) -> tuple[str, int]:
    """(host, port) of an `http://` URL on a loopback address; anything else
    is refused, so the proxy can never send test traffic elsewhere."""
    parsed = urllib.parse.urlsplit(url)
    try:
        loopback = parsed.scheme == "http" and parsed.port is not None and (
            parsed.hostname == "localhost" or ipaddress.ip_address(parsed.hostname or "").is_loopback)
    except ValueError:
        loopback = False
    if not loopback:
        raise argparse.ArgumentTypeError(f"{url!r} is not http://<loopback address>:<port>")
    return parsed.hostname, parsed.port


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--upstream", required=True, type=loopback_upstream,
                    help="the emulator, http://127.0.0.1:<port> (loopback only)")
    ap.add_argument("--port", type=int, default=0, help="0 picks a free port")
    ap.add_argument("--port-file", help="also write the chosen port to this file")
    ap.add_argument("--exit-on-stdin-eof", action="store_true",
                    help="stop when standard input is closed (parent gone)")
    ap.add_argument("--quiet", action="store_true", help="no per-request log lines")
    ap.add_argument("--fault", action="append", default=[], metavar="SCOPE=KIND:PROBABILITY",
                    help=f"SCOPE: *, SERVICE or SERVICE:Operation; KIND: {', '.join(KINDS)}")
    ap.add_argument("--seed", type=int, default=1, help="seed of the fault draws")
    ap.add_argument("--slow-delay", type=float, default=1.0, help="seconds a `slow` answer is held back")
    args = ap.parse_args(argv)
    try:
        plan = FaultPlan(args.fault, args.seed, args.slow_delay)
    except ValueError as error:
        ap.error(str(error))
    server = FaultProxy(args.port, args.upstream, plan, args.seed, args.quiet)
    emulator.serve(server, "fault proxy", f"forwarding to http://{args.upstream[0]}:{args.upstream[1]}",
                   port_file=args.port_file, exit_on_stdin_eof=args.exit_on_stdin_eof)
    return 0


if __name__ == "__main__":
    sys.exit(main())
