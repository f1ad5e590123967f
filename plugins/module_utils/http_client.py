# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Concurrent HTTP requests for checks that hit many endpoints at once.

Standard library only (urllib + a thread pool): every endpoint gets its own
timeout, one hanging endpoint costs at most its timeout, and the results come
back in the order the endpoints were given.
"""

import socket
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError
from ansible.module_utils.six.moves.urllib.parse import urlsplit, urlunsplit
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
    for a network problem: a refused connection or a timeout is a result.
    """
    start = time.monotonic()
    out = {"status_code": None, "headers": {}, "body": "", "error": None}
    req = Request(request["url"], data=request.get("data"), method=request.get("method", "GET"),
                  headers=request.get("headers") or {})
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
        except (OSError, socket.timeout):
            out["body"] = ""
    except (URLError, OSError, socket.timeout, ValueError) as exc:
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
