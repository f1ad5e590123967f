# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The network_path_info check: argument_spec() and run(params), used by its module and by incident_triage_info.

Three parts, each reported whatever the others do: the paths (security groups and network ACLs read
from EC2 and judged by netpath), DNS names resolved from the control node, and TCP connects from it.
"""

import queue
import socket
import threading
import time

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.sre.runbooks.plugins.module_utils import netpath
from ansible_collections.sre.runbooks.plugins.module_utils.aws_client import (
    BOTO3_IMPORT_ERROR,
    HAS_BOTO3,
    aws_argument_spec,
    call,
    client,
    paginate,
)
from ansible_collections.sre.runbooks.plugins.module_utils.common import check_bounds
from ansible_collections.sre.runbooks.plugins.module_utils.ec2 import select_instances
from ansible_collections.sre.runbooks.plugins.module_utils.errors import BackendUnavailable, RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.findings import (
    check_result,
    finding,
    status_from,
    worst_status,
)

DOWN_IDS = ("network.path_blocked", "network.not_found")
NOT_FOUND_CODES = ("InvalidGroup.NotFound", "InvalidGroupId.Malformed", "InvalidSubnetID.NotFound",
                   "InvalidSubnetID.Malformed", "LoadBalancerNotFound", "asg_not_found",
                   "InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed")
# The order a packet meets the checks (netpath.evaluate_flow): request out, request in, response back.
HOP_ORDER = [("security_group", "egress", "request"), ("network_acl", "egress", "request"),
             ("network_acl", "ingress", "request"), ("security_group", "ingress", "request"),
             ("network_acl", "egress", "response"), ("network_acl", "ingress", "response")]
SIDE_OPTIONS = ("cidr", "security_groups", "subnet_ids", "load_balancer", "instance_ids", "tags", "asg_name")

# Passed to AnsibleModule (and to ArgumentSpecValidator) with argument_spec().
SPEC_OPTIONS = {"required_one_of": [("paths", "dns", "connect")]}


def argument_spec():
    """The options of sre.runbooks.network_path_info, with the shared aws group."""
    path_spec = {
        "name": {"type": "str", "required": True},
        "port": {"type": "int"},
        "protocol": {"type": "str", "default": "tcp", "choices": ["tcp", "udp", "icmp", "all"]},
    }
    for side in ("source", "destination"):
        path_spec.update({
            f"{side}_cidr": {"type": "str"},
            f"{side}_security_groups": {"type": "list", "elements": "str"},
            f"{side}_subnet_ids": {"type": "list", "elements": "str"},
            f"{side}_load_balancer": {"type": "str"},
            f"{side}_instance_ids": {"type": "list", "elements": "str"},
            f"{side}_tags": {"type": "dict"},
            f"{side}_asg_name": {"type": "str"},
        })
    spec = aws_argument_spec()
    spec.update({
        "paths": {"type": "list", "elements": "dict", "options": path_spec},
        "dns": {"type": "list", "elements": "str"},
        "connect": {"type": "list", "elements": "str"},
        "timeout": {"type": "float", "default": 3.0},
        "concurrency": {"type": "int", "default": 32},
    })
    return spec


# ---- validation ----

def _side(path, side):
    return {key: path.get(f"{side}_{key}") for key in SIDE_OPTIONS}


def _validate_side(path, side, where):
    given = {k: v for k, v in _side(path, side).items() if v}
    if not given:
        raise RunbookError(f"{where} has no {side}: give {side}_cidr, {side}_security_groups, {side}_subnet_ids, "
                           f"{side}_load_balancer or {side}_instance_ids/{side}_tags/{side}_asg_name.",
                           option=f"{where}.{side}_cidr")
    kinds = [k for k in ("subnet_ids", "load_balancer") if k in given]
    if {"instance_ids", "tags", "asg_name"} & set(given):
        kinds.append("instances")
    if len(kinds) > 1 or ("cidr" in given and kinds and kinds != ["subnet_ids"]):
        raise RunbookError(f"{where} names its {side} more than one way ({', '.join(sorted(given))}): give "
                           f"{side}_subnet_ids (with {side}_cidr), {side}_load_balancer or instances, not several.",
                           option=f"{where}.{side}_{min(given)}")
    if "cidr" in given:
        try:
            netpath.network(given["cidr"])
        except ValueError:
            raise RunbookError(f"{where}.{side}_cidr is not a CIDR or an IP address: {given['cidr']!r}",
                               option=f"{where}.{side}_cidr") from None


def validate_paths(paths):
    names = set()
    for index, path in enumerate(paths or []):
        where = f"paths[{index}]"
        if path["name"] in names:
            raise RunbookError(f"{where}.name {path['name']!r} is used twice: give each path its own name.",
                               option=f"{where}.name")
        names.add(path["name"])
        if path["protocol"] in ("tcp", "udp") and path.get("port") is None:
            raise RunbookError(f"{where}.port is required for protocol {path['protocol']}.", option=f"{where}.port")
        if path.get("port") is not None and not 1 <= path["port"] <= 65535:
            raise RunbookError(f"{where}.port must be between 1 and 65535, not {path['port']}.",
                               option=f"{where}.port")
        _validate_side(path, "source", where)
        _validate_side(path, "destination", where)


def parse_target(text, where):
    """(host, port) of 'host:port', '[v6]:port' or 'v6-address:port'; RunbookError naming where."""
    host, sep, port = str(text).strip().rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise RunbookError(f"{where} must be host:port (port 1-65535), got {text!r}", option=where)
    return host, int(port)


def validate(params):
    """Bad input the argument spec cannot see."""
    if not (params.get("paths") or params.get("dns") or params.get("connect")):
        raise RunbookError("paths, dns and connect are all empty: give at least one path, name or target.",
                           option="paths")
    check_bounds(params, {"timeout": (0.1, 60), "concurrency": (1, 256)})
    validate_paths(params.get("paths"))
    for index, name in enumerate(params.get("dns") or []):
        if not str(name).strip():
            raise RunbookError(f"dns[{index}] is empty: give a host name.", option=f"dns[{index}]")
    for index, target in enumerate(params.get("connect") or []):
        parse_target(target, f"connect[{index}]")


# ---- DNS and TCP connect from the control node ----

def bounded(tasks, timeout, concurrency):
    """Run tasks ({key: callable}) on daemon threads; {key: result}; a task still running at the deadline
    is missing. Daemon threads: a lookup hung in the resolver can not hold the module's exit."""
    work, results, lock = queue.Queue(), {}, threading.Lock()
    for item in tasks.items():
        work.put(item)

    def worker():
        while True:
            try:
                key, task = work.get_nowait()
            except queue.Empty:
                return
            value = task()
            with lock:
                results[key] = value

    threads = [threading.Thread(target=worker, daemon=True) for dummy in range(min(concurrency, len(tasks)))]
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    with lock:
        return dict(results)


