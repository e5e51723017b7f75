"""Property test of the incident-response access rules: Hypothesis generates organisations,
users with roles, cases with shares, assistance requests, deployments with members and time
windows, and alerts; at several instants (before, inside, at the edges of and after the
deployment windows) every user's reads and writes through the native API must give exactly
what the plain-Python reference model below allows.

The world is written straight into the database with the ORM, past the services' guards (a
share with the case's own organisation, an alert of one organisation pointing at another's
case, a deployment ended at its start): the read side must hold for any stored data.

The rules (DESIGN.md; the SQL is in shieldwall.intel.visibility, "incident response"):

- A case is readable by site admins, users of its organisation, users of organisations it
  is shared with, and users who are members of a deployment on it while the deployment runs
  (starts_at <= now < coalesce(ended_at, ends_at)). Nobody else: 404, never 403.
- The right on a readable case: full for its own organisation and site admins; otherwise the
  share's profile, raised to contribute while deployed; capped to read_only for a role
  without response:case:manage.
- PATCH a case needs full; adding a task or a task log needs contribute (403 below, 404 when
  the case is unreadable).
- Alerts: their organisation and site admins.
- Assistance requests: the requesting organisation, coordinators, site admins, and members
  of any deployment answering the request (whatever its time window).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from shieldwall.auth import service as auth
from shieldwall.auth.models import ApiKey, Organisation, Role, User
from shieldwall.context import system_ctx
from shieldwall.response.models import (
    SHARE_PROFILES,
    Alert,
    AlertObservable,
    AssistanceRequest,
    Case,
    CaseAttachment,
    CaseObservable,
    CaseShare,
    CaseTask,
    CaseTimeline,
    Deployment,
    DeploymentLog,
    DeploymentMember,
    Notification,
    TaskLog,
    Team,
    TeamMember,
)

ROLE_IDS = {"org_admin": 2, "user": 3, "read_only": 6, "coordinator": 7}
PAGE = 2  # small pages, so keyset paging is exercised
T0 = datetime(2026, 12, 1, tzinfo=UTC)
STEP = timedelta(minutes=30)  # the time grid: windows and instants fall on it
LAST_START = 12  # deployments start within steps 0..12 and last 1..8 steps
LONGEST = 8
BEFORE, AFTER = -1, LAST_START + LONGEST + 1


def at_step(n: int) -> datetime:
    return T0 + n * STEP


# ---------------------------------------------------------------- the reference model

RIGHTS = ("none", "read_only", "contribute", "full")
# Roles holding response:case:manage; read_only lacks it.
CASE_MANAGERS = {"site_admin", "org_admin", "user", "coordinator"}


@dataclass(frozen=True)
class RUser:
    id: int
    org: int
    role: str


@dataclass(frozen=True)
class RDeployment:
    request: int
    case: int
    starts: datetime
    ends: datetime
    ended: datetime | None
    members: frozenset[int]

    def running(self, at: datetime) -> bool:
        end = self.ends if self.ended is None else self.ended
        return self.starts <= at < end


@dataclass
class Model:
    case_org: dict[int, int] = field(default_factory=dict)
    shares: dict[tuple[int, int], str] = field(default_factory=dict)  # (case, org) -> profile
    request_org: dict[int, int] = field(default_factory=dict)
    deployments: list[RDeployment] = field(default_factory=list)
    alert_org: dict[int, int] = field(default_factory=dict)

    def right(self, u: RUser, case: int, at: datetime) -> str:
        if u.role == "site_admin" or self.case_org[case] == u.org:
            right = "full"
        else:
            right = self.shares.get((case, u.org), "none")
            deployed = any(
                d.case == case and u.id in d.members and d.running(at) for d in self.deployments
            )
            if deployed and right in ("none", "read_only"):
                right = "contribute"
        if right != "none" and u.role not in CASE_MANAGERS:
            right = "read_only"
        return right

    def cases(self, u: RUser, at: datetime) -> set[int]:
        return {c for c in self.case_org if self.right(u, c, at) != "none"}

    def alerts(self, u: RUser) -> set[int]:
        return {a for a, org in self.alert_org.items() if u.role == "site_admin" or org == u.org}

    def requests(self, u: RUser) -> set[int]:
        if u.role in ("site_admin", "coordinator"):
            return set(self.request_org)
        answered = {d.request for d in self.deployments if u.id in d.members}
        return {r for r, org in self.request_org.items() if org == u.org or r in answered}


def expected_write(right: str, need: str, ok: int) -> int:
    if right == "none":
        return 404
    return 403 if RIGHTS.index(right) < RIGHTS.index(need) else ok


# ---------------------------------------------------------------- the generated world


@dataclass
class DeploymentSpec:
    start: int  # steps after T0
    length: int
    ended_after: int | None  # ended early, this many steps after the start (0: at once)
    members: frozenset[int]  # user indexes
    roster: frozenset[int]  # team members who did not deploy: they get nothing


@dataclass
class CaseSpec:
    org: int
    shares: dict[int, str]  # organisation index -> profile (may be the case's own)
    request: list[DeploymentSpec] | None  # an assistance request and its deployments


@dataclass
class WorldSpec:
    n_orgs: int
    users: list[tuple[int, str]]  # (organisation index, role); organisation 0 is the host
    cases: list[CaseSpec]
    alerts: list[tuple[int, int | None]]  # (organisation index, case index it points at)
    instants: list[int]  # steps after T0, in the order the clock visits them
    write_at: int  # the instant (an index into instants) the writes are tried at


@st.composite
def worlds(draw: st.DrawFn) -> WorldSpec:
    n = draw(st.integers(2, 4))
    orgs = st.integers(0, n - 1)
    users = [
        (i, draw(st.sampled_from(sorted(ROLE_IDS))))
        for i in range(n)
        for _ in range(draw(st.integers(1, 2)))
    ]
    user_sets = st.frozensets(st.integers(0, len(users) - 1), max_size=3)

    @st.composite
    def deployments(d: st.DrawFn) -> DeploymentSpec:
        length = d(st.integers(1, LONGEST))
        return DeploymentSpec(
            start=d(st.integers(0, LAST_START)),
            length=length,
            ended_after=d(st.one_of(st.none(), st.integers(0, length - 1))),
            members=d(st.frozensets(st.integers(0, len(users) - 1), min_size=1, max_size=3)),
            roster=d(user_sets),
        )

    cases = draw(
        st.lists(
            st.builds(
                CaseSpec,
                org=orgs,
                shares=st.dictionaries(orgs, st.sampled_from(SHARE_PROFILES), max_size=2),
                request=st.one_of(st.none(), st.lists(deployments(), max_size=2)),
            ),
            min_size=1,
            max_size=5,
        )
    )
    case_ref = st.none() if not cases else st.one_of(st.none(), st.integers(0, len(cases) - 1))
    alerts = draw(st.lists(st.tuples(orgs, case_ref), max_size=4))
    # The instants: one before every window or one after them all, and one or two on the
    # edges of the drawn windows (a start, a planned or early end, the last step inside), where
    # an off-by-one would show. Writes are tried at one of them (each costs three requests a
    # user and case), reads at all.
    edges = sorted(
        {
            e
            for c in cases
            for dep in c.request or []
            for e in (
                dep.start,
                dep.start + (dep.length if dep.ended_after is None else dep.ended_after),
                dep.start + dep.length - 1,
            )
        }
    )
    inside = st.sampled_from(edges) if edges else st.integers(0, AFTER - 1)
    picked = draw(st.lists(inside, min_size=1, max_size=2))
    outside = draw(st.sampled_from([BEFORE, AFTER]))
    instants = draw(st.permutations([outside, *dict.fromkeys(picked)]))
    return WorldSpec(n, users, cases, alerts, instants, draw(st.integers(0, len(instants) - 1)))


# ---------------------------------------------------------------- database set-up

RESPONSE_TABLES = [
    TaskLog,
    CaseAttachment,
    CaseTimeline,
    CaseObservable,
    CaseTask,
    DeploymentLog,
    DeploymentMember,
    Deployment,
    TeamMember,
    Team,
    AssistanceRequest,
    CaseShare,
    AlertObservable,
    Alert,
    Case,
    Notification,
]


def _reset(instance: Any) -> None:
    """Empty the response tables and every organisation, user and key but the instance's own
    (the audit log, append-only, keeps its lines)."""
    with instance.db.engine.begin() as conn:
        for model in RESPONSE_TABLES:
            conn.execute(sa.delete(model))
        conn.execute(sa.delete(ApiKey).where(ApiKey.user_id != instance.admin_id))
        conn.execute(sa.delete(User).where(User.id != instance.admin_id))
        conn.execute(sa.delete(Organisation).where(Organisation.id != instance.host_org_id))


@dataclass
class Account:
    label: str
    user: RUser
    headers: dict[str, str]


@dataclass
class Stored:
    model: Model
    accounts: list[Account]
    task_of: dict[int, int]  # case id -> the id of a task on it


def _insert(instance: Any, spec: WorldSpec) -> Stored:
    model = Model()
    accounts = [
        Account(
            "site admin",
            RUser(instance.admin_id, instance.host_org_id, "site_admin"),
            {"Authorization": instance.admin_key},
        )
    ]
    task_of: dict[int, int] = {}
    ctx = system_ctx(instance.host_org_id)
    with instance.db.writing() as s:
        org_ids = [instance.host_org_id]
        for i in range(1, spec.n_orgs):
            org = Organisation(name=f"ORG-{i}", local=True)
            s.add(org)
            s.flush()
            org_ids.append(org.id)
        roles = {r.id: r for r in s.execute(sa.select(Role)).scalars()}
        user_ids: list[int] = []
        for n, (i, role) in enumerate(spec.users):
            user = User(email=f"u{n}-{role}@org{i}.test", org_id=org_ids[i], role_id=ROLE_IDS[role])
            user.role = roles[ROLE_IDS[role]]
            s.add(user)
            s.flush()
            user_ids.append(user.id)
            _, key = auth.create_key(s, ctx, user)
            accounts.append(
                Account(
                    f"u{n} {role} of org {i}",
                    RUser(user.id, org_ids[i], role),
                    {"Authorization": key},
                )
            )

        case_ids: list[int] = []
        numbers: dict[int, int] = {}
        teams = 0
        for ci, cs in enumerate(spec.cases):
            org_id = org_ids[cs.org]
            numbers[org_id] = numbers.get(org_id, 0) + 1
            case = Case(org_id=org_id, number=numbers[org_id], title=f"case {ci}")
            s.add(case)
            s.flush()
            case_ids.append(case.id)
            model.case_org[case.id] = org_id
            task = CaseTask(case_id=case.id, title=f"task of case {ci}", org_id=org_id)
            s.add(task)
            for o, profile in sorted(cs.shares.items()):
                s.add(CaseShare(case_id=case.id, org_id=org_ids[o], profile=profile))
                model.shares[(case.id, org_ids[o])] = profile
            s.flush()
            task_of[case.id] = task.id
            if cs.request is None:
                continue
            req = AssistanceRequest(
                org_id=org_id, case_id=case.id, title=f"help on case {ci}", needed="hands"
            )
            s.add(req)
            s.flush()
            model.request_org[req.id] = org_id
            for ds in cs.request:
                teams += 1
                team = Team(org_id=org_ids[-1], name=f"RRT-{teams}")
                s.add(team)
                s.flush()
                for u in sorted(ds.roster | ds.members):
                    s.add(TeamMember(team_id=team.id, user_id=user_ids[u]))
                starts = at_step(ds.start)
                ends = at_step(ds.start + ds.length)
                ended = None if ds.ended_after is None else at_step(ds.start + ds.ended_after)
                dep = Deployment(
                    request_id=req.id,
                    team_id=team.id,
                    case_id=case.id,
                    starts_at=starts,
                    ends_at=ends,
                    ended_at=ended,
                )
                s.add(dep)
                s.flush()
                for u in sorted(ds.members):
                    s.add(DeploymentMember(deployment_id=dep.id, user_id=user_ids[u]))
                model.deployments.append(
                    RDeployment(
                        req.id,
                        case.id,
                        starts,
                        ends,
                        ended,
                        frozenset(user_ids[u] for u in ds.members),
                    )
                )

        for ai, (o, ci_) in enumerate(spec.alerts):
            alert = Alert(
                org_id=org_ids[o],
                source="prop",
                source_ref=f"alert-{ai}",
                title=f"alert {ai}",
                case_id=None if ci_ is None else case_ids[ci_],
            )
            s.add(alert)
            s.flush()
            model.alert_org[alert.id] = org_ids[o]
    return Stored(model, accounts, task_of)


# ---------------------------------------------------------------- reading and writing


def _ok(r: Any) -> Any:
    assert r.status_code == 200, (str(r.request.url), r.status_code, r.text)
    return r.json()


def _newest_first(client: Any, acc: Account, url: str) -> set[int]:
    """Every id of a list paged newest first (after = the previous page's next), checking
    the pages follow each other in descending id order without repeats."""
    ids: list[int] = []
    after = 0
    for _ in range(100):
        body = _ok(client.get(url, headers=acc.headers, params={"after": after, "limit": PAGE}))
        ids.extend(i["id"] for i in body["items"])
        if body["next"] is None:
            break
        assert body["next"] == body["items"][-1]["id"], (acc.label, url, body["next"])
        after = body["next"]
    assert ids == sorted(set(ids), reverse=True), (acc.label, url, ids)
    return set(ids)


def _check_reads(client: Any, acc: Account, model: Model, at: datetime) -> None:
    who, u, h = acc.label, acc.user, acc.headers

    want = model.cases(u, at)
    got = _newest_first(client, acc, "/api/v1/cases")
    assert got == want, (who, at, "GET /cases", got, want)
    for case_id in model.case_org:
        right = model.right(u, case_id, at)
        r = client.get(f"/api/v1/cases/{case_id}", headers=h)
        if right == "none":
            assert r.status_code == 404, (who, at, "GET case", case_id, r.status_code)
        else:
            assert r.status_code == 200, (who, at, "GET case", case_id, r.status_code, r.text)
            got_right = r.json()["right"]
            assert got_right == right, (who, at, "right on case", case_id, got_right, right)

    want = model.requests(u)
    got = _newest_first(client, acc, "/api/v1/assistance-requests")
    assert got == want, (who, at, "GET /assistance-requests", got, want)


def _check_by_id(client: Any, acc: Account, model: Model) -> None:
    """Alerts and assistance requests one by one: neither rule follows the clock (a request
    is read by members of any deployment answering it, past, running or to come), so these
    are checked at one instant; the lists are checked at every one."""
    want = model.alerts(acc.user)
    got = _newest_first(client, acc, "/api/v1/alerts")
    assert got == want, (acc.label, "GET /alerts", got, want)
    for alert_id in model.alert_org:
        r = client.get(f"/api/v1/alerts/{alert_id}", headers=acc.headers)
        assert r.status_code == (200 if alert_id in want else 404), (
            acc.label,
            "GET alert",
            alert_id,
            r.status_code,
        )
    want = model.requests(acc.user)
    for req_id in model.request_org:
        r = client.get(f"/api/v1/assistance-requests/{req_id}", headers=acc.headers)
        assert r.status_code == (200 if req_id in want else 404), (
            acc.label,
            "GET assistance request",
            req_id,
            r.status_code,
        )


def _check_writes(client: Any, acc: Account, stored: Stored, at: datetime, instant: int) -> None:
    """The writes with the right each needs; they change no access (a title, a task, a log)."""
    who, u, h = acc.label, acc.user, acc.headers
    for case_id in stored.model.case_org:
        right = stored.model.right(u, case_id, at)
        attempts = [
            (
                "PATCH case",
                client.patch(
                    f"/api/v1/cases/{case_id}",
                    headers=h,
                    json={"title": f"case {case_id} by {who} at {instant}"},
                ),
                expected_write(right, "full", 200),
            ),
            (
                "POST task",
                client.post(
                    f"/api/v1/cases/{case_id}/tasks", headers=h, json={"title": f"{who} {instant}"}
                ),
                expected_write(right, "contribute", 201),
            ),
            (
                "POST task log",
                client.post(
                    f"/api/v1/tasks/{stored.task_of[case_id]}/logs",
                    headers=h,
                    json={"message": f"{who} at {instant}"},
                ),
                expected_write(right, "contribute", 201),
            ),
        ]
        for what, r, status in attempts:
            assert r.status_code == status, (who, at, what, case_id, right, r.status_code, r.text)


# ---------------------------------------------------------------- the property


def _run(instance: Any, client: Any, clock: Any, spec: WorldSpec, log: Any = None) -> None:
    _reset(instance)
    clock.at = at_step(BEFORE)
    stored = _insert(instance, spec)
    if log is not None:
        log(f"model: {stored.model}")
    for k, instant in enumerate(spec.instants):
        at = at_step(instant)
        clock.at = at
        for acc in stored.accounts:
            if k == 0:
                _check_by_id(client, acc, stored.model)
            _check_reads(client, acc, stored.model, at)
            if k == spec.write_at:
                _check_writes(client, acc, stored, at, instant)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(spec=worlds())
def test_cases_alerts_and_requests_follow_the_rules(
    instance, client, clock, spec: WorldSpec
) -> None:
    _run(instance, client, clock, spec, log=note)
