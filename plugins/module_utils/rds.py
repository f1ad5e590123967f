# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reads of RDS and Aurora that the RDS modules share."""

from datetime import datetime, timedelta, timezone

from ansible_collections.sre.runbooks.plugins.module_utils.aws_client import call
from ansible_collections.sre.runbooks.plugins.module_utils.errors import RunbookError

NOT_FOUND_CODES = ("DBClusterNotFoundFault", "DBInstanceNotFound", "DBInstanceNotFoundFault")


def replica_lag_ms(cloudwatch, instance_id, engine="aurora"):
    """Latest replica lag of one reader in milliseconds, or None when CloudWatch has no datapoint.

    Aurora publishes AuroraReplicaLag (ms); RDS read replicas publish ReplicaLag (s).
    """
    name, scale = ("AuroraReplicaLag", 1.0) if (engine or "").startswith("aurora") else ("ReplicaLag", 1000.0)
    end = datetime.now(timezone.utc)
    try:
        points = call(cloudwatch.get_metric_statistics, Namespace="AWS/RDS", MetricName=name,
                      Dimensions=[{"Name": "DBInstanceIdentifier", "Value": instance_id}],
                      StartTime=end - timedelta(minutes=5), EndTime=end, Period=60,
                      Statistics=["Maximum"])["Datapoints"]
    except RunbookError:
        return None
    if not points:
        return None
    return round(max(points, key=lambda p: p["Timestamp"])["Maximum"] * scale, 1)
