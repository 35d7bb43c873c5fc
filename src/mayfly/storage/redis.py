"""Redis and Redis Cluster: secrets that several app servers share.

Every change is one Lua script, run by Redis as one atomic step: the view
counter, the attempt counter, the receipt and the counters move together, and
no Python code ever reads a secret and then deletes it in a second step.

Keys. A secret lives in one of ``SHARDS`` shards, chosen from its id; every
key of a shard carries the shard's hash tag, so on a cluster a secret, the
shard's expiry indexes and the shard's counters all sit in one hash slot, and
a script may touch them together. (A tag of the bare id would keep a secret's
own keys together, but then the counters could only be updated in a second,
non-atomic command on another slot.) Per shard ``{0042}``:

    mayfly:{0042}:receipt:<id>  hash    states and times, the manage hash;
                                        expires (PEXPIREAT) at keep_until (or
                                        later if it may owe an expiry notice)
    mayfly:{0042}:secret:<id>   hash    ciphertext, proof hashes, kdf;
                                        expires at expires_at
    mayfly:{0042}:expiring      zset    ids still waiting, by expires_at
    mayfly:{0042}:unread        zset    ids waiting and never viewed, by expires_at
    mayfly:{0042}:receipts      zset    every id, by keep_until
    mayfly:{0042}:counters      hash    the COUNTERS of this shard
    mayfly:{0042}:replies:<id>  hash    replies to a secret: "<n>:created_at",
                                        "<n>:read_at", "<n>:ciphertext" (until
                                        read); expires at keep_until
    mayfly:{0042}:notices       hash    queued notices, "<event id>/<channel>" ->
                                        the notice as JSON (issue #12)
    mayfly:{0042}:notices:due   zset    the same keys, by when they are due (the
                                        next try, or the end of a worker's lease)

and, outside every shard, ``mayfly:format``: the format version of all of it
(storage/migrations.py), checked when a process first connects.

A secret that accepts replies keeps in its receipt hash the reply key
(``reply_public_key``, ``reply_wrapped_key``), the link proof hash that
authorises a reply (``reply_hash``), ``replies_left`` (one granted per view)
and ``replies`` (how many were posted). Receipts written before replies
existed simply lack these fields, which read as "no replies"; as the fields
are only added, and a 0.1.0 reader ignores them, the format stays 1.
Notices add fields (``notify_address``, ``notify_language``) and keys in the
same way: an older reader ignores them (it would only not send the notices;
the address still goes at keep_until with its receipt), so the format stays 1.
A notice is queued inside the script of the change it tells of, in the
secret's shard (its hash slot on a cluster); the worker looks for due notices
in every shard, as ``purge`` does.
A request (issue #11) is such a secret whose receipt hash also says
``kind`` = ``request``: its ciphertext is the note, ``replies_left`` starts
at 1 (the answer, which needs no view), and its answer, reply 1, is dropped
when the request ends in any way. A receipt without ``kind`` is a secret's.

Expiry. Redis itself deletes a ciphertext (and its proof hashes) at
expires_at and a receipt at keep_until (a day after expires_at at the earliest
when it may owe a notice), whether or not mayfly ever purges.
Between the two, the receipt still says "waiting" until a purge marks it;
the rules report it "expired" from the times it holds.
``purge`` only keeps the books: it walks the shards' indexes for entries that
are due, marks those receipts expired, counts ``secrets_expired_unread`` for
ids still in ``unread`` (a TTL cannot tell us, and keyspace notifications are
fire-and-forget), and deletes keys whose time came by mayfly's clock even if
Redis's clock has not reached it. ``counters`` sums the shards.

Durability is Redis's: with ``appendonly yes`` a change reaches the AOF
(write(2)) before Redis answers, so a killed Redis process loses nothing it
acknowledged; ``appendfsync everysec`` may lose the last second on a power
loss (docs/scaling.md). Writes are never retried automatically: if a reply is
lost, one view may be spent without being delivered, but never handed out
twice.

Remnants. Redis deletes an ended secret from memory at once, but its append-only
file keeps the commands that wrote it until the file is rewritten (and an RDB
snapshot keeps it until the next one). ``scrub``, which ``mayfly purge`` runs
after each purge, has every primary rewrite its AOF (``BGREWRITEAOF``: a new
file from memory, where ended secrets no longer are; Redis then deletes the old
parts) and write a new snapshot if it keeps one, and waits for both.

Scripts carry a ``#!lua`` shebang (Redis 7): a write script is refused as a
whole when Redis is out of memory, instead of failing half-way.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from urllib.parse import unquote

import redis
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.commands.core import Script
from redis.connection import PythonRespSerializer
from redis.exceptions import NoScriptError, RedisClusterException, RedisError, ResponseError
from redis.retry import Retry

from ..errors import ConfigError, StorageTooNew, StorageUnavailable
from . import REDIS_SCHEMES
from .base import (
    COUNTERS,
    NOTICE_GIVE_UP,
    Live,
    NewRecord,
    Notice,
    Purged,
    Receipt,
    ReplyInfo,
    ReplyKey,
    Revealed,
    Storage,
    Taken,
)
from .migrations import FORMAT_KEY, REDIS_FORMAT, too_new

SHARDS = 1024
# Due index entries fetched per shard and round trip while purging.
PURGE_BATCH = 500
# A stalled Redis must become a 503 quickly, not a hung worker. URL query
# parameters (?socket_timeout=...) override these.
TIMEOUTS = {"socket_timeout": 5.0, "socket_connect_timeout": 2.0}
# How long ``scrub`` waits for Redis to rewrite its files.
SCRUB_DEADLINE = 600.0

# KEYS of every script: receipt, secret, expiring, unread, receipts, counters, replies.
# ARGV[1] is the id and ARGV[2] the caller's clock, as Python wrote them (times
# are stored as the strings Python sent, never reformatted by Lua).
_PRELUDE = """
local id, now = ARGV[1], tonumber(ARGV[2])
local function live()
  local state, expires_at = unpack(redis.call('HMGET', KEYS[1], 'state', 'expires_at'))
  return state == 'waiting' and now < tonumber(expires_at)
    and redis.call('EXISTS', KEYS[2]) == 1
