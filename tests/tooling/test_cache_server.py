"""The local stack's shared cache tier: its server started, answering and stopped, and
how the stack hands its URL to the functions, or runs without it."""

import shutil

import pytest
import redis

from devtools import cache_server
from devtools.local_stack import cache_environment, free_port, local_outputs, parity, start_cache


def test_the_server_serves_in_memory_and_stops(tmp_path):
    server = cache_server.start("127.0.0.1", free_port(), tmp_path / "cache.log")
    try:
        server.wait_until_serving()
        client = redis.Redis.from_url(server.url)
        assert client.set("k", "v", ex=60) and client.get("k") == b"v"
        assert client.config_get("save") == {"save": ""}  # nothing written to disk
        client.close()
    finally:
        server.stop()
    assert server.process.poll() is not None
    assert not server.answers()


def test_a_server_that_cannot_start_says_why(tmp_path):
    first = cache_server.start("127.0.0.1", free_port(), tmp_path / "first.log")
    try:
        first.wait_until_serving()
        taken = cache_server.start("127.0.0.1", first.port, tmp_path / "second.log")
        try:
            with pytest.raises(cache_server.CacheServerError, match="exited"):
                taken.wait_until_serving()
        finally:
            taken.stop()
    finally:
        first.stop()


def test_stockroom_cache_tier_none_runs_the_stack_without_it(monkeypatch):
    monkeypatch.setenv(cache_server.TIER_VARIABLE, "none")
    assert start_cache("127.0.0.1", free_port()) is None
    assert cache_environment(None) == {}
    assert "CACHE_URL is empty" in parity(True, cache=False)
    monkeypatch.setenv(cache_server.TIER_VARIABLE, "memcached")
    with pytest.raises(cache_server.CacheServerError, match="redis, none"):
        cache_server.tier()


def test_the_functions_and_the_outputs_get_the_servers_url(stack):
    url = "redis://127.0.0.1:6380"
    assert cache_environment(url) == {"CACHE_URL": url}
    outputs = local_outputs(stack, "http://127.0.0.1:3000", "http://127.0.0.1:4566", None, url)
    assert outputs["CacheUrl"] == url
    assert "CacheUrl" not in local_outputs(stack, "http://127.0.0.1:3000", "http://127.0.0.1:4566")


def test_a_missing_server_names_how_to_get_one(monkeypatch, tmp_path):
    monkeypatch.setattr(cache_server, "INSTALLED", tmp_path / "nothing")
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(cache_server.CacheServerError, match=r"make run.*apt-get install"):
        cache_server.binary()
