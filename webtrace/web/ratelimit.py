"""Per-client budgets: the rate limit (limits) and the cap on runs at once.

Each route's record (``routes``) names the budget it spends: ``run``, ``check``,
``results`` or ``none``. Every request to a run route counts against one budget
per client across all tools, valid or not; its query is read here, once (it
counts the nodes), and kept on the request for the view. An EventSource
reconnect (``Last-Event-ID``) is answered 204 here, on every run route, before
any view sees it: the exemption from the budget and the promise to run nothing
are one decision, so no route can spend nothing and still run a tool. The check
route reports the run budget without spending it, and draws on a budget of its
own of the same size, so it cannot be used to make this server resolve names
without limit. IPv6 clients are keyed by their prefix
(``WEBTRACE_RATELIMIT_IPV6_PREFIX``), since one subscriber usually holds a whole /64.

A client over budget is remembered until its window frees a run: with a
moving window a refused hit consumes nothing and no instance can free a slot
sooner, so the refusal is the same without asking the storage again, and the
refused path (the one floods take) costs a dictionary lookup. Those repeated
refusals are counted in the access log once a second per client rather than
written one by one (see ``accesslog.RefusalSummary``).

When the shared storage (redis) cannot be reached, webtrace keeps limiting with
an in-memory budget per instance and logs a warning; it retries the storage
after ``STORAGE_RETRY_S``. Failing open would let one client run unlimited
tools; failing closed would take the looking glass down with redis.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import math
import time
from collections import Counter
from typing import NamedTuple

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler
from limits import RateLimitItem, parse_many
from limits.aio.storage import MovingWindowSupport
from limits.errors import StorageError
from limits.storage import storage_from_string

from ..logs import ACCESS_LOGGER
from ..net.addresses import IPAddress, normalise
from ..refusals import Refusal
from ..runs.job import Pay
from .accesslog import SUMMARISED, RefusalSummary
from .forwarded import CLIENT_IP
from .keys import SETTINGS
from .memory_window import MemoryWindows
from .query import query_of
from .route import route_of

log = logging.getLogger(__name__)

STORAGE_RETRY_S = 5.0
MAX_REMEMBERED = 100_000  # refused clients kept in memory before expired ones are swept
CLIENT_BUSY_RETRY_S = 5
# A storage that does not answer must not hold requests up for long.
REDIS_TIMEOUT_S = 1.0


@functools.lru_cache(maxsize=4096)
def client_key(ip: str, ipv6_prefix: int) -> str:
    """The budget a client draws on: its IPv4 address, or its IPv6 prefix."""
    try:
        address: IPAddress = normalise(ipaddress.ip_address(ip))
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, ipv6_prefix), strict=False))
    return str(address)


class RateLimited(Refusal):
    status = 429
    code = "rate_limited"


class ClientBusy(RateLimited):
    code = "client_busy"


class Decision(NamedTuple):  # a NamedTuple: made a third as dearly as a frozen dataclass, on every run
    allowed: bool
    limit: int
    remaining: int
    reset_s: int  # seconds until the tightest window frees a run
    window: str  # the limit in words, e.g. "10 per 1 minute"

    def headers(self) -> dict[str, str]:
        return {  # the IETF draft's names; aiohttp has no constants for them
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_s),
        }


class Window(NamedTuple):
    """One of the budget's limits, as the storage is asked for it and a decision says it."""

    amount: int
    expiry: int
    words: str  # e.g. "10 per 1 minute"


def _storage(uri: str) -> MovingWindowSupport:
    if uri.partition("://")[0] == "async+memory":
        return MemoryWindows(uri, wrap_exceptions=True)
    options: dict[str, float | str | bool] = {"wrap_exceptions": True}
    if "redis" in uri.partition("://")[0]:
        options.update(connect_timeout=REDIS_TIMEOUT_S, stream_timeout=REDIS_TIMEOUT_S)
    storage = storage_from_string(uri, **options)
    assert isinstance(storage, MovingWindowSupport)
    return storage


