"""The pipelined hot-path Redis client against the real Redis: replies reach the right caller,
errors keep the connection in step, and lost or silent connections fail fast and recover."""

import asyncio
import time

import pytest
import redis.exceptions
from django.conf import settings

from core.redis_pipelined import (
    LAZY_WRITE_SECONDS,
    LuaScript,
    PipelinedRedis,
    pack_command,
    parse_redis_url,
)


@pytest.fixture
def url(redis_client):
    """The test Redis (flushed by redis_client)."""
    return settings.REDIS_URL


@pytest.fixture
async def client(url):
    client = PipelinedRedis(url, timeout=2)
    yield client
    client.close()


def test_pack_command_is_resp_bulk_strings():
    assert pack_command(("SET", "k", b"\x00v", 12, 1.5)) == (
        b"*5\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\n\x00v\r\n$2\r\n12\r\n$3\r\n1.5\r\n"
    )
    with pytest.raises(redis.exceptions.DataError):
        pack_command(("SET", "k", None))
    with pytest.raises(redis.exceptions.DataError):
        pack_command(("SET", "k", True))


def test_parse_redis_url():
    address = parse_redis_url("redis://user:p%40ss@cache.internal:6380/3")
    assert (address.host, address.port, address.db) == ("cache.internal", 6380, 3)
    assert (address.username, address.password, address.tls) == ("user", "p@ss", False)
    assert parse_redis_url("rediss://:secret@h").tls is True
    assert parse_redis_url("rediss://:secret@h").password == "secret"
    socket = parse_redis_url("unix:///run/redis.sock?db=2")
    assert (socket.path, socket.db) == ("/run/redis.sock", 2)
    assert parse_redis_url("redis://localhost").db == 0
    with pytest.raises(ValueError):
        parse_redis_url("http://localhost:6379")


async def test_replies_have_redis_types(client, redis_client):
    assert await client.execute("SET", "k", "v") == b"OK"
    assert await client.execute("GET", "k") == b"v"
    assert await client.execute("GET", "missing") is None
    assert await client.execute("INCRBY", "n", 5) == 5
    assert await client.execute("RPUSH", "l", "a", "b") == 2
    assert await client.execute("LRANGE", "l", 0, -1) == [b"a", b"b"]
    assert redis_client.get("k") == b"v"  # the same database as redis-py's client


async def test_concurrent_callers_each_get_their_own_reply(client):
    """Hundreds of commands in flight on one connection: replies are matched in order."""
    replies = await asyncio.gather(*(client.execute("ECHO", f"caller-{i}") for i in range(500)))
    assert replies == [f"caller-{i}".encode() for i in range(500)]
    counts = await asyncio.gather(*(client.execute("INCR", "shared") for _ in range(300)))
    assert sorted(counts) == list(range(1, 301))


async def test_commands_issued_in_one_loop_turn_share_one_write(client):
    await client.execute("PING")  # connected
    protocol = client._protocol
    writes: list[bytes] = []
    write = protocol.transport.write
    protocol.transport.write = lambda data: (writes.append(data), write(data))[1]
    replies = await asyncio.gather(*(client.execute("ECHO", f"turn-{i}") for i in range(50)))
    assert replies == [f"turn-{i}".encode() for i in range(50)]
    assert len(writes) == 1
    assert writes[0].count(b"ECHO") == 50
    assert await client.execute("ECHO", "alone") == b"alone"  # and a lone command still goes out
    assert len(writes) == 2


async def test_a_lazy_command_waits_for_company_but_not_forever(client):
    await client.execute("PING")
    protocol = client._protocol
    writes: list[bytes] = []
    write = protocol.transport.write
    protocol.transport.write = lambda data: (writes.append(data), write(data))[1]
    loop = asyncio.get_running_loop()
    # Alone, it goes out after LAZY_WRITE_SECONDS.
    started = loop.time()
    assert await client.execute("ECHO", "alone", lazy=True) == b"alone"
    assert loop.time() - started >= LAZY_WRITE_SECONDS * 0.9
    assert len(writes) == 1
    # An ordinary command issued meanwhile takes it along, in one write, in the order issued.
    lazy = asyncio.ensure_future(client.execute("SET", "order", "lazy", lazy=True))
    await asyncio.sleep(0)  # the lazy command is queued
    assert len(writes) == 1
    assert await client.execute("GET", "order") == b"lazy"
    assert await lazy == b"OK"
    assert len(writes) == 2 and writes[1].index(b"SET") < writes[1].index(b"GET")


async def test_execute_many_is_one_write_with_replies_in_order(client, redis_client):
    commands = [("RPUSH", "batch", f"item-{i}") for i in range(1000)]
    assert await client.execute_many(commands) == list(range(1, 1001))
    assert redis_client.lrange("batch", 0, 2) == [b"item-0", b"item-1", b"item-2"]
    assert await client.execute_many([]) == []
    # An error reply is raised, and only after every reply arrived: the connection stays in step.
    await client.execute("SET", "text", "x")
    with pytest.raises(redis.exceptions.ResponseError):
        await client.execute_many([("INCR", "text"), ("RPUSH", "batch", "last")])
    assert redis_client.llen("batch") == 1001
    assert await client.execute("ECHO", "next") == b"next"


