#!/usr/bin/python
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: qdrant_snapshot_restore
short_description: Restore a Qdrant collection from its snapshot, with the StatefulSet stopped first
version_added: 1.0.0
description:
  - The runbook's P0-2 "Restore from Backup" through the Kubernetes API and Qdrant's snapshot API.
  - First the newest (or named) snapshot is proven - recovered into a scratch collection
    C(<collection>_restore_probe) to count its points, then deleted. Then it scales the StatefulSet to 0 and
    waits until its pods are gone (nothing serves or writes the damaged data), brings one pod back (the recover
    API needs a running node; one node means no replica serves old data meanwhile), recovers the collection from
    the snapshot's C(file://) location on that node (C(PUT /collections/{name}/snapshots/recover), priority
    C(snapshot)), scales back to the replicas it had, waits until they are ready, and verifies the collection is
    green with the snapshot's point count.
  - A missing collection's snapshots are not listed by Qdrant (it lists snapshots only while the collection exists,
    though it keeps the files), so they are listed through an empty placeholder collection of that name, created
    and deleted at once.
  - Refuses, changing nothing, when Qdrant does not answer, when no snapshot (or not the named one) is found,
    and when the collection holds more points than the snapshot (the restore would lose them) unless O(force).
  - When a step fails after the StatefulSet was scaled down, it is scaled back to its replicas and the task
    fails with C(changed=true), its message naming the step that failed (RV(actions) holds the whole plan).
author: sre.runbooks contributors (!UNKNOWN)
extends_documentation_fragment:
  - sre.runbooks.qdrant
  - sre.runbooks.k8s
  - sre.runbooks.wait
  - sre.runbooks.attributes
attributes:
  check_mode:
    support: full
    details: Returns the plan and a diff of the collection's points and the replicas; writes nothing (so neither
      the scratch count nor, for a missing collection, the snapshot listing is made).
  diff_mode:
    support: full
  idempotent:
    support: full
    details: A collection that exists, is green and holds at least O(min_points) points is left alone.
