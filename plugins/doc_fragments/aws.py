# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment:
    """Connection options shared by the AWS modules (module_utils/aws_client.py)."""

    DOCUMENTATION = r"""
options:
  region:
    description: AWS region. Falls back to E(AWS_REGION), then E(AWS_DEFAULT_REGION).
    type: str
    aliases: [aws_region]
  profile:
    description: Named profile of the shared AWS configuration. Falls back to E(AWS_PROFILE).
    type: str
    aliases: [aws_profile]
  endpoint_url:
    description:
      - API endpoint to use instead of AWS's own (a VPC endpoint, or the lab).
      - Falls back to E(AWS_ENDPOINT_URL).
    type: str
    aliases: [aws_endpoint_url]
  access_key:
    description: Access key id. Falls back to E(AWS_ACCESS_KEY_ID). Never printed.
    type: str
    aliases: [aws_access_key_id]
  secret_key:
    description: Secret access key. Falls back to E(AWS_SECRET_ACCESS_KEY). Never printed.
    type: str
    aliases: [aws_secret_access_key]
  session_token:
    description: Session token of temporary credentials. Falls back to E(AWS_SESSION_TOKEN). Never printed.
    type: str
  max_attempts:
    description: Attempts per API call, with adaptive retry (backoff and client-side rate limiting).
    type: int
    default: 5
  api_timeout:
    description: Connect and read timeout of one API call, in seconds.
    type: float
    default: 10.0
requirements:
  - boto3
"""