class ClientLimiter:
    def __init__(
        self, limits: str, storage_uri: str, *, ipv6_prefix: int, per_client: int, continuous_per_client: int = 1
    ) -> None:
        self.items: list[RateLimitItem] = parse_many(limits)
        self._windows = [Window(item.amount, item.get_expiry(), str(item)) for item in self.items]
        self.ipv6_prefix = ipv6_prefix
        self.per_client = per_client
        self.storage_uri = storage_uri
        # limits' moving window as its MovingWindowRateLimiter asks the storage for it,
        # with each limit's key for a client made once (limits' own make it at every
        # call, twice a run, and it was a fifth of a hit).
        self._primary = _storage(storage_uri)
        self._fallback: MovingWindowSupport = MemoryWindows()
        self._keys = functools.lru_cache(maxsize=4096)(self._storage_keys)
        self._primary_down_until = 0.0
        self._running: Counter[str] = Counter()
        self.continuous_per_client = continuous_per_client
        self._continuous: Counter[str] = Counter()
        self._refused: dict[str, tuple[float, Decision]] = {}  # key -> (until, decision)

    def key(self, ip: str) -> str:
        return client_key(ip, self.ipv6_prefix)

    def remembered(self, key: str) -> Decision | None:
        """The refusal still standing for this client, if any, without asking the storage."""
        refused = self._refused.get(key)
        if refused is None:
            return None
        until, decision = refused
        wait = until - time.monotonic()
        if wait <= 0:
            del self._refused[key]
            return None
        reset_s = max(1, math.ceil(wait))
        if reset_s != decision.reset_s:  # once a second, not once a request
            decision = decision._replace(reset_s=reset_s)
            self._refused[key] = (until, decision)
        return decision

    async def hit(self, key: str, cost: int = 1) -> Decision:
        """Spend ``cost`` runs (one per node for a run from several) from the client's budget."""
        decision = self.remembered(key)
        if decision is not None:
            return decision
        now = time.monotonic()
        decision = await self._hit_storage(key, cost)
        if not decision.allowed:
            if len(self._refused) >= MAX_REMEMBERED:
                self._forget_expired(now)
            self._refused[key] = (now + decision.reset_s, decision)
        return decision

    def _forget_expired(self, now: float) -> None:
        for key in [k for k, (until, _) in self._refused.items() if until <= now]:
            del self._refused[key]

    async def _hit_storage(self, key: str, cost: int = 1) -> Decision:
        if time.monotonic() >= self._primary_down_until:
            try:
                return await self._hit(self._primary, key, cost=cost)
            except StorageError as exc:
                self._primary_down_until = time.monotonic() + STORAGE_RETRY_S
                log.warning(
                    "rate-limit storage %s unreachable (%s); limiting per instance for %g s",
                    self.storage_uri.removeprefix("async+"),
                    exc,
                    STORAGE_RETRY_S,
                )
        return await self._hit(self._fallback, key, cost=cost)

    async def test(self, key: str) -> Decision:
        """Like ``hit``, without spending anything."""
        storage = self._fallback if time.monotonic() < self._primary_down_until else self._primary
        try:
            return await self._hit(storage, key, spend=False)
        except StorageError:
            return await self._hit(self._fallback, key, spend=False)

    def _storage_keys(self, key: str) -> tuple[str, ...]:
        return tuple(item.key_for(key) for item in self.items)

    async def _hit(self, storage: MovingWindowSupport, key: str, *, spend: bool = True,
                   cost: int = 1) -> Decision:
        tightest: Decision | None = None
        memory = storage if isinstance(storage, MemoryWindows) else None
        for window, stored in zip(self._windows, self._keys(key)):
            if memory is not None:
                if spend:
                    allowed = memory.take(stored, window.amount, window.expiry, amount=cost)
                start, taken = memory.window(stored, window.expiry)
            else:
                if spend:
                    allowed = await storage.acquire_entry(stored, window.amount, window.expiry, amount=cost)
                start, taken = await storage.get_moving_window(stored, window.amount, window.expiry)
            if not spend:
                allowed = taken <= window.amount - cost
            reset_s = max(1, math.ceil(start + window.expiry - time.time()))
            decision = Decision(allowed, window.amount, max(window.amount - taken, 0), reset_s, window.words)
            if not allowed:
                return decision
            if tightest is None or decision.remaining < tightest.remaining:
                tightest = decision
        assert tightest is not None
        return tightest

    def busy(self, key: str) -> bool:
        return self._running[key] >= self.per_client

    def acquire(self, key: str) -> bool:
        """Take one of the client's concurrent-run slots."""
        if self.busy(key):
            return False
        self._running[key] += 1
        return True

    def release(self, key: str) -> None:
        _take_back(self._running, key)

    def continuous_busy(self, key: str) -> bool:
        return self._continuous[key] >= self.continuous_per_client

    def acquire_continuous(self, key: str) -> bool:
        """Take one of the client's continuous-run slots (besides a run slot)."""
        if self.continuous_busy(key):
            return False
        self._continuous[key] += 1
        return True

    def release_continuous(self, key: str) -> None:
        _take_back(self._continuous, key)


