"""redis_promote_replica against a fresh, real Redis primary + two replicas per test."""

import pytest
from conftest import run_module

from lab import redis_pair
from lab.core import Lab


@pytest.fixture
def trio(tmp_path):
    lab = Lab(tmp_path)
    info = redis_pair.up(lab, replicas=2)
    lab.set_service("redis", info)
    yield lab, info
    redis_pair.down(lab)


def promote(info, node, check=False, **extra):
    args = {"host": "127.0.0.1", "port": node["port"], "password": info["password"], "wait_timeout": 15}
    args.update(extra)
    return run_module("redis_promote_replica", args, check=check, diff=True)


def kill_primary(lab, info):
    lab.stop("redis-primary")
    return info["nodes"][1], info["nodes"][2]


def test_promote_refuses_while_primary_alive(trio):
    _lab, info = trio
    result = promote(info, info["nodes"][1])
    assert result["failed"] is True and result["changed"] is False
    assert "still answers as master" in result["msg"] and "force=true" in result["msg"]
    assert redis_pair.roles(info) == {"redis-primary": "master", "redis-replica-1": "slave",
                                      "redis-replica-2": "slave"}


def test_check_mode_changes_nothing(trio):
    lab, info = trio
    first, second = kill_primary(lab, info)
    result = promote(info, first, check=True, replicas=info["nodes"])
    assert result["changed"] is True
    assert result["actions"][0] == f"REPLICAOF NO ONE on 127.0.0.1:{first['port']}"
    assert result["after"][f"127.0.0.1:{first['port']}"] == "master"
    assert redis_pair.roles(info) == {"redis-primary": "down", "redis-replica-1": "slave",
                                      "redis-replica-2": "slave"}
    assert redis_pair.client(second["port"]).info("replication")["master_port"] == info["nodes"][0]["port"]


def test_promotes_repoints_and_keeps_the_data(trio):
    lab, info = trio
    first, second = kill_primary(lab, info)
    result = promote(info, first, replicas=info["nodes"])
    assert result["changed"] is True and result.get("failed") is not True
    assert redis_pair.roles(info) == {"redis-primary": "down", "redis-replica-1": "master",
                                      "redis-replica-2": "slave"}
    repl = redis_pair.client(second["port"]).info("replication")
    assert repl["master_port"] == first["port"] and repl["master_link_status"] == "up"
    values = redis_pair.client(first["port"]).mget(info["app_keys"])
    assert None not in values
    assert any("does not answer" in line for line in result["not_repointed"])
    # writes are accepted by the new primary and reach the re-pointed replica
    redis_pair.client(first["port"]).set("drill:after-failover", "1")
    redis_pair.client(first["port"]).wait(1, 5000)
    assert redis_pair.client(second["port"]).get("drill:after-failover") == "1"


def test_second_run_changes_nothing(trio):
    lab, info = trio
    first, _ = kill_primary(lab, info)
    assert promote(info, first, replicas=info["nodes"])["changed"] is True
    again = promote(info, first, replicas=info["nodes"])
    assert again["changed"] is False and again["actions"] == []


def test_force_promotes_despite_live_primary(trio):
    _lab, info = trio
    result = promote(info, info["nodes"][1], force=True)
    assert result["changed"] is True
    assert redis_pair.roles(info)["redis-replica-1"] == "master"


def test_unreachable_replica_is_refused_cleanly(trio):
    _lab, info = trio
    result = run_module("redis_promote_replica", {"host": "127.0.0.1", "port": 1, "password": info["password"]})
    assert result["failed"] is True and result["changed"] is False
    assert "does not answer" in result["msg"] and "Traceback" not in result["msg"]


def test_bad_arguments_take_no_action(trio):
    _lab, info = trio
    result = run_module("redis_promote_replica", {"host": "127.0.0.1", "port": info["nodes"][1]["port"],
                                                  "password": info["password"], "wait_timeout": "later"})
    assert result["failed"] is True and "wait_timeout" in result["msg"]
    assert redis_pair.roles(info)["redis-replica-1"] == "slave"
    assert info["password"] not in result["_stdout"]
