"""Who polls which feed, and when: per-server due queues and locks, all in Redis.

The layout is a crawler's frontier. Each server (`host:port`) has a sorted set of its feeds by
next due time (epoch ms), and one more sorted set holds each server by the due time of its
earliest feed. A poller asks only for due servers (miniflux's "due feeds" batch, with its
limit of one per host built in), so at 10,000 feeds it never loads the states of feeds that
are not due, and a server with thousands of due feeds is one entry: it cannot starve the rest.

A claim is one Lua script, so Redis runs it atomically across replicas: for each due server
that is not inside a Retry-After, it takes the server's lock, then its earliest due feed's
lock, pushes that feed a lease ahead (if its poller dies, the feed is due again when the lease
runs out), hides the server until the poll is finished, and returns the feed's state.
`finish` writes the new state, the next due time and any Retry-After hold, frees both locks
and puts the server back in line at its next due feed. `settle` does both in one script —
the finishes of a batch of polls, then the next claims — so a busy poller pays one round trip
per batch, not two per poll. Local files (no
server) share one queue without a server lock.

The scripts build key names from prefixes that `Keys` spells, so they assume one Redis (not a
cluster), as the rest of wirewatch does.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import redis.asyncio as aioredis

from services.common.keys import Keys
from services.poller.feed_state import FeedState

__all__ = ["Claim", "ClaimRefusal", "DueFeeds", "Finish"]

REGISTER_BATCH = 500  # feeds per register script: keeps each one a few ms of Redis time

# Every script: KEYS[1] = servers by earliest due, KEYS[2] = feed -> server hash;
# ARGV[1..8] = now ms, lease ms, owner, and the key prefixes below; then its own arguments.
_COMMON = """
local now, lease, owner = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local Q, FL, HL, HW, ST = ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]

local function refresh(host)
  local first = redis.call('ZRANGE', Q .. host, 0, 0, 'WITHSCORES')
  if not first[1] then
    redis.call('ZREM', KEYS[1], host)
    return
  end
  local score = tonumber(first[2])
  if host ~= '' then
    for _, key in ipairs({HW .. host, HL .. host}) do
      local left = redis.call('PTTL', key)
      if left > 0 and now + left > score then score = now + left end
    end
  end
  redis.call('ZADD', KEYS[1], score, host)
end

local function take(id, host)
  if not redis.call('SET', FL .. id, owner, 'NX', 'PX', lease) then
    redis.call('ZADD', Q .. host, now + lease, id)
    return nil
  end
  redis.call('ZADD', Q .. host, now + lease, id)
  return {id, host, redis.call('GET', ST .. id) or ''}
end
"""

# ARGV[9] = the finished polls as one JSON array of [feed id, server, next due ms, hold ms,
# state JSON or ''] (one argument, not five per poll: encoding arguments was a third of the
# client's cost), [10] = most feeds to claim, [11] = most servers to look at.
# Finishing first frees each finished feed's server for the claim that follows.
_SETTLE = (
    _COMMON
    + """
local limit, out = tonumber(ARGV[10]), {}
for _, done in ipairs(cjson.decode(ARGV[9])) do
  local id, host, hold, state = done[1], done[2], tonumber(done[4]), done[5]
  redis.call('ZADD', Q .. host, tonumber(done[3]), id)
  if state ~= '' then redis.call('SET', ST .. id, state) end
  if redis.call('GET', FL .. id) == owner then redis.call('DEL', FL .. id) end
  if host ~= '' then
    if redis.call('GET', HL .. host) == owner then redis.call('DEL', HL .. host) end
    if hold > 0 then redis.call('SET', HW .. host, '1', 'PX', hold) end
  end
  refresh(host)
