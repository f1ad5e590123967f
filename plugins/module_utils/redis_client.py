# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Redis client factory and the reads the Redis modules share."""

import traceback

from ansible.module_utils.basic import env_fallback

REDIS_IMPORT_ERROR = None
try:
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry
    HAS_REDIS = True
except ImportError:
    HAS_REDIS = False
    REDIS_IMPORT_ERROR = traceback.format_exc()


def redis_argument_spec():
    """Options of doc fragment sre.runbooks.redis."""
    return {
        "password": {"type": "str", "no_log": True, "fallback": (env_fallback, ["REDIS_PASSWORD"])},
        "username": {"type": "str"},
        "tls": {"type": "bool", "default": False},
        "validate_certs": {"type": "bool", "default": True},
        "connect_timeout": {"type": "float", "default": 2.0},
    }


def connect(params, host, port):
    """A client for one node; nothing is sent until the first command."""
    kwargs = {
        "host": host, "port": port, "username": params.get("username"), "password": params.get("password"),
        "socket_timeout": params["connect_timeout"], "socket_connect_timeout": params["connect_timeout"],
        "decode_responses": True, "retry_on_timeout": False,
        # One attempt per call: during an incident a dead node must cost one timeout, not a retry ladder.
        "retry": Retry(NoBackoff(), 0),
    }
    if params.get("tls"):
        kwargs.update(ssl=True, ssl_cert_reqs="required" if params.get("validate_certs", True) else "none")
    return redis.Redis(**kwargs)


def describe_error(exc):
    """A short sentence for a Redis error; never includes the password."""
    if isinstance(exc, redis.AuthenticationError) or "WRONGPASS" in str(exc) or "NOAUTH" in str(exc):
        return "authentication failed"
    if isinstance(exc, redis.TimeoutError):
        return "timed out"
    if isinstance(exc, redis.ConnectionError):
        return f"connection failed: {str(exc).split('. ', maxsplit=1)[0]}"
    return str(exc)


def is_auth_error(exc):
    return describe_error(exc) == "authentication failed"


def replication(client):
    """INFO replication of one node as a plain dict (role, master link, replicas, offsets)."""
    info = client.info("replication")
    out = {
        "role": info.get("role"),
        "repl_offset": info.get("master_repl_offset"),
        "connected_replicas": info.get("connected_slaves", 0),
        "replicas": [],
    }
    if out["role"] == "slave":
        out.update(
            master_host=info.get("master_host"),
            master_port=info.get("master_port"),
            link_status=info.get("master_link_status"),
            last_io_seconds_ago=info.get("master_last_io_seconds_ago"),
            link_down_since_seconds=info.get("master_link_down_since_seconds"),
            repl_offset=info.get("slave_repl_offset", out["repl_offset"]),
        )
    for key, value in info.items():
        if key.startswith("slave") and key[5:].isdigit() and isinstance(value, dict):
            out["replicas"].append({"ip": value.get("ip"), "port": value.get("port"), "state": value.get("state"),
                                    "offset": value.get("offset"), "lag": value.get("lag")})
    return out