async def test_an_error_reply_fails_its_caller_only(client):
    await client.execute("SET", "text", "not a number")
    results = await asyncio.gather(
        client.execute("ECHO", "before"),
        client.execute("INCR", "text"),
        client.execute("ECHO", "after"),
        return_exceptions=True,
    )
    assert results[0] == b"before"
    assert isinstance(results[1], redis.exceptions.ResponseError)
    assert "not an integer" in str(results[1])
    assert results[2] == b"after"


async def test_script_loads_itself_once_then_runs_by_sha(client, redis_client):
    script = LuaScript("return {KEYS[1], ARGV[1], redis.call('INCR', KEYS[1])}")
    redis_client.script_flush()
    assert redis_client.script_exists(script.sha) == [False]
    assert await client.run_script(script, keys=["s"], args=["x"]) == [b"s", b"x", 1]
    assert redis_client.script_exists(script.sha) == [True]  # the EVAL fallback loaded it
    redis_client.config_resetstat()
    assert await client.run_script(script, keys=["s"], args=["y"]) == [b"s", b"y", 2]
    stats = redis_client.info("commandstats")
    assert stats["cmdstat_evalsha"]["calls"] == 1
    assert "cmdstat_eval" not in stats


async def test_script_soon_goes_out_with_the_turns_commands_and_loads_an_unknown_script(
    client, redis_client
):
    script = LuaScript("return redis.call('INCRBY', KEYS[1], ARGV[1])")
    first = client.script_soon(script, keys=["soon"], args=[2])  # not connected yet: a task
    assert await first == 2
    protocol = client._protocol
    writes: list[bytes] = []
    write = protocol.transport.write
    protocol.transport.write = lambda data: (writes.append(data), write(data))[1]
    soon = client.script_soon(script, keys=["soon"], args=[3])
    assert not soon.done()
    assert await client.execute("GET", "soon") == b"5"  # sent after it, in the same write
    assert await soon == 5
    assert len(writes) == 1 and writes[0].index(b"EVALSHA") < writes[0].index(b"GET")
    redis_client.script_flush()  # NOSCRIPT: loaded once with EVAL, the reply still arrives
    assert await client.script_soon(script, keys=["soon"], args=[4]) == 9
    assert redis_client.script_exists(script.sha) == [True]
    failing = client.script_soon(LuaScript("return redis.call('NOPE')"), keys=[], args=[])
    with pytest.raises(redis.exceptions.ResponseError):
        await failing
    assert await client.execute("PING") == b"PONG"


async def test_a_script_error_is_a_response_error(client):
    with pytest.raises(redis.exceptions.ResponseError):
        await client.run_script(LuaScript("return redis.call('NOPE')"), keys=[], args=[])
    assert await client.execute("PING") == b"PONG"


async def test_a_cancelled_caller_does_not_shift_the_replies(client):
    waiting = asyncio.ensure_future(client.execute("BLPOP", "never", 0.3))
    await asyncio.sleep(0.05)
    waiting.cancel()
    # sent after the BLPOP, so its reply comes after the BLPOP's (nil) reply, which is dropped
    assert await client.execute("ECHO", "mine") == b"mine"


async def test_a_lost_connection_fails_commands_in_flight_and_reconnects(client, redis_client):
    connection_id = await client.execute("CLIENT", "ID")
    blocked = asyncio.ensure_future(client.execute("BLPOP", "never", 5))
    await asyncio.sleep(0.05)
    redis_client.client_kill_filter(_id=connection_id)
    with pytest.raises(redis.exceptions.ConnectionError):
        await asyncio.wait_for(blocked, 2)
    assert await client.execute("PING") == b"PONG"
    assert await client.execute("CLIENT", "ID") != connection_id


async def test_no_reply_within_the_timeout_is_a_timeout(url):
    client = PipelinedRedis(url, timeout=0.2)
    try:
        start = time.monotonic()
        with pytest.raises(redis.exceptions.TimeoutError):
            await client.execute("BLPOP", "never", 3)
        assert time.monotonic() - start < 1.0
        assert await client.execute("PING") == b"PONG"  # on a new connection
    finally:
        client.close()


async def test_unreachable_server_is_a_connection_error():
    client = PipelinedRedis("redis://127.0.0.1:1/0", connect_timeout=1)
    results = await asyncio.gather(
        client.execute("PING"), client.execute("PING"), return_exceptions=True
    )
    assert all(isinstance(r, redis.exceptions.ConnectionError) for r in results)


async def test_database_number_and_refused_auth(url, redis_client):
    other_db = url.rsplit("/", 1)[0] + "/13"
    client = PipelinedRedis(other_db)
    try:
        await client.execute("SET", "db13-key", "1")
        assert redis_client.get("db13-key") is None
        import redis as redis_sync

        side = redis_sync.Redis.from_url(other_db)
        assert side.get("db13-key") == b"1"
        side.delete("db13-key")
        side.close()
    finally:
        client.close()
    wrong = PipelinedRedis(url.replace("redis://", "redis://:not-the-password@"))
    with pytest.raises(redis.exceptions.ConnectionError):
        await wrong.execute("PING")  # this Redis has no password: AUTH is refused


async def test_close_fails_what_is_in_flight(client):
    blocked = asyncio.ensure_future(client.execute("BLPOP", "never", 5))
    await asyncio.sleep(0.05)
    client.close()
    with pytest.raises(redis.exceptions.ConnectionError):
        await asyncio.wait_for(blocked, 2)