def _take_back(counter: Counter[str], key: str) -> None:
    counter[key] -= 1
    if counter[key] <= 0:
        del counter[key]


LIMITER: web.AppKey[ClientLimiter] = web.AppKey("limiter")
# RateLimit-* headers for an accepted run, sent with its response.
RATE_HEADERS: web.RequestKey[dict[str, str]] = web.RequestKey("rate_headers")
# How an accepted continuous run pays each further slice from its visitor's budget.
SLICE_PAY: web.RequestKey[Pay] = web.RequestKey("slice_pay")


def setup_ratelimit(app: web.Application) -> None:
    settings = app[SETTINGS]
    limiter = ClientLimiter(
        settings.ratelimit,
        settings.ratelimit_storage,
        ipv6_prefix=settings.ipv6_prefix,
        per_client=settings.max_jobs_per_client,
        continuous_per_client=settings.max_continuous_per_client,
    )
    app[LIMITER] = limiter
    slice_s = settings.timeout
    readers = ClientLimiter(
        settings.results_ratelimit,
        settings.ratelimit_storage,
        ipv6_prefix=settings.ipv6_prefix,
        per_client=settings.max_jobs_per_client,
    )
    summary = RefusalSummary(logging.getLogger(ACCESS_LOGGER))
    summarise = settings.log_refusals == "summary"

    async def write_summaries(app: web.Application) -> None:
        summary.flush()

    app.on_cleanup.append(write_summaries)

    # A flood is refused with one decision for a second at a time: word it once.
    # (A fresh exception each time: raising one instance again would grow its traceback.)
    @functools.lru_cache(maxsize=1024)
    def over_budget_words(decision: Decision) -> tuple[str, dict[str, str]]:
        message = f"Too many runs: the limit is {decision.window}. Try again in {decision.reset_s} s."
        return message, decision.headers()

    def over_budget(decision: Decision) -> RateLimited:
        message, headers = over_budget_words(decision)
        return RateLimited(message, retry_after_s=decision.reset_s, headers=headers)

    def too_many_at_once(decision: Decision) -> ClientBusy:
        message = f"You already have {limiter.per_client} runs in progress; wait for one to finish."
        return ClientBusy(message, retry_after_s=CLIENT_BUSY_RETRY_S, headers=decision.headers())

    def too_many_continuous(decision: Decision) -> ClientBusy:
        many = limiter.continuous_per_client
        message = ("You already have a continuous run going; stop it before you start another." if many == 1
                   else f"You already have {many} continuous runs going; stop one before you start another.")
        return ClientBusy(message, retry_after_s=CLIENT_BUSY_RETRY_S, headers=decision.headers())

    def slices(key: str) -> Pay:
        async def pay() -> str | None:
            decision = await limiter.hit(key)
            if decision.allowed:
                return None
            return (f"Stopped: your budget of {decision.window} cannot pay for the next {slice_s:g} s of this "
                    f"continuous run. It refills in {decision.reset_s} s.")

        return pay

    def refused_again(request: web.Request, budget: str) -> Decision | None:
        """The standing refusal of a client refused before (a flood's path), counted for the log."""
        decision = limiter.remembered(budget)
        if decision is not None and summarise:
            summary.add(request[CLIENT_IP])
            request[SUMMARISED] = True
        return decision

    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        key = limiter.key(request[CLIENT_IP])
        checks = refused_again(request, f"check:{key}") or await limiter.hit(f"check:{key}")
        if not checks.allowed:
            raise RateLimited("Too many checks; try again later.", retry_after_s=checks.reset_s,
                              headers=checks.headers())
        runs = await limiter.test(key)
        if not runs.allowed:
            raise over_budget(runs)
        if limiter.busy(key):
            raise too_many_at_once(runs)
        if query_of(request).continuous and limiter.continuous_busy(key):
            raise too_many_continuous(runs)
        return await handler(request)

    async def read(request: web.Request, handler: Handler) -> web.StreamResponse:
        # Reading results spends no run, but draws on a budget of its own against scraping.
        key = f"read:{readers.key(request[CLIENT_IP])}"
        reads = readers.remembered(key) or await readers.hit(key)
        if not reads.allowed:
            raise RateLimited(f"Too many result reads: the limit is {reads.window}. "
                              f"Try again in {reads.reset_s} s.", retry_after_s=reads.reset_s,
                              headers=reads.headers())
        return await handler(request)

    async def spend(request: web.Request, key: str, cost: int) -> Decision:
        decision = refused_again(request, key) or await limiter.hit(key, cost)
        if not decision.allowed:
            raise over_budget(decision)
        return decision

    async def run(request: web.Request, handler: Handler) -> web.StreamResponse:
        key = limiter.key(request[CLIENT_IP])
        reconnect = hdrs.LAST_EVENT_ID in request.headers
        if not reconnect and (standing := refused_again(request, key)) is not None:
            raise over_budget(standing)  # a flood's path: refused before its query is even read
        try:
            query = query_of(request)  # read once, here: it says how many runs it costs
        except Refusal:
            # A malformed request costs a run as any request does (the header buys no
            # free refusals), and is refused as it would be, unless the budget is gone.
            await spend(request, key, 1)
            raise
        if reconnect:
            # EventSource reconnecting after the end: never run the tool again, and
            # spend nothing. A target that can never run is refused as it would be.
            try:
                query.well_formed()
            except Refusal:
                await spend(request, key, 1)
                raise
            return web.Response(status=204)
        decision = await spend(request, key, query.runs)
        request[RATE_HEADERS] = decision.headers()
        if not limiter.acquire(key):
            raise too_many_at_once(decision)
        try:
            if not query.continuous:
                return await handler(request)
            if not limiter.acquire_continuous(key):
                raise too_many_continuous(decision)
            request[SLICE_PAY] = slices(key)
            try:
                return await handler(request)
            finally:
                limiter.release_continuous(key)
        finally:
            limiter.release(key)

    async def free(request: web.Request, handler: Handler) -> web.StreamResponse:
        return await handler(request)

    budgets = {"run": run, "check": check, "results": read, "none": free}

    @web.middleware
    async def ratelimit_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        route = route_of(request)
        if route is None or route.budget is None:
            return await handler(request)  # no route matched: a 404 or 405, spending nothing
        return await budgets[route.budget](request, handler)

    app.middlewares.append(ratelimit_middleware)
