#!/usr/bin/env python3
"""Local AWS emulator for the acceptance-test bed.

Runs moto's server application (the same WSGI app `moto_server` serves) on a
loopback address, with one addition: a small translating front for the Smithy
RPCv2-CBOR protocol, which moto 5.2.5 does not understand.

Why the front exists
--------------------
`aws-sdk-cloudwatch` (1.100 and later) talks to CloudWatch with RPCv2-CBOR:

    POST /service/GraniteServiceVersion20100801/operation/<Operation>
    smithy-protocol: rpc-v2-cbor
    Content-Type: application/cbor
    <CBOR map of the operation input>

moto routes nothing under `/service/...` (it answers 404 with an HTML page);
it only speaks CloudWatch's older Query (form-encoded, XML answers) and JSON
protocols. `CborBridge` below turns such a request into a Query request using
botocore's model of the service and botocore's own Query serializer, hands it
to moto's app in-process, parses moto's XML answer with botocore's Query
parser (which yields properly typed values: datetimes, bytes, ints, floats)
and encodes that as the CBOR answer the SDK expects. Every other request goes
to moto untouched.

Usage
-----
    emulator.py [--host 127.0.0.1] [--port 0] [--port-file FILE]
                [--exit-on-stdin-eof] [--quiet]
                [--route53-insync-delay SECONDS] [--codedeploy-minute SECONDS]
                [--appconfig-minute SECONDS]

Port 0 picks a free port. Once the socket is listening the chosen port is
printed as a line `PORT=<n>` on stdout and, with --port-file, written to that
file (atomically, so a reader never sees a partial number). SIGTERM and
SIGINT stop the server cleanly (exit status 0). With --exit-on-stdin-eof the
emulator also stops when its standard input reaches end-of-file, i.e. when the
process that started it (holding the pipe's other end) has gone away, so a
killed test run leaves no server behind.

Reset all emulated state between tests with `POST /moto-api/reset`.
"""

from __future__ import annotations

import argparse
import gzip
import io
import os
import re
import signal
import sys
import threading
import traceback
import urllib.parse
from datetime import datetime, timezone
from typing import Any, Callable, Iterable

import botocore.model
import botocore.parsers
import botocore.serialize
import botocore.session
import cbor2
from werkzeug.serving import make_server

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # sibling modules, also under `python -I`
import emulator_route53  # noqa: E402  (Route 53 as documented; see its docstring)

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)

# Sibling modules of this file (`python -I` leaves the script's directory off sys.path).
_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
import emulator_cloudwatch  # CloudWatch: a metric's dimensions are a set (see the module)
import emulator_cloudwatch_statistics  # CloudWatch: TC(X:Y) and PR(X:Y) in GetMetricData (see the module)
import emulator_lambda  # Lambda aliases: statuses, routing validation, RevisionId (see the module)
import emulator_codedeploy  # CodeDeploy: configs, Lambda and ECS deployments, rollbacks (see the module)
import emulator_appconfig  # AppConfig: feature flags, deployments, rollbacks, AppConfigData (see the module)

# Services whose RPCv2-CBOR requests are bridged, by botocore service name.
# The key the SDK puts in the URL (the Smithy service shape name) equals the
# model's `targetPrefix`, e.g. "GraniteServiceVersion20100801" for CloudWatch.
BRIDGED_SERVICES = ("cloudwatch",)

# The Smithy namespace of AWS service shapes, used to build `__type` values
# such as "com.amazonaws.cloudwatch#ResourceNotFound".
SMITHY_NAMESPACE = {"cloudwatch": "com.amazonaws.cloudwatch"}

ROUTE = re.compile(r"/service/(?P<service>[^/]+)/operation/(?P<operation>[^/]+)")

StartResponse = Callable[..., Any]