def resolve(name):
    start = time.monotonic()
    try:
        infos = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError, OSError) as exc:
        return {"name": name, "addresses": [], "latency_ms": None, "error": str(exc)}
    addresses = sorted({info[4][0] for info in infos}, key=lambda a: (":" in a, a))
    return {"name": name, "addresses": addresses, "latency_ms": round((time.monotonic() - start) * 1000, 1),
            "error": None}


def connect(target, host, port, timeout):
    start = time.monotonic()
    record = {"target": target, "host": host, "port": port, "connected": False, "latency_ms": None, "error": None}
    try:
        with socket.create_connection((host, port), timeout=timeout):
            record.update(connected=True, latency_ms=round((time.monotonic() - start) * 1000, 1))
    except (OSError, UnicodeError) as exc:
        record["error"] = str(exc) or type(exc).__name__
    return record


def probe(params):
    """(dns records, connect records, findings), all lookups and connects at once, bounded by timeout."""
    timeout, names = params["timeout"], params.get("dns") or []
    targets = [(t, *parse_target(t, "connect")) for t in params.get("connect") or []]
    tasks = {("dns", i): (lambda n=n: resolve(n)) for i, n in enumerate(names)}
    # A connect resolves its host first: its bound is two timeouts.
    tasks.update({("connect", i): (lambda t=t: connect(*t, timeout)) for i, t in enumerate(targets)})
    done = bounded(tasks, 2 * timeout + 0.5, params["concurrency"])
    late = f"no answer within {timeout:g} s"
    dns = [done.get(("dns", i)) or {"name": n, "addresses": [], "latency_ms": None, "error": late}
           for i, n in enumerate(names)]
    connects = [done.get(("connect", i)) or {"target": t[0], "host": t[1], "port": t[2], "connected": False,
                                             "latency_ms": None, "error": late}
                for i, t in enumerate(targets)]
    found = [finding("network.dns_failed", "critical", f"{r['name']} does not resolve: {r['error']}", dict(r))
             for r in dns if r["error"]]
    found += [finding("network.connect_failed", "critical", f"cannot connect to {r['target']}: {r['error']}", dict(r))
              for r in connects if not r["connected"]]
    return dns, connects, found