end
local function count(name)
  redis.call('HINCRBY', KEYS[6], name, 1)
end
-- Queue the notices of a change (issue #12): an email if the sender gave an
-- address and wants to hear of this one, a webhook event for every change if
-- the operator set one (the script's last ARGV, '1'). Nothing written otherwise.
-- A view's event is "read:<n>", its n-th view. Called before finish() forgets the address.
local function queue(what, state, at, email)
  local webhook = ARGV[#ARGV] == '1'
  local address = email and redis.call('HGET', KEYS[1], 'notify_address')
  if not webhook and not address then return end
  local language, created_at, left, max_views = unpack(redis.call('HMGET', KEYS[1],
    'notify_language', 'created_at', 'views_left', 'max_views'))
  local views_left = tonumber(left)
  if what == 'read' then what = 'read:' .. (tonumber(max_views) - views_left) end
  local event = id .. ':' .. what
  local function put(channel, entry)
    local key = event .. '/' .. channel
    entry.key, entry.event_id, entry.channel, entry.secret_id = key, event, channel, id
    entry.state, entry.at, entry.views_left, entry.created_at = state, at, views_left, created_at
    entry.queued_at, entry.attempts = ARGV[2], 0
    if redis.call('HSETNX', KEYS[8], key, cjson.encode(entry)) == 1 then
      redis.call('ZADD', KEYS[9], ARGV[2], key)
    end
  end
  if address then put('email', {address = address, language = language}) end
  if webhook then put('webhook', {}) end
end
local function is_request()
  return redis.call('HGET', KEYS[1], 'kind') == 'request'
end
-- A request's answer ends with it (a secret's replies outlive the secret).
local function drop_answer()
  if is_request() then redis.call('HDEL', KEYS[7], '1:ciphertext') end
end
-- A secret ends: only states and times remain.
local function finish(state)
  redis.call('HSET', KEYS[1], 'state', state, 'ended_at', ARGV[2])
  redis.call('HDEL', KEYS[1], 'notify_address', 'notify_language')
  redis.call('DEL', KEYS[2])
  redis.call('ZREM', KEYS[3], id)
  redis.call('ZREM', KEYS[4], id)
  drop_answer()
end
"""

_CREATE = """
-- ARGV: id, now, created_at, expires_at, keep_until, max_views, expires_ms, keep_ms,
--       manage_hash, ciphertext, link_hash, access_hash, kdf,
--       reply_public_key, reply_wrapped_key (both empty: no replies), kind,
--       notify_address, notify_language (both empty: no email notices)
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.error_reply('ERR mayfly: id already taken')
end
redis.call('HSET', KEYS[1], 'state', 'waiting', 'manage_hash', ARGV[9],
  'created_at', ARGV[3], 'expires_at', ARGV[4], 'keep_until', ARGV[5],
  'max_views', ARGV[6], 'views_left', ARGV[6], 'failed_attempts', 0)
if ARGV[14] ~= '' then
  redis.call('HSET', KEYS[1], 'reply_public_key', ARGV[14], 'reply_wrapped_key', ARGV[15],
    'reply_hash', ARGV[11], 'replies_left', 0, 'replies', 0)
end
if ARGV[16] == 'request' then
  -- One grant, the answer, that needs no view.
  redis.call('HSET', KEYS[1], 'kind', 'request', 'replies_left', 1)
end
if ARGV[17] ~= '' then
  redis.call('HSET', KEYS[1], 'notify_address', ARGV[17], 'notify_language', ARGV[18])
end
redis.call('PEXPIREAT', KEYS[1], ARGV[8])
redis.call('HSET', KEYS[2], 'ciphertext', ARGV[10], 'link_hash', ARGV[11],
  'access_hash', ARGV[12], 'kdf', ARGV[13])
redis.call('PEXPIREAT', KEYS[2], ARGV[7])
redis.call('ZADD', KEYS[3], ARGV[4], id)
redis.call('ZADD', KEYS[4], ARGV[4], id)
redis.call('ZADD', KEYS[5], ARGV[5], id)
count(ARGV[16] == 'request' and 'requests_created' or 'secrets_created')
return 1
"""

# The look-ups read each hash once (one HMGET each), where live() and a field per HGET
# took six commands: a metadata GET's script cost a third less in Redis.
_LOOKUP = """
local state, expires_at, max_views, views_left, failed, reply_key, kind = unpack(
  redis.call('HMGET', KEYS[1], 'state', 'expires_at', 'max_views', 'views_left',
    'failed_attempts', 'reply_public_key', 'kind'))
if state ~= 'waiting' or now >= tonumber(expires_at) then return false end
local link_hash, access_hash, kdf = unpack(redis.call('HMGET', KEYS[2], 'link_hash',
  'access_hash', 'kdf'))
-- No proof hash: Redis expired the ciphertext before mayfly's clock said so.
if not link_hash then return false end
return {expires_at, max_views, views_left, failed, link_hash, access_hash, kdf,
  reply_key or '', kind or 'secret'}
"""

_PEEK = """
local state, expires_at, kind = unpack(redis.call('HMGET', KEYS[1], 'state', 'expires_at',
  'kind'))
if state ~= 'waiting' or now >= tonumber(expires_at) or kind ~= 'request' then return false end
return redis.call('HGET', KEYS[2], 'ciphertext')
"""

_VIEW = """
-- Use up one view of a live secret; the ciphertext and the views left.
local function take_view()
  local ciphertext = redis.call('HGET', KEYS[2], 'ciphertext')
  local left = redis.call('HINCRBY', KEYS[1], 'views_left', -1)
  redis.call('HSETNX', KEYS[1], 'first_read_at', ARGV[2])
  redis.call('HSET', KEYS[1], 'last_read_at', ARGV[2])
  redis.call('ZREM', KEYS[4], id)
  if redis.call('HEXISTS', KEYS[1], 'reply_public_key') == 1 then
    redis.call('HINCRBY', KEYS[1], 'replies_left', 1)
  end
  count('views_revealed')
  queue('read', left == 0 and 'read' or 'waiting', ARGV[2], true)
  if left == 0 then
    finish('read')
    count('secrets_read')
  end
  return ciphertext, left
end
-- Count a failed attempt of a live secret, burning it at max_attempts; attempts left.
local function fail_attempt(max_attempts)
  local failed = redis.call('HINCRBY', KEYS[1], 'failed_attempts', 1)
  count('failed_attempts')
  local left = math.max(tonumber(max_attempts) - failed, 0)
  if left == 0 then
    queue('failed', 'failed', ARGV[2], true)
    finish('failed')
    count('secrets_burned_by_attempts')
  end
  return left
end
"""

_TAKE = _VIEW + """
if not live() then return false end
return {take_view()}
"""

_FAIL = _VIEW + """
-- ARGV[3]: max_attempts
if not live() then return false end
return fail_attempt(ARGV[3])
"""

# A reveal in one round trip: the look-up, both proofs' checks and the view (or the
# failed attempt) in one atomic step, where they were a look-up, then take or fail.
# Python hashes the presented proofs (Lua has no SHA-256); the script compares
# digests with same(), whose time does not depend on where they differ.
_REVEAL = _VIEW + """
-- ARGV[3], ARGV[4]: SHA-256 of the presented link and access proofs; ARGV[5]: max_attempts
-- Equal digests, compared as hmac.compare_digest does: every byte, whatever the first
-- difference. (The stored digests are of proofs, so of secrets: a comparison that
-- stopped early would tell a timing attacker how much of a digest a guess shares.)
-- Arithmetic in the VM, no branch on a byte: a loop of bit.bxor and bit.bor calls
-- made a reveal's script cost a third more instructions (callgrind).
local function same(stored, given)
  if not stored or #stored ~= #given then return false end
  local a, b = {string.byte(stored, 1, -1)}, {string.byte(given, 1, -1)}
  local diff = 0
  for i = 1, #a do
    local d = a[i] - b[i]
    diff = diff + d * d
  end
  return diff == 0
end
-- live() and is_request() in one read, and the reply key for the answer.
local state, expires_at, kind, reply_key = unpack(redis.call('HMGET', KEYS[1], 'state',
  'expires_at', 'kind', 'reply_public_key'))
-- A request is opened and answered, never revealed.
if state ~= 'waiting' or now >= tonumber(expires_at) or kind == 'request' then return false end
local link_hash, access_hash = unpack(redis.call('HMGET', KEYS[2], 'link_hash', 'access_hash'))
-- No ciphertext's hash (Redis expired it before mayfly's clock said so): not live.
if not link_hash then return false end
-- A wrong link proof means the caller lacks the link: nothing is counted.
if not same(link_hash, ARGV[3]) then return {'link'} end
if not same(access_hash, ARGV[4]) then return {'access', fail_attempt(ARGV[5])} end
local ciphertext, left = take_view()
return {'taken', ciphertext, left, reply_key or ''}
"""

_BURN = """
if not live() then return 0 end
-- The sender burned it: no mail to tell them, only the webhook's event.
queue('burned', 'burned', ARGV[2], false)
finish('burned')
count('secrets_burned_by_sender')
return 1
"""

_EXPIRE = """
-- The lifetime of a secret in the expiring index ended: mark it, count it if unread.
local due = redis.call('ZSCORE', KEYS[3], id)
if not due or tonumber(due) > now then return 0 end
redis.call('ZREM', KEYS[3], id)
redis.call('DEL', KEYS[2])
drop_answer()
local state, expires_at = unpack(redis.call('HMGET', KEYS[1], 'state', 'expires_at'))
local unread = redis.call('ZREM', KEYS[4], id) == 1
if state == 'waiting' then
  -- The sender hears only of a message nobody read; the webhook of every expiry.
  queue('expired', 'expired', expires_at, unread)
  redis.call('HSET', KEYS[1], 'state', 'expired', 'ended_at', expires_at)
  redis.call('HDEL', KEYS[1], 'notify_address', 'notify_language')
end
if unread then count('secrets_expired_unread') end
return 1
"""

_DROP_RECEIPT = """
local due = redis.call('ZSCORE', KEYS[5], id)
if not due or tonumber(due) > now then return 0 end
redis.call('ZREM', KEYS[5], id)
redis.call('DEL', KEYS[1], KEYS[2], KEYS[7])
return 1
"""

_RECEIPT_KEPT = """
local function kept()
  local keep_until = redis.call('HGET', KEYS[1], 'keep_until')
  return keep_until and now < tonumber(keep_until)
end
"""

_POST_REPLY = _RECEIPT_KEPT + """
-- ARGV[3]: the reply's ciphertext
if not kept() or redis.call('HEXISTS', KEYS[1], 'reply_public_key') == 0 then
  return false
end
-- A request is answered only while it is live.
if is_request() and not live() then return false end
if tonumber(redis.call('HGET', KEYS[1], 'replies_left')) <= 0 then return 0 end
redis.call('HINCRBY', KEYS[1], 'replies_left', -1)
local n = redis.call('HINCRBY', KEYS[1], 'replies', 1)
redis.call('HSET', KEYS[7], n .. ':created_at', ARGV[2], n .. ':ciphertext', ARGV[3])
-- Replies live exactly as long as their receipt.
redis.call('PEXPIREAT', KEYS[7], redis.call('PEXPIRETIME', KEYS[1]))
count(is_request() and 'requests_answered' or 'replies_posted')
return n
"""

_TAKE_REPLY = _RECEIPT_KEPT + """
-- ARGV[3]: the reply's number
if not kept() then return false end
local request = is_request()
if request and not live() then return false end
local ciphertext = redis.call('HGET', KEYS[7], ARGV[3] .. ':ciphertext')
if not ciphertext then return false end
-- read_at first: the hash never empties, so it keeps its expiry.
redis.call('HSET', KEYS[7], ARGV[3] .. ':read_at', ARGV[2])
redis.call('HDEL', KEYS[7], ARGV[3] .. ':ciphertext')
count(request and 'answers_read' or 'replies_read')
-- A request's answer is read: the request has done its work.
if request then finish('read') end
return ciphertext
"""

_CLAIM_NOTICES = """
-- KEYS: a shard's notices, notices:due, counters. ARGV: now, lease_until, limit.
-- A notice outlives its receipt: with no receipt retention, the purge that queues
-- an expiry also ends the receipt. The worker drops what it cannot deliver.
local out = {}
for _, key in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0,
    tonumber(ARGV[3]))) do
  local raw = redis.call('HGET', KEYS[1], key)
  local entry = raw and cjson.decode(raw)
  if entry then
    entry.attempts = entry.attempts + 1
    raw = cjson.encode(entry)
    redis.call('HSET', KEYS[1], key, raw)
    redis.call('ZADD', KEYS[2], ARGV[2], key)
    out[#out + 1] = raw
  else
    redis.call('HDEL', KEYS[1], key)
    redis.call('ZREM', KEYS[2], key)
  end
end
return out
"""

_NOTICE_DONE = """
-- KEYS: notices, notices:due, counters. ARGV: the notice's key, the counter.
if redis.call('HDEL', KEYS[1], ARGV[1]) == 1 then
  redis.call('HINCRBY', KEYS[3], ARGV[2], 1)
end
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
"""

_NOTICE_RETRY = """
-- KEYS: notices, notices:due. ARGV: the notice's key, when it is due again.
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
end
return 1
"""

# On one Redis (not a cluster), what is due in every shard's index in one command
# instead of a pipeline of 1024: a purge's CPU in the worker fell from 16 ms to 1 ms.
_DUE = """
-- KEYS: one index per shard, in shard order. ARGV: now, the most members per shard.
-- A flat list: shard, member, shard, member...
local out = {}
for shard, key in ipairs(KEYS) do
  for _, member in ipairs(redis.call('ZRANGEBYSCORE', key, '-inf', ARGV[1], 'LIMIT', 0,
      tonumber(ARGV[2]))) do
    out[#out + 1] = shard - 1
    out[#out + 1] = member
  end
end
return out
"""

_SCRIPTS = {
    "create": _CREATE,
    "lookup": _LOOKUP,
    "peek": _PEEK,
    "take": _TAKE,
    "fail": _FAIL,
    "reveal": _REVEAL,
    "burn": _BURN,
    "expire": _EXPIRE,
    "drop_receipt": _DROP_RECEIPT,
    "post_reply": _POST_REPLY,
    "take_reply": _TAKE_REPLY,
}
# Scripts over a shard's notice queue, without the prelude of one secret's scripts.
_QUEUE_SCRIPTS = {
    "claim_notices": _CLAIM_NOTICES,
    "notice_done": _NOTICE_DONE,
    "notice_retry": _NOTICE_RETRY,
}
_READ_ONLY = {"lookup", "peek"}
# What a look-up needs of the prelude: it reads the receipt and the secret, KEYS[1]
# and KEYS[2], and is sent no other key.
_READ_PRELUDE = """
local now = tonumber(ARGV[2])
"""
READ_KEYS = 2


def _source(name: str) -> str:
    if name == "due":
        return f"#!lua flags=no-writes\n{_DUE}"
    if name in _QUEUE_SCRIPTS:
        return f"#!lua\n{_QUEUE_SCRIPTS[name]}"
    if name in _READ_ONLY:
        return f"#!lua flags=no-writes\n{_READ_PRELUDE}{_SCRIPTS[name]}"
    return f"#!lua\n{_PRELUDE}{_SCRIPTS[name]}"


def shard_of(secret_id: str) -> int:
    """The shard a secret lives in (stable across processes and versions)."""
    return zlib.crc32(secret_id.encode()) % SHARDS


def shard_prefix(shard: int) -> str:
    return f"mayfly:{{{shard:04d}}}:"


def secret_keys(secret_id: str) -> list[str]:
    """The KEYS of every script for one secret, all in one hash slot."""
    prefix = shard_prefix(shard_of(secret_id))
    return [f"{prefix}receipt:{secret_id}", f"{prefix}secret:{secret_id}",
            f"{prefix}expiring", f"{prefix}unread", f"{prefix}receipts", f"{prefix}counters",
            f"{prefix}replies:{secret_id}", f"{prefix}notices", f"{prefix}notices:due"]


@cache
def index_keys(index: str) -> tuple[str, ...]:
    """Every shard's key of one index (expiring, receipts, notices:due), in shard order."""
    return tuple(shard_prefix(shard) + index for shard in range(SHARDS))


def queue_keys(shard: int) -> list[str]:
    """The KEYS of the notice queue's scripts for one shard."""
    prefix = shard_prefix(shard)
    return [f"{prefix}notices", f"{prefix}notices:due", f"{prefix}counters"]


def _num(value: float) -> str:
    """A time as a string Lua's tonumber and Python's float read back exactly."""
    return repr(float(value))


def _ms(seconds: float) -> int:
    # Rounded up: Redis never drops a key before mayfly's own clock would.
    return math.ceil(seconds * 1000)


def parse_cluster_url(url: str) -> tuple[list[ClusterNode], dict]:
    """redis+cluster://[user:password@]host:port,host:port[?option=value] -> nodes, options."""
    rest = url.removeprefix("redis+cluster://")
    rest, _, query = rest.partition("?")
    rest = rest.rstrip("/")
    userinfo, _, hosts = rest.rpartition("@")
    options: dict = {}
    if userinfo:
        user, _, password = userinfo.partition(":")
        if user:
            options["username"] = unquote(user)
        if password:
            options["password"] = unquote(password)
    nodes = []
    for item in hosts.split(","):
        host, _, port = item.strip().rpartition(":")
        if not host or not port.isdigit():
            raise ConfigError(
                f"MAYFLY_STORAGE_URL: expected redis+cluster://host:port,host:port, got {url!r}"
            )
        nodes.append(ClusterNode(host.strip("[]"), int(port)))
    for pair in filter(None, query.split("&")):
        name, _, value = pair.partition("=")
        if name not in TIMEOUTS:
            raise ConfigError(f"MAYFLY_STORAGE_URL: unknown cluster option {name!r}")
        try:
            options[name] = float(value)
        except ValueError:
            raise ConfigError(f"MAYFLY_STORAGE_URL: {name} must be a number") from None
    return nodes, options


class RedisStorage(Storage):
    """Secrets in Redis or a Redis Cluster; one client per process, made on first use."""

    def __init__(self, url: str):
        scheme = url.split("://", 1)[0]
        if scheme not in REDIS_SCHEMES:
            raise ConfigError(f"MAYFLY_STORAGE_URL: not a Redis URL: {scheme}://")
        self.url = url
        self.cluster = scheme == "redis+cluster"
        if self.cluster:
            self._nodes, self._options = parse_cluster_url(url)
        else:
            try:
                redis.connection.parse_url(url)
            except ValueError as exc:
                raise ConfigError(f"MAYFLY_STORAGE_URL: {exc}") from None
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._client: redis.Redis | RedisCluster | None = None
        self._scripts: dict[str, Callable] = {}
        # Single Redis: the scripts' connections not in use (see _connection).
        self._idle: list[redis.Connection] = []
        try:
            self._redis()  # checks the data's format now, when Redis is up
        except StorageTooNew:
            raise
        except (RedisError, RedisClusterException, OSError):
            pass  # down at start: checked on the first connection instead

    # -- connection -------------------------------------------------------------

    def _connect(self) -> redis.Redis | RedisCluster:
        # No automatic retries: a write whose reply was lost must not run twice.
        no_retry = Retry(NoBackoff(), 0)
        if self.cluster:
            # Connects at once to learn the slots; raises while the cluster is down.
            return RedisCluster(startup_nodes=self._nodes, retry=no_retry,
                                **{**TIMEOUTS, **self._options})
        return redis.Redis.from_url(self.url, retry=no_retry, **TIMEOUTS)

    def _redis(self) -> redis.Redis | RedisCluster:
        """This process's client: uWSGI forks workers, and no socket may cross a fork."""
        pid = os.getpid()
        if self._pid != pid or self._client is None:
            with self._lock:
                if self._pid != pid or self._client is None:
                    client = self._connect()
                    self._check_format(client)
                    self._scripts = {name: client.register_script(_source(name))
                                     for name in (*_SCRIPTS, *_QUEUE_SCRIPTS, "due")}
                    self._idle = []  # before the client: a thread that sees it sees this
                    self._client, self._pid = client, pid
        return self._client

    @staticmethod
    def _check_format(client: redis.Redis | RedisCluster) -> None:
        """Mark fresh data with this code's format; refuse data from a newer mayfly."""
        client.set(FORMAT_KEY, REDIS_FORMAT, nx=True)
        found = client.get(FORMAT_KEY)
        try:
            version = int(found)
        except (TypeError, ValueError):
            raise StorageTooNew(f"the Redis key {FORMAT_KEY} holds {found!r}, not a format"
                                " version: not mayfly's data?") from None
        if version > REDIS_FORMAT:
            raise StorageTooNew(too_new("the Redis data", version, REDIS_FORMAT))

    @contextmanager
    def _boundary(self) -> Iterator[None]:
        """Turn the driver's errors into StorageUnavailable."""
        try:
            yield
        except (RedisError, RedisClusterException, OSError) as exc:
            raise StorageUnavailable() from exc

    def _run(self, name: str, secret_id: str, *args: object) -> object:
        keys = secret_keys(secret_id)
        if name in _READ_ONLY:
            keys = keys[:READ_KEYS]
        return self._script(name, keys, [secret_id, *args])

    def _script(self, name: str, keys: Sequence[str], args: list) -> object:
        """Run one of our scripts: one EVALSHA (after a SCRIPT LOAD on a Redis without it)."""
        with self._boundary():
            client = self._redis()
            if self.cluster:
                return self._scripts[name](keys=keys, args=args)
            return self._evalsha(client, self._scripts[name], keys, args)

    def _evalsha(self, client: redis.Redis, script: Script, keys: Sequence[str],
                 args: list) -> object:
        """A script's EVALSHA on a connection of our own, past redis-py's layers.

        redis-py wraps each command in retries (we allow none), timing and event
        hooks, and its pool checks a connection for unread data (a poll(2)) each time
        it hands one out: together half of a look-up's CPU in the worker. Our
        connections wait in a list (pop and append are atomic), one per thread in
        use at once; one whose exchange did not end with its reply read is
        disconnected before it goes back, so it never holds a stale reply.
        """
        idle = self._idle
        try:
            conn = idle.pop()
        except IndexError:
            pool = client.connection_pool
            conn = pool.connection_class(**pool.connection_kwargs)
        done = False
        try:
            reply = _evalsha(conn, script, keys, args)
            done = True
            return reply
        finally:
            if not done:
                conn.disconnect()
            idle.append(conn)

    def _each_shard(self, command: Callable[[object, str], None]) -> list:
        """Send one command per shard in a pipeline; return the replies in shard order."""
        with self._boundary():
            pipe = self._redis().pipeline(transaction=False)
            for shard in range(SHARDS):
                command(pipe, shard_prefix(shard))
            return pipe.execute()

    # -- the contract -----------------------------------------------------------

    def create(self, record: NewRecord) -> None:
        kdf = b"" if record.kdf is None else json.dumps(record.kdf).encode()
        reply = record.reply_key or ReplyKey(b"", b"")
        address, language = record.notify_address or "", record.notify_language or ""
        self._run("create", record.id, _num(record.created_at), _num(record.created_at),
                  _num(record.expires_at), _num(record.keep_until), record.max_views,
                  _ms(record.expires_at), _ms(self._receipt_ttl(record)), record.manage_hash,
                  record.ciphertext, record.link_hash, record.access_hash, kdf,
                  reply.public_key, reply.wrapped_key, record.kind, address, language)

    def _receipt_ttl(self, record: NewRecord) -> float:
        """When Redis may delete a receipt: keep_until, or later if it may owe a notice.

        The purge that marks a secret expired reads the address from its receipt;
        with no receipt retention, Redis's own clock would delete the receipt at
        expires_at, before that purge. Reads still end at keep_until, and the purge
        deletes the receipt then, by mayfly's clock.
        """
        if record.notify_address is None and not self.webhook_events:
            return record.keep_until
        return max(record.keep_until, record.expires_at + NOTICE_GIVE_UP)

    def lookup(self, secret_id: str, now: float) -> Live | None:
        row = self._run("lookup", secret_id, _num(now))
        if row is None:
            return None
        expires_at, max_views, views_left, failed, link_hash, access_hash, kdf, reply_key, \
            kind = row
        return Live(secret_id, link_hash, access_hash, json.loads(kdf) if kdf else None,
                    float(expires_at), int(max_views), int(views_left), int(failed),
                    reply_key or None, kind.decode())

    def peek(self, secret_id: str, now: float) -> bytes | None:
        return self._run("peek", secret_id, _num(now))

    def take(self, secret_id: str, now: float) -> Taken | None:
        row = self._run("take", secret_id, _num(now), self._webhook())
        return None if row is None else Taken(row[0], int(row[1]))

    def fail(self, secret_id: str, now: float, max_attempts: int) -> int | None:
        left = self._run("fail", secret_id, _num(now), max_attempts, self._webhook())
        return None if left is None else int(left)

    def reveal(self, secret_id: str, now: float, link_hash: bytes, access_hash: bytes,
               max_attempts: int) -> Revealed | None:
        # One round trip (the _REVEAL script) instead of the base class's two.
        row = self._run("reveal", secret_id, _num(now), link_hash, access_hash, max_attempts,
                        self._webhook())
        if row is None:
            return None
        if row[0] == b"link":
            return Revealed(wrong_link=True)
        if row[0] == b"access":
            return Revealed(attempts_left=int(row[1]))
        return Revealed(taken=Taken(row[1], int(row[2]), row[3] or None))

    def burn(self, secret_id: str, now: float) -> bool:
        return self._run("burn", secret_id, _num(now), self._webhook()) == 1

    def post_reply(self, secret_id: str, ciphertext: bytes, now: float) -> int | None:
        number = self._run("post_reply", secret_id, _num(now), ciphertext)
        return None if number is None else int(number)

    def take_reply(self, secret_id: str, number: int, now: float) -> bytes | None:
        return self._run("take_reply", secret_id, _num(now), int(number))

    def _replies(self, secret_id: str, count: int) -> tuple[ReplyInfo, ...]:
        if not count:
            return ()
        fields = [f"{n}:{name}" for n in range(1, count + 1) for name in ("created_at",
                                                                          "read_at")]
        with self._boundary():
            values = self._redis().hmget(secret_keys(secret_id)[6], fields)
        return tuple(
            ReplyInfo(n, float(values[2 * n - 2]),
                      None if values[2 * n - 1] is None else float(values[2 * n - 1]))
            for n in range(1, count + 1) if values[2 * n - 2] is not None
        )

    def receipt(self, secret_id: str, now: float) -> Receipt | None:
        names = ("manage_hash", "state", "created_at", "expires_at", "keep_until", "max_views",
                 "views_left", "failed_attempts", "first_read_at", "last_read_at", "ended_at",
                 "reply_public_key", "reply_wrapped_key", "reply_hash", "replies_left",
                 "replies", "kind")
        with self._boundary():
            row = self._redis().hmget(secret_keys(secret_id)[0], names)
        if row[0] is None or float(row[4]) <= now:
            return None
        value = dict(zip(names, row, strict=True))

        def time(name: str) -> float | None:
            return None if value[name] is None else float(value[name])

        return Receipt(
            id=secret_id, manage_hash=value["manage_hash"], state=value["state"].decode(),
            created_at=float(value["created_at"]), expires_at=float(value["expires_at"]),
            max_views=int(value["max_views"]), views_left=int(value["views_left"]),
            failed_attempts=int(value["failed_attempts"]), first_read_at=time("first_read_at"),
            last_read_at=time("last_read_at"), ended_at=time("ended_at"),
            reply_key=None if value["reply_public_key"] is None else ReplyKey(
                value["reply_public_key"], value["reply_wrapped_key"]),
            reply_hash=value["reply_hash"], replies_left=int(value["replies_left"] or 0),
            replies=self._replies(secret_id, int(value["replies"] or 0)),
            kind=(value["kind"] or b"secret").decode(),
        )

    def _due_by_shard(self, index: str, now: float, limit: int) -> list[tuple[int, bytes]]:
        """(shard, member) for up to ``limit`` members per shard of ``index`` due by ``now``."""
        if self.cluster:  # a script touches one hash slot: a command per shard
            replies = self._each_shard(lambda pipe, prefix: pipe.zrangebyscore(
                prefix + index, "-inf", _num(now), start=0, num=limit))
            return [(shard, member) for shard, reply in enumerate(replies) for member in reply]
        flat = self._script("due", index_keys(index), [_num(now), limit])
        return list(zip(flat[::2], flat[1::2], strict=True))

    def _due(self, index: str, now: float) -> list[str]:
        """Ids whose score in every shard's ``index`` is at most ``now``, a batch per shard."""
        return [member.decode() for _, member in self._due_by_shard(index, now, PURGE_BATCH)]

    def purge(self, now: float) -> Purged:
        expired = receipts = 0
        # Lifetimes first: a receipt past keep_until is past expires_at too.
        for script, index in (("expire", "expiring"), ("drop_receipt", "receipts")):
            while due := self._due(index, now):
                done = sum(self._run(script, secret_id, _num(now), self._webhook())
                           for secret_id in due)
                if script == "expire":
                    expired += done
                else:
                    receipts += done
                if len(due) < PURGE_BATCH:
                    break
        return Purged(expired=expired, receipts=receipts)

    def _primaries(self) -> list[redis.Redis]:
        client = self._redis()
        if isinstance(client, RedisCluster):
            return [node.redis_connection or client.get_redis_connection(node)
                    for node in client.get_primaries()]
        return [client]

    def scrub(self) -> str:
        deadline = time.monotonic() + SCRUB_DEADLINE
        with self._boundary():
            nodes = self._primaries()
            try:
                rewriting = [node for node in nodes if _setting(node, "appendonly") == "yes"]
                saving = [node for node in nodes if _setting(node, "save")]
                for node in rewriting:
                    _rewrite_aof(node, deadline)
                for node in saving:
                    node.bgsave(schedule=True)
            except ResponseError as exc:  # CONFIG or BGREWRITEAOF denied (an ACL, a managed Redis)
                raise StorageUnavailable(f"Redis refused to rewrite its files: {exc}") from exc
            for node in nodes:
                _wait_for_persistence(node, deadline)
        if not rewriting and not saving:
            return "Redis keeps no files (no AOF, no snapshots): nothing to rewrite"
        return (f"rewrote the append-only file on {len(rewriting)} and the snapshot on"
                f" {len(saving)} of {len(nodes)} Redis node(s)")

    # -- notices ------------------------------------------------------------------

    def _webhook(self) -> str:
        """The last ARGV of a change's script: '1' queues a webhook event."""
        return "1" if self.webhook_events else "0"

    def _run_queue(self, name: str, shard: int, *args: object) -> object:
        return self._script(name, queue_keys(shard), list(args))

    def claim_notices(self, now: float, lease_until: float, limit: int) -> list[Notice]:
        # One cheap read per shard first; only shards with a due notice run the claim.
        due = self._due_by_shard("notices:due", now, 1)
        claimed: list[Notice] = []
        for shard, _ in due:
            if len(claimed) < limit:
                raws = self._run_queue("claim_notices", shard, _num(now), _num(lease_until),
                                       limit - len(claimed))
                claimed += [_notice(json.loads(raw)) for raw in raws]
        return claimed

    def notice_done(self, notice: Notice, counter: str) -> None:
        self._run_queue("notice_done", shard_of(notice.secret_id), notice.key, counter)

    def notice_retry(self, notice: Notice, at: float) -> None:
        self._run_queue("notice_retry", shard_of(notice.secret_id), notice.key, _num(at))

    def counters(self) -> dict[str, int]:
        totals = dict.fromkeys(COUNTERS, 0)
        for shard in self._each_shard(lambda pipe, prefix: pipe.hgetall(prefix + "counters")):
            for name, value in shard.items():
                if name.decode() in totals:
                    totals[name.decode()] += int(value)
        return totals

    def ping(self) -> None:
        with self._boundary():
            self._redis().ping()

    def close(self) -> None:
        client, self._client = self._client, None
        idle, self._idle = self._idle, []
        if client is not None and self._pid == os.getpid():
            client.close()
            for conn in idle:
                conn.disconnect()
        self._pid = None


# An argument longer than this goes to the socket as it is. hiredis's packer would
# copy it into the one bytes of the command (a 10 MiB ciphertext: 10 MiB more in
# the worker, measured); redis-py's own packer writes such an argument apart.
_LARGE_ARG = 6000


def _send(conn: redis.Connection, *command) -> None:
    """Send one command, without copying a large argument."""
    if any(isinstance(arg, (bytes, bytearray, memoryview)) and len(arg) > _LARGE_ARG
           for arg in command):
        packer = PythonRespSerializer(_LARGE_ARG, conn.encoder.encode)
        conn.send_packed_command(packer.pack(*command))
    else:
        conn.send_command(*command)


def _evalsha(conn: redis.Connection, script: Script, keys: Sequence[str], args: list) -> object:
    """Run a script on one connection: EVALSHA, after a SCRIPT LOAD if Redis lacks it."""
    try:
        _send(conn, "EVALSHA", script.sha, len(keys), *keys, *args)
        return conn.read_response()
    except NoScriptError:  # a new or restarted Redis: load it, as redis-py's Script would
        conn.send_command("SCRIPT", "LOAD", script.script)
        conn.read_response()
        _send(conn, "EVALSHA", script.sha, len(keys), *keys, *args)
        return conn.read_response()


def _notice(entry: dict) -> Notice:
    """A Notice from the JSON a script queued (times as the strings Python wrote)."""
    return Notice(
        key=entry["key"], event_id=entry["event_id"], channel=entry["channel"],
        secret_id=entry["secret_id"], state=entry["state"], at=float(entry["at"]),
        views_left=int(entry["views_left"]), created_at=float(entry["created_at"]),
        queued_at=float(entry["queued_at"]), attempts=int(entry["attempts"]),
        address=entry.get("address"), language=entry.get("language"))


def _setting(node: redis.Redis, name: str) -> str:
    value = node.config_get(name).get(name, "")
    return value.decode() if isinstance(value, bytes) else value


def _rewrite_aof(node: redis.Redis, deadline: float) -> None:
    """Start an AOF rewrite; one already running began too early, so wait and start anew."""
    while True:
        try:
            node.bgrewriteaof()
            return
        except ResponseError as exc:
            if "already in progress" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _wait_for_persistence(node: redis.Redis, deadline: float) -> None:
    """Until the node has no AOF rewrite or snapshot running or scheduled."""
    busy = ("aof_rewrite_in_progress", "aof_rewrite_scheduled", "rdb_bgsave_in_progress")
    while True:
        info = node.info("persistence")
        if not any(int(info.get(name, 0)) for name in busy):
            break
        if time.monotonic() > deadline:
            raise StorageUnavailable("Redis did not finish rewriting its files in time")
        time.sleep(0.1)
    if info.get("aof_last_bgrewrite_status", "ok") != "ok":
        raise StorageUnavailable("Redis failed to rewrite its append-only file")
