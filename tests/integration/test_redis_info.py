"""redis_info against the lab's real Redis primary and replica."""

from lab import redis_pair


def nodes(lab):
    return lab.service("redis")["nodes"]


def test_healthy_pair(lab, ansible_module):
    result = ansible_module("redis_info", {"nodes": nodes(lab), "password": redis_pair.PASSWORD})
    assert result["status"] == "ok", result["findings"]
    # Which node is master depends on the drills run before; exactly one is, and the other follows it.
    master = redis_pair.master_port(lab.service("redis"))
    assert result["primary"]["port"] == master
    replica = next(n for n in result["nodes"] if n["port"] != master)
    assert replica["role"] == "slave" and replica["link_status"] == "up" and replica["master_port"] == master
    primary = next(n for n in result["nodes"] if n["port"] == master)
    assert primary["connected_replicas"] == 1
    assert result["promotion_candidate"] is None


def test_wrong_password_is_a_finding_and_never_printed(lab, ansible_module):
    result = ansible_module("redis_info", {"nodes": nodes(lab), "password": "not-the-password-xyz"})
    assert result.get("failed") is not True
    assert result["status"] == "down"
    assert "redis.auth_failed" in {f["id"] for f in result["findings"]}
    assert "not-the-password-xyz" not in result["_stdout"]
    assert redis_pair.PASSWORD not in result["_stdout"]


def test_unreachable_node_is_a_finding(lab, ansible_module):
    extra = nodes(lab) + [{"name": "ghost", "host": "127.0.0.1", "port": 1}]
    result = ansible_module("redis_info", {"nodes": extra, "password": redis_pair.PASSWORD})
    assert result["status"] == "degraded"
    assert {"redis.node_unreachable"} == {f["id"] for f in result["findings"]}


def test_bad_port_names_the_option(lab, ansible_module):
    result = ansible_module("redis_info", {"nodes": [{"host": "127.0.0.1", "port": "six"}]})
    assert result["failed"] is True and "port" in result["msg"]
