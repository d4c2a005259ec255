"""Planning and starting a run here from a route's query: the one way both a run
alone and this server's part of a run from several places get their job."""

from __future__ import annotations

from aiohttp import web

from ..jobs import Job, Plan, plan_job, start_job
from .keys import DIRECTORY, PLATFORM, POLICY, RESOLVER, RUNNER, SETTINGS
from .params import RunQuery


async def plan_run(app: web.Application, query: RunQuery) -> Plan:
    """The run the query asks for, checked against this server's policy; raises a Refusal."""
    return await plan_job(spec=query.spec, target_text=query.target, family=query.family, settings=app[SETTINGS],
                          policy=app[POLICY], resolver=app[RESOLVER], platform=app[PLATFORM], options=query.options)


def start_run(app: web.Application, plan: Plan) -> Job:
    """The planned run's job, its tool started; raises a Refusal when the server is full."""
    return start_job(plan, settings=app[SETTINGS], runner=app[RUNNER], directory=app[DIRECTORY])
