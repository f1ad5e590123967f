# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""AWS client factory: region, profile, endpoint URL and adaptive retries, handled once."""

import threading
import traceback

from ansible.module_utils.basic import env_fallback

from ansible_collections.sre.runbooks.plugins.module_utils.errors import BackendUnavailable, RunbookError

BOTO3_IMPORT_ERROR = None
try:
    import boto3
    import botocore.config
    import botocore.exceptions
    import botocore.parsers
    HAS_BOTO3 = True
except ImportError:
    HAS_BOTO3 = False
    BOTO3_IMPORT_ERROR = traceback.format_exc()


def aws_argument_spec():
    """Options of doc fragment sre.runbooks.aws."""
    return {
        "region": {"type": "str", "aliases": ["aws_region"],
                   "fallback": (env_fallback, ["AWS_REGION", "AWS_DEFAULT_REGION"])},
        "profile": {"type": "str", "aliases": ["aws_profile"], "fallback": (env_fallback, ["AWS_PROFILE"])},
        "endpoint_url": {"type": "str", "aliases": ["aws_endpoint_url"],
                         "fallback": (env_fallback, ["AWS_ENDPOINT_URL"])},
        "access_key": {"type": "str", "aliases": ["aws_access_key_id"], "no_log": True,
                       "fallback": (env_fallback, ["AWS_ACCESS_KEY_ID"])},
        "secret_key": {"type": "str", "aliases": ["aws_secret_access_key"], "no_log": True,
                       "fallback": (env_fallback, ["AWS_SECRET_ACCESS_KEY"])},
        "session_token": {"type": "str", "no_log": True, "fallback": (env_fallback, ["AWS_SESSION_TOKEN"])},
        "max_attempts": {"type": "int", "default": 5},
        "api_timeout": {"type": "float", "default": 10.0},
    }


# One session per set of credentials and one client per service in a process: incident_triage_info runs every
# AWS check in threads of one process, and building a client (loading its service model) is the costly part.
# Sessions are not thread-safe; clients are, once built, so building happens under the lock.
_SESSIONS = {}
_CLIENTS = {}
_LOCK = threading.Lock()


def _session(params):
    key = tuple(params.get(name) for name in ("profile", "region", "access_key", "secret_key", "session_token"))
    if key not in _SESSIONS:
        _SESSIONS[key] = boto3.session.Session(
            profile_name=params.get("profile"), region_name=params.get("region"),
            aws_access_key_id=params.get("access_key"), aws_secret_access_key=params.get("secret_key"),
            aws_session_token=params.get("session_token"),
        )
    return _SESSIONS[key]


def client(params, service):
    """A boto3 client with adaptive retries and bounded timeouts (one per service and connection settings)."""
    key = (service, params.get("endpoint_url"), params["max_attempts"], params["api_timeout"],
           *(params.get(name) for name in ("profile", "region", "access_key", "secret_key", "session_token")))
    config = botocore.config.Config(
        retries={"mode": "adaptive", "max_attempts": params["max_attempts"]},
        connect_timeout=params["api_timeout"], read_timeout=params["api_timeout"],
    )
    with _LOCK:
        if key in _CLIENTS:
            return _CLIENTS[key]
        try:
            made = _session(params).client(service, endpoint_url=params.get("endpoint_url"), config=config)
        except botocore.exceptions.ProfileNotFound as exc:
            raise RunbookError(f"AWS profile {params.get('profile')!r} is not configured (option profile).") from exc
        except botocore.exceptions.NoRegionError as exc:
            raise RunbookError("No AWS region: set option region or AWS_REGION.") from exc
        _CLIENTS[key] = made
        return made


def call(method, **kwargs):
    """Call one API method; turn botocore errors into typed, readable errors."""
    try:
        return method(**kwargs)
    except (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectionError,
            botocore.exceptions.HTTPClientError) as exc:
        # ConnectionError covers connect and read timeouts; HTTPClientError a connection dropped mid-answer.
        raise BackendUnavailable(f"AWS endpoint unreachable: {exc}") from exc
    except botocore.exceptions.NoCredentialsError as exc:
        raise RunbookError(
            "No AWS credentials: set a profile, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.") from exc
    except botocore.exceptions.ClientError as exc:
        error = exc.response.get("Error", {})
        raise RunbookError(f"AWS {exc.operation_name} failed: {error.get('Code')} {error.get('Message')}",
                           aws_error_code=error.get("Code")) from exc
    except (botocore.exceptions.BotoCoreError, botocore.parsers.ResponseParserError) as exc:
        # An answer the SDK could not read (ResponseParserError among them): say so, not a traceback.
        raise RunbookError(f"AWS answered something unreadable: {exc}") from exc


def paginate(method, key, token_in="NextToken", token_out="NextToken", **kwargs):
    """Every item of key over every page of one list/describe call (token names differ by service)."""
    items = []
    while True:
        page = call(method, **kwargs)
        items.extend(page.get(key, []))
        if not page.get(token_out):
            return items
        kwargs[token_in] = page[token_out]