# ---- reading the estate ----

class Estate:
    """Security groups, subnets and network ACLs read once and kept for every path."""

    def __init__(self, params):
        self.params = params
        self.ec2 = client(params, "ec2")
        self._clients, self.groups, self.subnets, self.acls = {}, {}, {}, {}

    def aws(self, service):
        if service not in self._clients:
            self._clients[service] = client(self.params, service)
        return self._clients[service]

    def security_groups(self, ids):
        missing = [i for i in ids if i not in self.groups]
        if missing:
            for group in paginate(self.ec2.describe_security_groups, "SecurityGroups", GroupIds=missing):
                self.groups[group["GroupId"]] = group
        return [self.groups[i] for i in ids]

    def subnet(self, subnet_id):
        if subnet_id not in self.subnets:
            self.subnets[subnet_id] = call(self.ec2.describe_subnets, SubnetIds=[subnet_id])["Subnets"][0]
            acls = call(self.ec2.describe_network_acls,
                        Filters=[{"Name": "association.subnet-id", "Values": [subnet_id]}])["NetworkAcls"]
            self.acls[subnet_id] = acls[0] if acls else None
        return self.subnets[subnet_id], self.acls[subnet_id]

    def subnet_endpoint(self, label, subnet_id, cidr, groups):
        subnet, acl = self.subnet(subnet_id)
        return netpath.endpoint(f"{label} ({subnet_id})", cidr or subnet["CidrBlock"], subnet_id, acl, groups)

    def endpoints(self, path, side):
        """The endpoints of one side of a path: one per subnet, load balancer subnet or instance."""
        given = _side(path, side)
        groups = self.security_groups(given["security_groups"] or [])
        if given["load_balancer"]:
            lb = call(self.aws("elbv2").describe_load_balancers, Names=[given["load_balancer"]])["LoadBalancers"][0]
            groups = groups or self.security_groups(lb.get("SecurityGroups", []))
            return [self.subnet_endpoint(given["load_balancer"], zone["SubnetId"], None, groups)
                    for zone in lb.get("AvailabilityZones", []) if zone.get("SubnetId")]
        if given["instance_ids"] or given["tags"] or given["asg_name"]:
            autoscaling = self.aws("autoscaling") if given["asg_name"] else None
            instances = select_instances(self.ec2, autoscaling, given["instance_ids"], given["tags"],
                                         given["asg_name"])[0]
            found = []
            for instance in instances:
                if instance["state"] != "running" or not instance["subnet_id"]:
                    continue
                label = instance["id"] + (f" ({instance['name']})" if instance["name"] else "")
                cidr = f"{instance['private_ip']}/32" if instance["private_ip"] else None
                acl = self.subnet(instance["subnet_id"])[1]
                found.append(netpath.endpoint(label, cidr, instance["subnet_id"], acl,
                                              groups or self.security_groups(instance["security_groups"])))
            return found
        if given["subnet_ids"]:
            return [self.subnet_endpoint("subnet", s, given["cidr"], groups) for s in given["subnet_ids"]]
        label = given["cidr"] or ", ".join(given["security_groups"])
        return [netpath.endpoint(label, given["cidr"], None, None, groups)]


# ---- judging the paths ----

def _hop_key(check):
    rule = check.get("rule") or {}
    return (check["kind"], check["direction"], check["leg"], check.get("network_acl_id"),
            tuple(check.get("security_groups") or ()), check["verdict"], rule.get("number"),
            rule.get("group_id"), rule.get("cidr"), check.get("fix"))


