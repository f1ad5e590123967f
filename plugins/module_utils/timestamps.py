# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one reader of the backends' timestamps (Kubernetes, Qdrant, the LLM providers' rate-limit resets)."""

import re
from datetime import datetime, timezone


def parse_time(value):
    """An RFC 3339 / ISO 8601 timestamp as an aware datetime (a time without a zone is UTC), or None."""
    if not value:
        return None
    text = re.sub(r"\.\d+", "", str(value).strip()).replace("Z", "+00:00")
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def seconds_since(value, now=None):
    """Seconds from a timestamp to now (negative for a time still to come); None when it cannot be read."""
    when = parse_time(value)
    if when is None:
        return None
    return ((now or datetime.now(timezone.utc)) - when).total_seconds()