class CborBridge:
    """WSGI middleware: RPCv2-CBOR in front, AWS Query behind (moto)."""

    def __init__(self, app: Callable[..., Iterable[bytes]]):
        self.app = app
        session = botocore.session.get_session()
        self.models = {}
        for name in BRIDGED_SERVICES:
            model = session.get_service_model(name)
            self.models[model.metadata["targetPrefix"]] = model

    def __call__(self, environ: dict, start_response: StartResponse):
        route = ROUTE.fullmatch(environ.get("PATH_INFO", ""))
        if (
            route is None
            or environ.get("REQUEST_METHOD") != "POST"
            or environ.get("HTTP_SMITHY_PROTOCOL", "").lower() != "rpc-v2-cbor"
        ):
            return self.app(environ, start_response)
        try:
            return self._bridge(route, environ, start_response)
        except Exception as exc:  # a bug here must reach the client as a CBOR error, not an HTML page
            traceback.print_exc()
            return cbor_error(start_response, 500, "InternalFailure", f"emulator bridge: {exc!r}")

    def _bridge(self, route: re.Match, environ: dict, start_response: StartResponse):
        model = self.models.get(route["service"])
        if model is None:
            return cbor_error(
                start_response, 404, "UnknownOperationException",
                f"emulator: no RPCv2-CBOR bridge for service {route['service']!r}",
            )
        try:
            operation = model.operation_model(route["operation"])
        except botocore.model.OperationNotFoundError:
            return cbor_error(
                start_response, 404, "UnknownOperationException",
                f"emulator: {model.service_name} has no operation {route['operation']!r}",
            )
        try:
            params = _read_cbor_body(environ)
        except Exception as exc:  # malformed input is the client's fault
            return cbor_error(start_response, 400, "SerializationException", f"bad CBOR body: {exc}")

        # 1. CBOR input -> Query form body. cbor2 already decoded tag-1
        #    timestamps to aware datetimes and byte strings to bytes, which is
        #    exactly what botocore's serializer takes as parameters.
        query = botocore.serialize.create_serializer("query", include_validation=False)
        form = query.serialize_to_request(params, operation)["body"]
        body = urllib.parse.urlencode(form).encode()

        # 2. Ask moto, in-process, as if the client had used Query. The
        #    Authorization header (SigV4, credential scope ".../monitoring/...")
        #    is kept: moto uses it to pick the backend.
        inner = dict(environ)
        for key in ("HTTP_SMITHY_PROTOCOL", "HTTP_CONTENT_ENCODING", "HTTP_X_AMZ_TARGET"):
            inner.pop(key, None)
        inner.update(
            {
                "PATH_INFO": "/",
                "QUERY_STRING": "",
                "CONTENT_TYPE": "application/x-www-form-urlencoded; charset=utf-8",
                "CONTENT_LENGTH": str(len(body)),
                "HTTP_ACCEPT": "text/xml",
                "wsgi.input": io.BytesIO(body),
            }
        )
        status, headers, xml = call_wsgi(self.app, inner)

        # 3. moto's XML -> typed Python values, with botocore's Query parser.
        parser = botocore.parsers.create_parser("query")
        parsed = parser.parse(
            {"status_code": status, "headers": headers, "body": xml},
            operation.output_shape,
        )
        request_id = parsed.get("ResponseMetadata", {}).get("RequestId", "")

        # 4. Typed values -> CBOR answer (or CBOR error envelope).
        if status >= 300:
            error = parsed.get("Error", {})
            code = error.get("Code") or "InternalFailure"
            message = error.get("Message") or xml.decode("utf-8", "replace")[:500]
            return cbor_error(
                start_response, status, self._error_type(model, operation, code), message,
                query_error=f"{code};{error.get('Type') or ('Sender' if status < 500 else 'Receiver')}",
                request_id=request_id,
            )
        parsed.pop("ResponseMetadata", None)
        return _cbor_response(start_response, 200, parsed, request_id=request_id)

    @staticmethod
    def _error_type(model, operation, query_code: str) -> str:
        """Map a Query error code to the Smithy shape id of the modelled error.

        CloudWatch is `awsQueryCompatible`: an error shape like
        `InvalidFormatFault` has the Query code `InvalidFormat`. The SDK reads
        the code from the `x-amzn-query-error` header we also send, so this is
        mostly for fidelity (and for clients that only look at `__type`).
        """
        def code_of(shape) -> str:
            return shape.metadata.get("error", {}).get("code", shape.name)

        # Several shapes may share a code (CloudWatch's ResourceNotFound and
        # DashboardNotFoundError both use "ResourceNotFound"), so prefer the
        # errors this operation declares, then a shape named like the code.
        declared = [s.name for s in operation.error_shapes if code_of(s) == query_code]
        shape_name = declared[0] if declared else query_code
        namespace = SMITHY_NAMESPACE.get(model.service_name)
        return f"{namespace}#{shape_name}" if namespace else shape_name


def _read_cbor_body(environ: dict) -> dict:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else b""
    # The SDK gzips large PutMetricData bodies (@requestCompression).
    if environ.get("HTTP_CONTENT_ENCODING", "").lower() == "gzip":
        raw = gzip.decompress(raw)
    if not raw:
        return {}
    value = cbor2.loads(raw)
    if not isinstance(value, dict):
        raise ValueError("top-level value is not a map")
    return value