def merge_checks(path, sources, destinations):
    """Every check of every source -> destination flow; alike checks (same rule, same fix) merged,
    with the flows they judged and every alternative fix."""
    hops = {}
    for source in sources:
        for destination in destinations:
            for check in netpath.evaluate_flow(source, destination, path["protocol"], path.get("port")):
                flow, alternative = check.pop("hop"), check.pop("fix_alternative", None)
                merged = hops.setdefault(_hop_key(check), dict(check, flows=[]))
                merged["flows"].append(flow)
                if alternative and alternative not in merged.setdefault("fix_alternatives", []):
                    merged["fix_alternatives"].append(alternative)
    return sorted(hops.values(), key=lambda h: HOP_ORDER.index((h["kind"], h["direction"], h["leg"])))


def judge_path(path, sources, destinations):
    """(path record, findings). A deny of part of a flow (an ACL entry that covers part of the
    addresses or of the ephemeral ports) is network.path_partly_blocked, a warning."""
    hops = merge_checks(path, sources, destinations)
    blocked = [h for h in hops if h["verdict"] == "deny" and not h.get("partial")]
    partly = [h for h in hops if h["verdict"] == "deny" and h.get("partial")]
    complete = bool(sources and destinations)
    record = {"name": path["name"], "protocol": path["protocol"], "port": path.get("port"),
              "sources": [s["label"] for s in sources], "destinations": [d["label"] for d in destinations],
              "allowed": not blocked if complete else None, "partly_blocked": bool(partly), "hops": hops}
    if not complete:
        record["reason"] = f"no {'source' if not sources else 'destination'} endpoint (no running instance?)"
    port = netpath.port_text(None if path.get("port") is None else (path["port"], path["port"]))
    found = []
    for hop in blocked + partly:
        evidence = {"path": path["name"], "hop": hop["flows"][0], "protocol": path["protocol"],
                    "port": path.get("port")}
        evidence.update({k: v for k, v in hop.items() if k != "verdict"})
        what, fid, severity = (("partly blocked", "network.path_partly_blocked", "warning") if hop.get("partial")
                               else ("blocked", "network.path_blocked", "critical"))
        found.append(finding(fid, severity, f"path {path['name']} ({path['protocol']} {port}) is {what} at "
                             f"{hop['flows'][0]} ({hop['direction']}, {hop['leg']}): {hop['reason']}. "
                             f"Fix: {hop['fix']}", evidence))
    return record, found


def check_paths(params):
    """(path records, findings); an unreachable API is one network.api_unreachable finding."""
    estate, records, found = Estate(params), [], []
    for index, path in enumerate(params["paths"]):
        try:
            sources = estate.endpoints(path, "source")
            destinations = estate.endpoints(path, "destination")
        except BackendUnavailable:
            raise
        except RunbookError as exc:
            if exc.details.get("aws_error_code") not in NOT_FOUND_CODES:
                raise
            found.append(finding("network.not_found", "critical", f"path {path['name']}: {exc.msg}",
                                 {"path": path["name"], "option": f"paths[{index}]", "error": exc.msg}))
            records.append({"name": path["name"], "protocol": path["protocol"], "port": path.get("port"),
                            "sources": [], "destinations": [], "allowed": None, "hops": [], "reason": exc.msg})
            continue
        record, blocked = judge_path(path, sources, destinations)
        records.append(record)
        found.extend(blocked)
    return records, found


def run(params):
    """Judge every path, resolve every name, connect to every target; the result network_path_info returns."""
    validate(params)
    if params.get("paths") and not HAS_BOTO3:
        raise RunbookError(missing_required_lib("boto3"), exception=BOTO3_IMPORT_ERROR)
    result = {}
    prober = threading.Thread(target=lambda: result.update(zip(("dns", "connect", "found"), probe(params))),
                              daemon=True)
    prober.start()
    paths, findings, status = [], [], None
    if params.get("paths"):
        try:
            paths, findings = check_paths(params)
        except BackendUnavailable as exc:
            findings = [finding("network.api_unreachable", "critical", f"the EC2 API does not answer: {exc.msg}",
                                {"endpoint_url": params.get("endpoint_url"), "region": params.get("region")})]
            status = "unknown"
    prober.join()
    findings.extend(result["found"])
    derived = status_from([f for f in findings if f["id"] != "network.api_unreachable"], DOWN_IDS)
    return check_result(findings, status=worst_status(derived, status or "ok"), paths=paths,
                        dns=result["dns"], connect=result["connect"])
