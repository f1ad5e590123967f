#!/usr/bin/python
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: rds_info
short_description: Check Aurora clusters and RDS instances
version_added: 1.0.0
description:
  - The runbook's Database Recovery check (C(aws rds describe-db-instances)). Reads each cluster's status, writer
    and readers (status, zone, class, promotion tier, replica lag), each instance's status, Multi-AZ standby
    zone and endpoint, and the maintenance actions pending on them.
  - Replica lag comes from CloudWatch (C(AuroraReplicaLag) for Aurora, C(ReplicaLag) otherwise, the highest value
    of the latest minute in the last five). When CloudWatch holds no datapoint for a reader (the metric is not
    published, or the endpoint does not serve CloudWatch), its C(lag_ms) is null and no lag finding is raised.
  - Pending maintenance comes from C(DescribePendingMaintenanceActions); when that call cannot be answered,
    C(pending_maintenance) is null.
  - A cluster or instance that is down or missing, or an AWS endpoint that does not answer, is a finding,
    not a failure of the task.
author: sre.runbooks contributors (!UNKNOWN)
extends_documentation_fragment:
  - sre.runbooks.aws
  - sre.runbooks.attributes
  - sre.runbooks.attributes.INFO_MODULE
options:
  cluster_ids:
    description: Aurora clusters to check (DB cluster identifiers).
    type: list
    elements: str
  instance_ids:
    description:
      - RDS instances to check (DB instance identifiers), for example a non-Aurora Multi-AZ instance.
      - At least one of O(cluster_ids) and O(instance_ids) is required, with at least one id.
    type: list
    elements: str
  max_lag_ms:
    description: A reader whose replica lag is above this many milliseconds is lagging.
    type: int
    default: 1000
"""

EXAMPLES = r"""
- name: Check the RDS cluster's status (Database Recovery)
  sre.runbooks.rds_info:
    cluster_ids: [pynomaly-cluster]
    region: us-east-1
  register: rds

- name: Check a Multi-AZ PostgreSQL instance
  sre.runbooks.rds_info:
    instance_ids: [pynomaly-prod]
"""

RETURN = r"""
status:
  description:
    - C(ok); C(down) (a cluster, its writer or an instance is not available, or an id does not exist);
      C(degraded) (a reader fails or lags); C(unknown) (the AWS endpoint does not answer).
  returned: always
  type: str
  sample: ok
findings:
  description:
    - Ids C(rds.cluster_not_available) (the cluster's status is not a serving one; critical),
    - C(rds.no_writer) (the cluster has no writer instance; critical),
    - C(rds.member_failing) (an instance of a cluster is not in a serving status; critical; the status is
      C(down) when it is the writer, C(degraded) otherwise),
    - C(rds.instance_not_available) (an instance of O(instance_ids) is not in a serving status; critical),
    - C(rds.reader_lagging) (a reader's replica lag is above O(max_lag_ms); warning),
    - C(rds.pending_maintenance) (a cluster or instance has maintenance actions pending; info),
    - C(rds.not_found) (a cluster or instance id does not exist; critical),
    - C(rds.api_unreachable) (the AWS endpoint does not answer; critical; status C(unknown)).
    - Serving statuses are C(available), C(backing-up), C(modifying), C(storage-optimization) and the
      C(configuring-*) ones.
  returned: always
  type: list
  elements: dict
  sample:
    - id: rds.member_failing
      severity: critical
      summary: "pynomaly-cluster's writer pynomaly-db-1 is stopped"
      evidence: {cluster: pynomaly-cluster, instance: pynomaly-db-1, status: stopped, writer: true}
clusters:
  description: Every cluster of O(cluster_ids) that exists, as read. C(members) lists every instance id of the cluster.
  returned: always
  type: list
  elements: dict
  sample:
    - {id: pynomaly-cluster, status: available, engine: aurora-postgresql, engine_version: "15.4", multi_az: true,
       endpoint: pynomaly-cluster.cluster-abc.us-east-1.rds.amazonaws.com,
       reader_endpoint: pynomaly-cluster.cluster-ro-abc.us-east-1.rds.amazonaws.com,
       writer: {id: pynomaly-db-1, status: available, az: us-east-1a, instance_class: db.r6g.large,
                promotion_tier: 1, lag_ms: null},
       readers: [{id: pynomaly-db-2, status: available, az: us-east-1b, instance_class: db.r6g.large,
                  promotion_tier: 1, lag_ms: 12.0}],
       members: [pynomaly-db-1, pynomaly-db-2]}
instances:
  description:
    - Every instance of O(instance_ids) that exists, as read.
    - C(pending_maintenance) is the list of pending actions, or null when they could not be read.
  returned: always
  type: list
  elements: dict
  sample:
    - {id: pynomaly-prod, status: available, engine: postgres, multi_az: true, az: us-east-1a, secondary_az: us-east-1b,
       endpoint: pynomaly-prod.abc.us-east-1.rds.amazonaws.com, port: 5432, pending_maintenance: []}
"""

from ansible_collections.sre.runbooks.plugins.module_utils.checks import rds
from ansible_collections.sre.runbooks.plugins.module_utils.common import RunbookModule


def main():
    module = RunbookModule(argument_spec=rds.argument_spec(), **rds.SPEC_OPTIONS, supports_check_mode=True)
    module.require_library("boto3", rds.HAS_BOTO3, rds.BOTO3_IMPORT_ERROR)
    module.run_check(rds.run)


if __name__ == "__main__":
    main()