options:
  collection:
    description: The collection to restore.
    type: str
    required: true
  snapshot:
    description: Name of the snapshot to restore (as Qdrant lists it). Default is the newest.
    type: str
  snapshots_path:
    description: The snapshots directory of the Qdrant nodes (Qdrant's C(storage.snapshots_path)); the snapshot
      is recovered from C(file://<snapshots_path>/<collection>/<snapshot>).
    type: str
    default: /qdrant/snapshots
  statefulset:
    description: The Qdrant StatefulSet in O(namespace).
    type: str
    default: qdrant
  replicas:
    description: Replicas to scale back to. Default is what the StatefulSet has before the run.
    type: int
  min_points:
    description: A green collection with at least this many points needs no restore.
    type: int
    default: 1
  force:
    description: Restore even when the collection is green and full, or holds more points than the snapshot.
    type: bool
    default: false
  wait:
    description:
      - Wait for the scaled-back StatefulSet to be ready and verify the collection before returning.
      - The waits in between (pods gone, one pod ready) are always made; the restore depends on them.
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait for each step (pods gone, pods ready, the recovery itself, verification).
    type: int
    default: 300
"""

EXAMPLES = r"""
- name: Restore the documents collection from its newest snapshot (P0-2 option 2)
  sre.runbooks.qdrant_snapshot_restore:
    url: http://qdrant.pubsec-info-assistant.svc:6333
    api_key: "{{ vault_qdrant_api_key }}"
    collection: documents
    namespace: pubsec-info-assistant
    statefulset: qdrant
  register: restore
"""

RETURN = r"""
msg:
  description: What was (or would be) done, in one sentence.
  returned: always
  type: str
  sample: "Restored documents from documents-55201-2024-06-11-08-00-00.snapshot: 300 points, green."
actions:
  description: What was done (or would be done in check mode), one sentence each.
  returned: always
  type: list
  elements: str
  sample: ["scale StatefulSet qdrant to 0 replicas and wait until its pods are gone"]
before:
  description: C(collection) ({exists, status, points}) and C(statefulset) ({replicas, ready}) before.
  returned: always
  type: dict
  sample: {collection: {exists: false, status: null, points: 0}, statefulset: {replicas: 3, ready: 3}}
after:
  description: The same after (as observed; in check mode, as it would be - points null when not yet counted).
  returned: always
  type: dict
  sample: {collection: {exists: true, status: green, points: 300}, statefulset: {replicas: 3, ready: 3}}
snapshot:
  description: The snapshot restored ({name, creation_time, size, age_hours, location, points}); null when
    nothing was to be done. In check mode for a missing collection, C(name) is null and C(location) the directory.
  returned: always
  type: dict
  sample: {name: documents-5520117418417463-2024-06-11-08-00-00.snapshot, points: 300,
           location: "file:///qdrant/snapshots/documents/documents-5520117418417463-2024-06-11-08-00-00.snapshot"}
check_mode:
  description: True when this was a dry run.
  returned: always
  type: bool
  sample: false
duration:
  description: Seconds from the first change to the verified state.
  returned: when changed and not in check mode
  type: float
  sample: 12.4
"""

import time

from ansible_collections.sre.runbooks.plugins.module_utils.common import RunbookModule, wait_argument_spec
from ansible_collections.sre.runbooks.plugins.module_utils.errors import NotConfirmed, RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.guards import require
from ansible_collections.sre.runbooks.plugins.module_utils.k8s_changes import (
    confirm,
    replicas_progress,
    run_change,
    scale_workload,
)
from ansible_collections.sre.runbooks.plugins.module_utils.k8s_client import k8s_argument_spec
from ansible_collections.sre.runbooks.plugins.module_utils.k8s_workloads import get_workload, workload_pods
from ansible_collections.sre.runbooks.plugins.module_utils.qdrant_client import (
    DEFAULT_SNAPSHOTS_PATH,
    Qdrant,
    QdrantUnreachable,
    describe_snapshot,
    newest_snapshot,
    qdrant_argument_spec,
    snapshot_location,
)

STS = "StatefulSet"


def collection_state(client, name):
    info = client.collection(name)
    if info is None:
        return {"exists": False, "status": None, "points": 0}
    return {"exists": True, "status": info.get("status"), "points": info.get("points_count") or 0}


def list_snapshots(module, client, name, exists, actions):
    """The collection's snapshots; for a missing one, listed through an empty placeholder collection."""
    snapshots = client.snapshots(name)
    if snapshots is not None or exists:
        return snapshots
    actions.append(f"list the snapshots of missing collection {name} through an empty placeholder collection")
    if module.check_mode:
        return None
    client.create_collection(name, {"vectors": {"size": 1, "distance": "Dot"}})
    try:
        return client.snapshots(name)
    finally:
        client.delete_collection(name)


def choose_snapshot(module, client, name, exists, actions):
    params = module.params
    snapshots = list_snapshots(module, client, name, exists, actions)
    if snapshots is None:  # check mode, collection missing: Qdrant cannot list them yet
        named = params["snapshot"]
        return {"name": named, "location": snapshot_location(params["snapshots_path"], name, named or ""),
                "points": None}
    names = sorted(s["name"] for s in snapshots)
    require(snapshots, "snapshot exists", f"collection {name} has no snapshot to restore from.")
    if params["snapshot"]:
        found = [s for s in snapshots if s["name"] == params["snapshot"]]
        require(found, "snapshot exists", f"snapshot {params['snapshot']} of {name} not found "
                f"(Qdrant lists: {', '.join(names)}).")
        return dict(describe_snapshot(found[0], params["snapshots_path"], name), points=None)
    return dict(newest_snapshot(snapshots, params["snapshots_path"], name), points=None)


def count_snapshot(module, client, name, snapshot, actions):
    """The snapshot's point count, by recovering it into a scratch collection (deleted again)."""
    probe = f"{name}_restore_probe"
    actions.append(f"count the points of {snapshot['name'] or 'the snapshot'} by recovering it into scratch "
                   f"collection {probe}, then delete {probe}")
    if module.check_mode:
        return None
    client.delete_collection(probe)
    try:
        client.recover(probe, snapshot["location"], timeout=module.params["wait_timeout"])
        return collection_state(client, probe)["points"]
    finally:
        client.delete_collection(probe)


def scale(module, k8s, result, replicas, wait_for_pods=True):
    params, name = module.params, module.params["statefulset"]
    scale_workload(k8s, STS, name, replicas)
    if replicas == 0:
        def gone():
            pods = workload_pods(k8s, get_workload(k8s, STS, name))
            names = ", ".join(p["metadata"]["name"] for p in pods)
            return {"done": not pods, "message": f"pods left: {names}" if pods else "no pods"}
        return confirm(module, gone, f"the pods of {STS} {name} were not gone", result)
    if not wait_for_pods:
        return 0.0
    waited = confirm(module, lambda: replicas_progress(get_workload(k8s, STS, name), replicas),
                     f"{STS} {name} did not get {replicas} ready replicas", result)
    client = Qdrant(params)
    return waited + confirm(module, lambda: {"done": client.readiness()["ready"], "message": "not ready"},
                            f"Qdrant at {client.where} did not answer ready", result)


def restore_steps(module, k8s, client, result, target_replicas):
    params, name, snapshot = module.params, module.params["collection"], result["snapshot"]
    scale(module, k8s, result, 0)
    scale(module, k8s, result, 1)
    client.recover(name, snapshot["location"], timeout=params["wait_timeout"])
    scale(module, k8s, result, target_replicas, wait_for_pods=params["wait"])
    if not params["wait"]:
        return
    wanted = snapshot["points"]

    def verified():
        state = collection_state(client, name)
        done = state["status"] == "green" and (state["points"] == wanted if wanted is not None
                                               else state["points"] >= params["min_points"])
        return {"done": done, "message": f"{state}"}
    confirm(module, verified, f"collection {name} was not green with {wanted} points", result)


def restore(module, k8s):
    params = module.params
    name, client = params["collection"], Qdrant(params)
    workload = get_workload(k8s, STS, params["statefulset"])
    replicas = (workload.get("spec") or {}).get("replicas") or 0
    target = params["replicas"] if params["replicas"] is not None else replicas
    require(target >= 1, "replicas to restore to", f"{STS} {params['statefulset']} has 0 replicas; say how many "
            "to bring back with the option replicas.")
    try:
        current = collection_state(client, name)
    except QdrantUnreachable as exc:
        require(False, "Qdrant reachable", f"{exc.msg}. The restore needs a running Qdrant node; bring its pods "
                "back first (P0-2 option 1).")
    sts_before = {"replicas": replicas, "ready": (workload.get("status") or {}).get("readyReplicas") or 0}
    result = {"actions": [], "before": {"collection": current, "statefulset": sts_before}, "snapshot": None}
    result["after"] = result["before"]
    if current["exists"] and current["status"] == "green" and current["points"] >= params["min_points"] \
            and not params["force"]:
        result["msg"] = f"Collection {name} is green with {current['points']} points; nothing to restore."
        return result
    actions = result["actions"]
    snapshot = result["snapshot"] = choose_snapshot(module, client, name, current["exists"], actions)
    snapshot["points"] = count_snapshot(module, client, name, snapshot, actions)
    if snapshot["points"] is not None and not params["force"]:
        require(current["points"] <= snapshot["points"], "no points lost",
                f"collection {name} holds {current['points']} points and snapshot {snapshot['name']} only "
                f"{snapshot['points']}; restoring it would lose {current['points'] - snapshot['points']}.",
                override="set force=true to restore anyway")
    sts = f"{STS} {params['statefulset']}"
    actions += [f"scale {sts} from {replicas} to 0 replicas and wait until its pods are gone",
                f"scale {sts} to 1 replica and wait until it is ready",
                f"recover collection {name} from {snapshot['location']}",
                f"scale {sts} to {target} replicas" + (" and wait until they are ready" if params["wait"] else ""),
                f"verify collection {name} is green with the snapshot's points"]
    result["after"] = {"collection": {"exists": True, "status": "green", "points": snapshot["points"]},
                       "statefulset": {"replicas": target, "ready": target}}
    if module.check_mode:
        result["msg"] = f"Restore {name} from {snapshot['name'] or 'its newest snapshot'} with {sts} stopped first."
        return result
    start = time.monotonic()
    try:
        restore_steps(module, k8s, client, result, target)
    except RunbookError as exc:
        try:
            scale_workload(k8s, STS, params["statefulset"], target)
            exc.msg += f" {sts} was scaled back to {target} replicas."
        except RunbookError as again:
            exc.msg += f" Scaling {sts} back to {target} failed too: {again.msg}"
        raise NotConfirmed(f"Restore of {name} did not complete: {exc.msg}", **result) from exc
    after = get_workload(k8s, STS, params["statefulset"])
    result["after"] = {"collection": collection_state(client, name), "statefulset": {
        "replicas": after["spec"].get("replicas"), "ready": (after.get("status") or {}).get("readyReplicas") or 0}}
    result["duration"] = round(time.monotonic() - start, 3)
    points = result["after"]["collection"]["points"]
    status = result["after"]["collection"]["status"]
    result["msg"] = f"Restored {name} from {snapshot['name']}: {points} points, {status}."
    return result


def main():
    module = RunbookModule(
        argument_spec={
            "collection": {"type": "str", "required": True},
            "snapshot": {"type": "str"},
            "snapshots_path": {"type": "str", "default": DEFAULT_SNAPSHOTS_PATH},
            "statefulset": {"type": "str", "default": "qdrant"},
            "replicas": {"type": "int"},
            "min_points": {"type": "int", "default": 1},
            "force": {"type": "bool", "default": False},
        },
        shared=(qdrant_argument_spec, k8s_argument_spec, lambda: wait_argument_spec(300)),
        bounds={"replicas": (0, None), "min_points": (0, None), "wait_timeout": (0, None)},
        supports_check_mode=True,
    )
    run_change(module, restore)


if __name__ == "__main__":
    main()
