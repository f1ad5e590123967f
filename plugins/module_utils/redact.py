# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Masking of secrets in anything the collection writes down: the incident record and the evidence files.

``redact(value)`` masks the values of secret-looking keys in dicts and replaces secrets inside text;
``redact_text(text)`` does the second only (log files). The patterns cover passwords and tokens as
``key=value``, ``key: value`` and JSON ``"key": "value"``, Authorization headers and bare bearer/basic
credentials, user:password in connection strings (``postgres://u:p@h``, ``redis://:p@h``), AWS access key
ids and secret keys, and Slack ``xox`` tokens.
"""

import re

SECRET_KEY = re.compile(r"(password|passwd|secret|token|api_key|apikey|authorization|credential|private_key)",
                        re.IGNORECASE)

# The first four are the incident record's original patterns; the others extend them for log files.
SECRET_TEXT = [
    (re.compile(r"(://)[^/@\s:]+:[^/@\s]+@"), r"\1***:***@"),
    (re.compile(r"(?i)\b(password|passwd|token|secret|api_key)(\s*[=:]\s*)(\"?)[^\s\"',;]+"), r"\1\2\3***"),
    (re.compile(r"(?i)(authorization:\s*)(bearer|oauth|basic)?\s*[^\s\"',;]+"), r"\1***"),
    (re.compile(r"xox[abpr]-[A-Za-z0-9-]+"), "xox*-***"),
    # a connection string with a password and no user (redis://:secret@host)
    (re.compile(r"(://):[^/@\s]+@"), r"\1:***@"),
    # JSON and quoted keys: "password": "value", 'api_key': 'value'
    (re.compile(r"(?i)([\"'][\w.-]*(?:password|passwd|secret|token|api[_-]?key|credential|private[_-]?key)[\w.-]*[\"']"
                r"\s*:\s*)([\"'])(?:[^\"'\\]|\\.)*\2"), r"\1\2***\2"),
    # PGPASSWORD=..., DB_PASSWORD: ..., aws_secret_access_key = ..., X-Api-Key: ...
    (re.compile(r"(?i)\b([\w-]*(?:password|passwd|secret|token|api[_-]?key|access[_-]?key|secret[_-]?key|private[_-]?key))"
                r"(\s*[=:]\s*)(\"?)(?!\*\*\*)[^\s\"',;]+"), r"\1\2\3***"),
    # bearer / basic credentials without the Authorization: prefix (curl -H, logged headers)
    (re.compile(r"(?i)\b(bearer|basic|oauth)(\s+)(?!\*\*\*)[A-Za-z0-9._~+/=-]{8,}"), r"\1\2***"),
    # AWS access key ids
    (re.compile(r"\b(?:AKIA|ASIA|AIDA|AROA)[A-Z0-9]{16}\b"), "AKIA****************"),
]


def redact_text(text):
    """text with the secrets in it replaced."""
    for pattern, replacement in SECRET_TEXT:
        text = pattern.sub(replacement, text)
    return text


def redact(value):
    """A copy with secret-looking keys masked and secrets in text replaced."""
    if isinstance(value, dict):
        return {k: "***" if SECRET_KEY.search(str(k)) and v not in (None, "", []) else redact(v)
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value
