#!/usr/bin/python
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: qdrant_info
short_description: Check Qdrant - readiness, collections, snapshots and cluster
version_added: 1.0.0
description:
  - The runbook's P0-2 C(curl http://qdrant:6333) through Qdrant's REST API - C(/readyz), C(GET /collections),
    each collection's info (status, point count, vectors, segments), its snapshots, and C(GET /cluster).
  - Each collection's newest snapshot is reported with its age and its location, the C(file://) URL that
    Qdrant's recover API (and M(sre.runbooks.qdrant_snapshot_restore)) takes.
  - A collection that is missing still tells where its snapshots are. Qdrant keeps a deleted collection's snapshot
    files in C(<snapshots_path>/<collection>/) but lists them only while the collection exists, so the finding
    names the newest snapshot when the server still lists one, and otherwise the directory where the files stay;
    M(sre.runbooks.qdrant_snapshot_restore) finds the newest one there.
  - A Qdrant that does not answer is a finding, not a failure of the task.
author: sre.runbooks contributors (!UNKNOWN)
extends_documentation_fragment:
  - sre.runbooks.qdrant
  - sre.runbooks.attributes
  - sre.runbooks.attributes.INFO_MODULE
options:
  expected_collections:
    description:
      - Collections the application needs (from inventory). Each that does not exist is a finding.
      - When given, the point count and snapshot findings are about these collections only; otherwise about
        every collection.
    type: list
    elements: str
    default: []
  min_points:
    description: A collection holding fewer points than this is empty (data lost).
    type: int
    default: 1
  max_snapshot_age_hours:
    description: A collection whose newest snapshot is older than this many hours has a stale snapshot.
      C(0) turns the snapshot findings off.
    type: float
    default: 24.0
  snapshots_path:
    description: The snapshots directory of the Qdrant nodes (Qdrant's C(storage.snapshots_path)), used to write
      snapshot locations.
    type: str
    default: /qdrant/snapshots
seealso:
  - module: sre.runbooks.qdrant_snapshot_restore
"""

EXAMPLES = r"""
- name: Test Qdrant connectivity (P0-2 investigation)
  sre.runbooks.qdrant_info:
    url: http://qdrant.pubsec-info-assistant.svc:6333
    api_key: "{{ vault_qdrant_api_key }}"
    expected_collections: [documents]
    max_snapshot_age_hours: 24
  register: qdrant
"""

RETURN = r"""
status:
  description: C(ok); C(down) (Qdrant does not answer, refuses the API key, or an expected collection is
    missing); C(degraded) (other findings).
  returned: always
  type: str
  sample: down
findings:
  description:
    - Ids C(qdrant.unreachable) (no answer; critical; evidence C(url)),
    - C(qdrant.auth_failed) (401/403; critical),
    - C(qdrant.not_ready) (C(/readyz) is not 200, or the API answers errors; critical),
    - C(qdrant.collection_missing) (an expected collection does not exist; critical; evidence C(collection),
      C(snapshot) (the newest listed, with C(location); null when Qdrant lists none), C(snapshots_location)
      (the directory of its snapshot files), C(snapshots_listed)),
    - C(qdrant.collection_not_green) (status yellow or grey (warning) or red (critical); evidence C(collection),
      C(status)),
    - C(qdrant.collection_empty) (fewer points than O(min_points); critical; evidence C(collection),
      C(points_count)),
    - C(qdrant.snapshot_stale) (newest snapshot older than O(max_snapshot_age_hours); warning; evidence
      C(collection), C(age_hours), C(snapshot)),
    - C(qdrant.no_snapshot) (warning; evidence C(collection)),
    - C(qdrant.cluster_unhealthy) (consensus not working, no leader (critical), or messages to peers failing
      (warning); evidence C(consensus), C(leader), C(failing_peers)).
  returned: always
  type: list
  elements: dict
  sample:
    - id: qdrant.collection_missing
      severity: critical
      summary: "Collection documents does not exist; Qdrant lists no snapshot of it (...)"
      evidence: {collection: documents, snapshot: null, snapshots_location: "file:///qdrant/snapshots/documents/",
                 snapshots_listed: false}
url:
  description: The URL read, without credentials.
  returned: always
  type: str
  sample: http://qdrant:6333
reachable:
  description: Whether Qdrant answered.
  returned: always
  type: bool
  sample: true
ready:
  description: Whether C(/readyz) answered 200 (all shards ready).
  returned: always
  type: bool
  sample: true
version:
  description: Qdrant's version, from C(GET /).
  returned: always
  type: str
  sample: 1.9.2
collections:
  description: Every existing collection (of interest) as read.
  returned: always
  type: list
  elements: dict
  sample:
    - {name: documents, status: green, optimizer_status: ok, points_count: 300, indexed_vectors_count: 0,
       segments_count: 2, vectors: {size: 8, distance: Cosine}, shard_number: 1, replication_factor: 1,
       snapshots_count: 1, newest_snapshot: {name: documents-5520117418417463-2024-06-11-08-00-00.snapshot,
       creation_time: "2024-06-11T08:00:00", size: 71680, age_hours: 2.5,
       location: "file:///qdrant/snapshots/documents/documents-5520117418417463-2024-06-11-08-00-00.snapshot"}}
cluster:
  description: C(GET /cluster) in short - C(status) (enabled/disabled) and, when enabled, C(peers) (count),
    C(leader), C(role), C(term), C(pending_operations), C(consensus), C(failing_peers) (uri -> failures).
  returned: when Qdrant answered
  type: dict
  sample: {status: enabled, peers: 3, leader: 5520117418417463, role: Leader, consensus: working, failing_peers: {}}
"""

from ansible_collections.sre.runbooks.plugins.module_utils.checks import qdrant
from ansible_collections.sre.runbooks.plugins.module_utils.common import RunbookModule


def main():
    module = RunbookModule(argument_spec=qdrant.argument_spec(), **qdrant.SPEC_OPTIONS, supports_check_mode=True)
    module.run_check(qdrant.run)


if __name__ == "__main__":
    main()