end
if limit <= 0 then return out end
local hosts = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[11]))
for _, host in ipairs(hosts) do
  if #out >= limit then break end
  if host == '' then
    local ids = redis.call('ZRANGEBYSCORE', Q, '-inf', now, 'LIMIT', 0, limit - #out)
    for _, id in ipairs(ids) do
      local got = take(id, '')
      if got then out[#out + 1] = got end
    end
    refresh('')
  else
    local wait = redis.call('PTTL', HW .. host)
    if wait > 0 then
      redis.call('ZADD', KEYS[1], now + wait, host)
    elseif redis.call('SET', HL .. host, owner, 'NX', 'PX', lease) then
      local ids = redis.call('ZRANGEBYSCORE', Q .. host, '-inf', now, 'LIMIT', 0, 1)
      local got = ids[1] and take(ids[1], host)
      if got then
        out[#out + 1] = got
        redis.call('ZADD', KEYS[1], now + lease, host)
      else
        redis.call('DEL', HL .. host)
        refresh(host)
      end
    else
      redis.call('ZADD', KEYS[1], now, host)
    end
  end
end
return out
"""
)

# ARGV[9..] = feed ids.
_CLAIM_IDS = (
    _COMMON
    + """
local out = {}
for i = 9, #ARGV do
  local id = ARGV[i]
  local host = redis.call('HGET', KEYS[2], id) or ''
  local status, wait, got = 'ok', 0, nil
  if host ~= '' then
    wait = redis.call('PTTL', HW .. host)
    if wait > 0 then
      status = 'wait'
    elseif not redis.call('SET', HL .. host, owner, 'NX', 'PX', lease) then
      status, wait = 'host-busy', 0
    end
  end
  if status == 'ok' then
    got = take(id, host)
    if not got then
      status = 'feed-busy'
      if host ~= '' then redis.call('DEL', HL .. host) end
    end
    refresh(host)
  end
  out[#out + 1] = {id, host, status, tostring(math.max(wait, 0)), got and got[3] or ''}
end
return out
"""
)

# ARGV[9..] = (feed id, server, interval ms) triples.
_REGISTER = (
    _COMMON
    + """
local touched = {}
for i = 9, #ARGV, 3 do
  local id, host, every = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  local old = redis.call('HGET', KEYS[2], id)
  if old and old ~= host then
    redis.call('ZREM', Q .. old, id)
    touched[old] = true
  end
  redis.call('HSET', KEYS[2], id, host)
  redis.call('ZADD', Q .. host, 'NX', now, id)
  redis.call('ZADD', Q .. host, 'XX', 'LT', now + every, id)
  touched[host] = true
end
for host, _ in pairs(touched) do refresh(host) end
return 1
"""
)


@dataclass(frozen=True)
class Claim:
    """A feed this poller may now fetch: nobody else will until `finish` or the lease ends."""

    feed_id: str
    host: str  # the server whose lock the claim holds ("" for local files)
    state: FeedState


@dataclass(frozen=True)
class Finish:
    """A finished poll to record: the feed's new `state` (None: leave it), when it is next
    due, and how long its whole server stays off limits (its Retry-After; 0 for none)."""

    feed_id: str
    host: str
    next_due_ms: int
    state: FeedState | None
    hold_ms: int = 0


@dataclass(frozen=True)
class ClaimRefusal:
    """Why a feed named in `claim_ids` could not be taken right now."""

    feed_id: str
    reason: str  # "host-busy" | "feed-busy" | "wait"
    wait_seconds: float = 0.0


class DueFeeds:
    """The due queues and the locks around them, for one key prefix."""

    def __init__(self, client: aioredis.Redis, keys: Keys) -> None:
        self._client = client
        self._keys = [keys.feeds_due(), keys.feed_hosts()]
        self._prefixes = [
            keys.server_due(""),
            keys.feed_lock(""),
            keys.host_lock(""),
            keys.host_wait(""),
            keys.feed_status(""),
        ]
        self._settle = client.register_script(_SETTLE)
        self._claim_ids = client.register_script(_CLAIM_IDS)
        self._register = client.register_script(_REGISTER)

    async def register(self, feeds: Iterable[tuple[str, str, float]], now_ms: int) -> None:
        """Make sure every configured feed (id, server, every) is queued under its server.

        New feeds are due now. A feed already queued keeps its time, unless its interval got
        shorter than the wait left (`every: 1d` edited to `5m`); one whose URL moved to
        another server moves queues.
        """
        rows = list(feeds)
        for start in range(0, len(rows), REGISTER_BATCH):
            args: list[str | int] = []
            for feed_id, host, every in rows[start : start + REGISTER_BATCH]:
                args += [feed_id, host, int(every * 1000)]
            await self._register(keys=self._keys, args=[*self._head(now_ms, 0, ""), *args])

    async def claim_due(self, now_ms: int, limit: int, *, lease_ms: int, owner: str) -> list[Claim]:
        """Up to `limit` due feeds, at most one per server, claimed for `lease_ms`."""
        return await self.settle((), now_ms, limit, lease_ms=lease_ms, owner=owner)

    async def settle(
        self,
        finished: Sequence[Finish],
        now_ms: int,
        limit: int,
        *,
        lease_ms: int,
        owner: str,
    ) -> list[Claim]:
        """Record `finished` polls, then claim up to `limit` due feeds (at most one per
        server): one script, so the scheduler pays one round trip per batch of polls, not
        two per poll (at 10,000 mostly-304 feeds those round trips were the poll's cost)."""
        if limit <= 0 and not finished:
            return []
        batch = json.dumps(
            [
                [
                    done.feed_id,
                    done.host,
                    done.next_due_ms,
                    max(0, done.hold_ms),
                    "" if done.state is None else done.state.to_json(),
                ]
                for done in finished
            ],
            ensure_ascii=False,
        )
        args = [*self._head(now_ms, lease_ms, owner), batch, max(0, limit), max(64, limit * 4)]
        answer = await self._settle(keys=self._keys, args=args)
        return [
            Claim(_text(feed), _text(host), FeedState.from_json(raw)) for feed, host, raw in answer
        ]

    async def claim_ids(
        self, feed_ids: Sequence[str], now_ms: int, *, lease_ms: int, owner: str
    ) -> list[Claim | ClaimRefusal]:
        """Claim these feeds whether due or not (`run --once`), but never past a lock or a
        Retry-After; one answer per id, in order."""
        if not feed_ids:
            return []
        answer = await self._claim_ids(
            keys=self._keys, args=[*self._head(now_ms, lease_ms, owner), *feed_ids]
        )
        results: list[Claim | ClaimRefusal] = []
        for feed, host, status, wait, raw in answer:
            feed_id, reason = _text(feed), _text(status)
            if reason == "ok":
                results.append(Claim(feed_id, _text(host), FeedState.from_json(raw)))
            else:
                results.append(ClaimRefusal(feed_id, reason, int(_text(wait)) / 1000))
        return results

    async def finish(
        self,
        feed_id: str,
        host: str,
        *,
        owner: str,
        now_ms: int,
        next_due_ms: int,
        state: FeedState | None,
        hold_ms: int = 0,
    ) -> None:
        """Record one poll (`state`, None to leave it), requeue the feed and free its locks;
        `hold_ms` > 0 keeps the whole server off limits that long (its Retry-After)."""
        done = Finish(feed_id, host, next_due_ms, state, hold_ms)
        await self.settle([done], now_ms, 0, lease_ms=0, owner=owner)

    async def servers_due(self, now_ms: int) -> int:
        """How many servers have a due feed nobody has taken (the SERVERS_DUE gauge)."""
        return int(await self._client.zcount(self._keys[0], "-inf", now_ms))

    def _head(self, now_ms: int, lease_ms: int, owner: str) -> list[str | int]:
        return [now_ms, lease_ms, owner, *self._prefixes]


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value