def call_wsgi(app, environ: dict) -> tuple[int, dict, bytes]:
    """Run a WSGI app in-process and collect (status, headers, body)."""
    captured: dict[str, Any] = {}

    def start_response(status: str, headers, exc_info=None):
        captured["status"] = int(status.split(" ", 1)[0])
        captured["headers"] = dict(headers)
        return lambda _data: None

    chunks = app(environ, start_response)
    try:
        body = b"".join(chunks)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    return captured["status"], captured["headers"], body


def _to_cbor_values(value: Any) -> Any:
    """Prepare parsed values for CBOR: timestamps become tag 1 (epoch seconds
    as a float, as Smithy does); bytes stay byte strings; containers recurse."""
    if isinstance(value, datetime):
        if value.tzinfo is None:  # botocore yields naive values only for UTC text without an offset
            value = value.replace(tzinfo=timezone.utc)
        return cbor2.CBORTag(1, value.timestamp())
    if isinstance(value, dict):
        return {k: _to_cbor_values(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_cbor_values(v) for v in value]
    return value


def _cbor_response(start_response: StartResponse, status: int, value: dict, *, request_id: str = "", extra_headers=()):
    body = cbor2.dumps(_to_cbor_values(value))
    headers = [
        ("Content-Type", "application/cbor"),
        ("smithy-protocol", "rpc-v2-cbor"),
        ("Content-Length", str(len(body))),
        *extra_headers,
    ]
    if request_id:
        headers.append(("x-amzn-RequestId", request_id))
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 500: "Internal Server Error"}.get(status, "Status")
    start_response(f"{status} {reason}", headers)
    return [body]


def cbor_error(start_response, status: int, error_type: str, message: str, *, query_error: str = "", request_id: str = ""):
    extra = [("x-amzn-query-error", query_error)] if query_error else []
    return _cbor_response(
        start_response, status, {"__type": error_type, "message": message},
        request_id=request_id, extra_headers=extra,
    )


def _write_port_file(path: str, port: int) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(f"{port}\n")
    os.replace(tmp, path)


def serve(server, name: str, what: str, *, port_file: str | None, exit_on_stdin_eof: bool) -> None:
    """Serve until SIGTERM, SIGINT or (with `exit_on_stdin_eof`) standard
    input's end; announce the port first (`PORT=<n>` on stdout, `port_file`).
    Shared by the emulator and `fault_proxy.py`, so both start and stop the same way."""
    port = server.server_address[1]

    def stop(_signum=None, _frame=None):
        # Runs in the main thread, interrupting serve_forever's select loop.
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if exit_on_stdin_eof:
        def watch_stdin():
            try:
                while sys.stdin.buffer.read(4096):
                    pass
            finally:
                os.kill(os.getpid(), signal.SIGTERM)
        threading.Thread(target=watch_stdin, name="stdin-watch", daemon=True).start()

    # The socket is already listening: connections made from now on queue up
    # until serve_forever accepts them, so announcing the port here is safe.
    if port_file:
        _write_port_file(port_file, port)
    print(f"PORT={port}", flush=True)
    host = server.server_address[0]
    print(f"{name}: {what} on http://{host}:{port}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except SystemExit:
        pass
    finally:
        server.server_close()
    print(f"{name}: stopped", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0 picks a free port")
    ap.add_argument("--port-file", help="also write the chosen port to this file")
    ap.add_argument("--exit-on-stdin-eof", action="store_true",
                    help="stop when standard input is closed (parent gone)")
    ap.add_argument("--quiet", action="store_true", help="no per-request log lines")
    emulator_route53.add_arguments(ap)
    emulator_codedeploy.add_arguments(ap)
    emulator_appconfig.add_arguments(ap)
    args = ap.parse_args(argv)

    app = CborBridge(emulator_route53.wrap(DomainDispatcherApplication(create_backend_app), args))
    emulator_cloudwatch.install()
    emulator_cloudwatch_statistics.install()
    app = emulator_lambda.wrap(app)
    app = emulator_codedeploy.wrap(app, args)
    app = emulator_appconfig.wrap(app, args)
    handler = MotoRequestHandler
    if args.quiet:
        class QuietHandler(MotoRequestHandler):
            def log_request(self, *a, **k):  # noqa: D401 - werkzeug hook
                pass
        handler = QuietHandler
    server = make_server(args.host, args.port, app, threaded=True, request_handler=handler)
    serve(server, "emulator", f"moto (RPCv2-CBOR bridge for {', '.join(BRIDGED_SERVICES)})",
          port_file=args.port_file, exit_on_stdin_eof=args.exit_on_stdin_eof)
    return 0


if __name__ == "__main__":
    sys.exit(main())
