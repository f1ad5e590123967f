# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Concurrent HTTP requests for checks that hit many endpoints at once.

Standard library only (urllib + a thread pool): every endpoint gets its own
timeout, one hanging endpoint costs at most its timeout, and the results come
back in the order the endpoints were given.
"""

import base64
import http.client
import socket
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError
from ansible.module_utils.six.moves.urllib.parse import unquote, urlsplit, urlunsplit
from ansible.module_utils.six.moves.urllib.request import HTTPSHandler, Request, build_opener

BODY_LIMIT = 65536


def redact_url(url):
    """The URL without user:password (for output and records)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, "***@" + host, parts.path, parts.query, parts.fragment))


def split_credentials(url, headers):
    """(url without user:password, headers) with user:password sent as Basic authentication, as curl does,
    unless the headers already hold an Authorization."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, headers
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port:
        host = f"{host}:{parts.port}"
    headers = dict(headers)
    if not any(name.lower() == "authorization" for name in headers):
        pair = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment)), headers


_OPENERS = {}
_OPENERS_LOCK = threading.Lock()


def _opener(validate_certs):
    """One opener (and one TLS context: loading the CA store costs milliseconds and megabytes) per
    certificate policy, shared by every request of the process; urllib openers are thread-safe."""
    with _OPENERS_LOCK:
        if validate_certs not in _OPENERS:
            context = ssl.create_default_context()
            if not validate_certs:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            _OPENERS[validate_certs] = build_opener(HTTPSHandler(context=context))
        return _OPENERS[validate_certs]


def fetch(request):
    """One request: dict(url, method, headers, data (bytes to send), timeout, validate_certs, body_limit).

    Returns dict(status_code, headers (names lower-cased), body, latency_ms, error) and never raises
    for a network problem: a refused connection or a timeout is a result. User and password in the URL are
    sent as Basic authentication.
    """
    start = time.monotonic()
    out = {"status_code": None, "headers": {}, "body": "", "error": None}
    try:
        url, headers = split_credentials(request["url"], request.get("headers") or {})
    except ValueError as exc:  # a port that is not a number
        out.update(error=describe_error(exc), latency_ms=round((time.monotonic() - start) * 1000.0, 1))
        return out
    req = Request(url, data=request.get("data"), method=request.get("method", "GET"), headers=headers)
    try:
        resp = _opener(request.get("validate_certs", True)).open(req, timeout=request.get("timeout", 5))
        with resp:
            out["status_code"] = resp.getcode()
            out["headers"] = _headers(resp.headers)
            out["body"] = resp.read(request.get("body_limit", BODY_LIMIT)).decode("utf-8", "replace")
    except HTTPError as exc:
        out["status_code"] = exc.code
        out["headers"] = _headers(exc.headers)
        try:
            out["body"] = exc.read(request.get("body_limit", BODY_LIMIT)).decode("utf-8", "replace")
        except (OSError, socket.timeout, http.client.HTTPException):
            out["body"] = ""
    except (URLError, OSError, socket.timeout, ValueError, http.client.HTTPException) as exc:
        out["error"] = describe_error(exc)
    out["latency_ms"] = round((time.monotonic() - start) * 1000.0, 1)
    return out


def _headers(message):
    return {name.lower(): value for name, value in (message.items() if message is not None else [])}


def describe_error(exc):
    reason = getattr(exc, "reason", exc)
    if isinstance(reason, (socket.timeout, TimeoutError)) or "timed out" in str(reason):
        return "timed out"
    if isinstance(reason, ConnectionRefusedError) or "refused" in str(reason).lower():
        return "connection refused"
    if isinstance(reason, socket.gaierror):
        return "name resolution failed"
    return str(reason)


def fetch_all(requests, concurrency):
    """Run fetch() over many requests at once; results in input order."""
    if not requests:
        return []
    workers = max(1, min(concurrency, len(requests)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(fetch, requests))
