"""Live classes (空中课堂) with quizzes, on SQLite and PostgreSQL: the scoring rule (pure
function tests), the session's lifecycle and who may run, join and answer, answers once and
only while a question is open, results after closing, attendance and the leaderboard, the
scoping of every list, the audit of every change, and the `liveClass` subscription delivering
a question and its close to a participant, never to a non-participant."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from starlette.testclient import TestClient

from schema import live_classes
from schema.ids import global_id, parse_global_id
from server.app import create_app
from server.errors import BadUserInput
from server.lecturers import sessions
from server.lecturers.models import LiveClass, LiveQuestion, QuestionKind
from server.lecturers.scoring import checked_choices, score
from server.members.privacy import masked_name
from tenants.demo import DemoData, demo_accounts
from tenants.paths import ancestors, is_within
from tests import test_feed
from tests.conftest import TEMPLATE_SEED, Databases, GraphQLClient, settings_for
from tests.services import Redis
from tests.test_feed import Served
from tests.test_lecturers import audit_actions, every_page, tenant_gid
from tests.test_query_counts import statements

Json = dict[str, Any]
# The running-app fixtures of the feed tests (starlette TestClient, WebSockets).
serve = test_feed.serve
served = test_feed.served

CLASS_FIELDS = """id title status startedAt endedAt attendanceCount canHost canJoin
  host { code } lecturer { id name }"""
SCHEDULE = f"""mutation($i: ScheduleLiveClassInput!) {{ scheduleLiveClass(input: $i) {{
  {CLASS_FIELDS} }} }}"""
START = f"mutation($id: ID!) {{ startLiveClass(id: $id) {{ {CLASS_FIELDS} }} }}"
END = f"mutation($id: ID!) {{ endLiveClass(id: $id) {{ {CLASS_FIELDS} }} }}"
JOIN = "mutation($id: ID!) { joinLiveClass(id: $id) { memberId name branchName joinedAt } }"
QUESTION_FIELDS = """id text kind options points timeLimitSeconds closedAt correct myChoices
  myScore"""
PUSH = f"""mutation($i: PushLiveQuestionInput!) {{ pushLiveQuestion(input: $i) {{
  {QUESTION_FIELDS} }} }}"""
CLOSE = f"mutation($id: ID!) {{ closeLiveQuestion(id: $id) {{ {QUESTION_FIELDS} }} }}"
ANSWER = """mutation($q: ID!, $c: [Int!]!) { answerLiveQuestion(questionId: $q, choices: $c) {
  questionId choices answeredAt } }"""
CLASSES = f"""query($under: ID, $statuses: [LiveClassStatus!], $first: Int, $after: String) {{
  liveClasses(under: $under, statuses: $statuses, first: $first, after: $after) {{
    totalCount pageInfo {{ hasNextPage endCursor }} edges {{ node {{ {CLASS_FIELDS} }} }} }} }}"""
ONE = f"query($id: ID!) {{ liveClass(id: $id) {{ {CLASS_FIELDS} }} }}"
QUESTIONS = f"""query($c: ID!, $first: Int, $after: String) {{
  liveClassQuestions(liveClassId: $c, first: $first, after: $after) {{
    totalCount pageInfo {{ hasNextPage endCursor }}
    edges {{ node {{ {QUESTION_FIELDS} }} }} }} }}"""
ATTENDANCE = """query($c: ID!, $first: Int, $after: String) {
  liveClassAttendance(liveClassId: $c, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } edges { node { name joinedAt } } } }"""
BOARD = """query($c: ID!, $first: Int, $after: String) {
  liveClassLeaderboard(liveClassId: $c, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { cursor node { rank memberId name total answered } } } }"""
FOLLOW = """subscription($id: ID!) { liveClass(sessionId: $id) { kind liveClassId at correct
  yourChoices yourScore answers fullMarks
  question { id text kind options points correct myChoices myScore } } }"""


# -- scoring, pure ------------------------------------------------------------------------------

S, M = QuestionKind.SINGLE, QuestionKind.MULTIPLE


@pytest.mark.parametrize(
    ("kind", "correct", "chosen", "points", "expected"),
    [
        (S, [2], [2], 10, 10),
        (S, [2], [1], 10, 0),
        (S, [0], [], 10, 0),
        (M, [0, 2], [0, 2], 10, 10),
        (M, [0, 2], [2, 0], 10, 10),  # order does not matter
        (M, [0, 2], [0], 10, 5),  # part of the set, nothing wrong: half
        (M, [0, 2, 3], [0, 3], 7, 3),  # half, rounded down
        (M, [0, 2], [0, 1], 10, 0),  # one wrong option: nothing
        (M, [0, 2], [0, 1, 2], 10, 0),  # the whole set plus a wrong one: nothing
        (M, [1], [1], 1, 1),
        (M, [0, 1], [0], 1, 0),  # half of 1 point rounds down to 0
        (M, [0, 2], [], 10, 0),
    ],
)
def test_score(
    kind: QuestionKind, correct: list[int], chosen: list[int], points: int, expected: int
) -> None:
    assert score(kind, correct, chosen, points) == expected


@pytest.mark.parametrize(
    ("kind", "chosen", "message"),
    [
        (S, [0, 1], "exactly one"),
        (S, [], "exactly one"),
        (M, [], "at least one"),
        (M, [0, 0], "twice"),
        (M, [4], "option 4 does not exist"),
        (S, [-1], "option -1 does not exist"),
    ],
)
def test_checked_choices_names_the_argument(
    kind: QuestionKind, chosen: list[int], message: str
) -> None:
    with pytest.raises(BadUserInput) as caught:
        checked_choices(kind, 4, chosen)
    assert message in caught.value.message
    assert caught.value.extensions == {"argument": "choices"}
    assert checked_choices(M, 4, [3, 1]) == [1, 3]


# -- through the API ----------------------------------------------------------------------------


def lid(pk: int) -> str:
    return str(global_id("Lecturer", pk))


def schedule_input(
    demo: DemoData, host: str, title: str = "党史学习空中课堂", **extra: Any
) -> Json:
    start = datetime.now(UTC) + timedelta(hours=1)
    value: Json = {
        "title": title,
        "lecturerId": lid(1),  # a district lecturer: every host sees it
        "hostTenantId": tenant_gid(demo, host),
        "scheduledStart": start.isoformat(),
        "scheduledEnd": (start + timedelta(hours=2)).isoformat(),
    }
    value.update(extra)
    return value


def question_input(live_class: str, **extra: Any) -> Json:
    value: Json = {
        "liveClassId": live_class,
        "text": "中国共产党第一次全国代表大会在哪里召开？",
        "kind": "SINGLE",
        "options": ["北京", "上海", "广州", "南昌"],
        "correct": [1],
        "points": 10,
        "timeLimitSeconds": 60,
    }
    value.update(extra)
    return value


async def test_a_class_from_schedule_to_end(
    fresh: tuple[GraphQLClient, Any], demo: DemoData
) -> None:
    client, app = fresh
    host = await client.as_user("admin.d01t01")
    made = (await host.data(SCHEDULE, {"i": schedule_input(demo, "d01t01")}))["scheduleLiveClass"]
    assert made["status"] == "SCHEDULED" and made["canHost"] and not made["canJoin"]
    assert made["host"] == {"code": "d01t01"} and made["lecturer"]["id"] == lid(1)
    class_id = made["id"]
    alice, bob = await client.as_user("m.39"), await client.as_user("m.55")  # both in d01t01v001
    outsider = await client.as_user("m.211")  # d01t02v006
    other_admin = await client.as_user("admin.d01t02")

    # Not on yet: nobody joins, no question goes out.
    error = await alice.error(JOIN, {"id": class_id})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "id"}
    error = await host.error(PUSH, {"i": question_input(class_id)})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "liveClassId"}
    # Only the host starts it; another town's admin gets the refusal an absent class gets.
    refused = await other_admin.error(START, {"id": class_id})
    absent = await other_admin.error(START, {"id": str(global_id("LiveClass", 999))})
    assert refused["extensions"]["code"] == absent["extensions"]["code"] == "FORBIDDEN"
    assert refused["message"] == absent["message"]
    assert (await alice.error(START, {"id": class_id}))["extensions"]["code"] == "FORBIDDEN"
    started = (await host.data(START, {"id": class_id}))["startLiveClass"]
    assert started["status"] == "LIVE" and started["startedAt"]
    error = await host.error(START, {"id": class_id})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "id"}

    # Members of the host's subtree join, once; others do not.
    joined = (await alice.data(JOIN, {"id": class_id}))["joinLiveClass"]
    again = (await alice.data(JOIN, {"id": class_id}))["joinLiveClass"]
    assert again == joined
    await bob.data(JOIN, {"id": class_id})
    assert (await outsider.error(JOIN, {"id": class_id}))["extensions"]["code"] == "FORBIDDEN"
    assert (await host.error(JOIN, {"id": class_id}))["extensions"]["code"] == "FORBIDDEN"
    seen = (await alice.data(ONE, {"id": class_id}))["liveClass"]
    assert seen["attendanceCount"] == 2 and seen["canJoin"] and not seen["canHost"]

    # A question: bad input names its field.
    for change, argument in [
        ({"options": ["一"]}, "options"),
        ({"options": ["一", "一"]}, "options"),
        ({"correct": [4]}, "correct"),
        ({"correct": [0, 1]}, "correct"),  # SINGLE
        ({"points": 0}, "points"),
        ({"timeLimitSeconds": 5}, "timeLimitSeconds"),
        ({"text": " "}, "text"),
        ({"liveClassId": lid(1)}, "liveClassId"),
    ]:
        error = await host.error(PUSH, {"i": question_input(class_id, **change)})
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": argument}, change
    error = await other_admin.error(PUSH, {"i": question_input(class_id)})
    assert error["extensions"]["code"] == "FORBIDDEN"
    single = (await host.data(PUSH, {"i": question_input(class_id)}))["pushLiveQuestion"]
    assert single["correct"] == [1]  # the host sees it
    multiple = (
        await host.data(
            PUSH,
            {
                "i": question_input(
                    class_id,
                    text="“四个意识”包括哪些？",
                    kind="MULTIPLE",
                    options=["政治意识", "大局意识", "市场意识", "核心意识"],
                    correct=[0, 1, 3],
                    points=6,
                )
            },
        )
    )["pushLiveQuestion"]

    # Participants do not see the answer while the question is open.
    open_ = (await alice.data(QUESTIONS, {"c": class_id}))["liveClassQuestions"]
    assert [e["node"]["correct"] for e in open_["edges"]] == [None, None]
    assert [e["node"]["myScore"] for e in open_["edges"]] == [None, None]
    # Answers: once each, valid options only, participants only.
    receipt = (await alice.data(ANSWER, {"q": single["id"], "c": [1]}))["answerLiveQuestion"]
    assert receipt["choices"] == [1] and receipt["questionId"] == single["id"]
    error = await alice.error(ANSWER, {"q": single["id"], "c": [2]})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "questionId"}
    error = await bob.error(ANSWER, {"q": single["id"], "c": [1, 2]})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "choices"}
    error = await outsider.error(ANSWER, {"q": single["id"], "c": [1]})
    assert error["extensions"]["code"] == "FORBIDDEN"
    error = await host.error(ANSWER, {"q": single["id"], "c": [1]})
    assert error["extensions"]["code"] == "FORBIDDEN"
    await bob.data(ANSWER, {"q": single["id"], "c": [0]})
    await alice.data(ANSWER, {"q": multiple["id"], "c": [3, 0]})  # part of the set: 6 // 2
    await bob.data(ANSWER, {"q": multiple["id"], "c": [0, 1, 3]})
    # A member who may take part answers only once it has joined.
    carol = await client.as_user("m.83")  # d01t01v002: also in the host's subtree
    error = await carol.error(ANSWER, {"q": single["id"], "c": [1]})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "questionId"}
    assert "join" in error["message"]
    await carol.data(JOIN, {"id": class_id})
    # Past its time limit a question takes no more answers.
    async with app.state.runtime.engine.begin() as conn:
        await conn.execute(
            update(LiveQuestion)
            .where(LiveQuestion.id == parse_global_id(multiple["id"])[1])
            .values(closes_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    error = await carol.error(ANSWER, {"q": multiple["id"], "c": [0]})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "questionId"}

    # Closing publishes the answer; each participant sees its score.
    closed = (await host.data(CLOSE, {"id": single["id"]}))["closeLiveQuestion"]
    assert closed["closedAt"] and closed["correct"] == [1]
    error = await host.error(CLOSE, {"id": single["id"]})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "id"}
    mine = (await alice.data(QUESTIONS, {"c": class_id}))["liveClassQuestions"]["edges"]
    assert [(e["node"]["correct"], e["node"]["myChoices"], e["node"]["myScore"]) for e in mine] == [
        ([1], [1], 10),
        (None, [0, 3], None),  # still open: its score waits
    ]
    theirs = (await bob.data(QUESTIONS, {"c": class_id}))["liveClassQuestions"]["edges"]
    assert theirs[0]["node"]["myScore"] == 0
    error = await outsider.error(QUESTIONS, {"c": class_id})
    assert error["extensions"]["code"] == "FORBIDDEN"

    # Ending closes what is open; results count closed questions only.
    ended = (await host.data(END, {"id": class_id}))["endLiveClass"]
    assert ended["status"] == "ENDED" and ended["attendanceCount"] == 3
    error = await host.error(END, {"id": class_id})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "id"}
    error = await carol.error(JOIN, {"id": class_id})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "id"}
    board = (await alice.data(BOARD, {"c": class_id}))["liveClassLeaderboard"]
    assert board["totalCount"] == 3
    assert [
        (e["node"]["rank"], e["node"]["total"], e["node"]["answered"]) for e in board["edges"]
    ] == [
        (1, 13, 2),  # alice: 10 + 3
        (2, 6, 2),  # bob: 0 + 6
        (3, 0, 0),  # carol joined, and answered nothing in time
    ]
    first = (await host.data(BOARD, {"c": class_id, "first": 1}))["liveClassLeaderboard"]
    rest = (await host.data(BOARD, {"c": class_id, "after": first["pageInfo"]["endCursor"]}))[
        "liveClassLeaderboard"
    ]
    assert first["pageInfo"]["hasNextPage"] and not rest["pageInfo"]["hasNextPage"]
    in_full = [e["node"] for e in first["edges"] + rest["edges"]]
    # The host sees every name in full; a participant its own, and the others' surnames only.
    assert [{**n, "name": None} for n in in_full] == [
        {**e["node"], "name": None} for e in board["edges"]
    ]
    assert [e["node"]["name"] for e in board["edges"]] == [
        in_full[0]["name"],
        masked_name(in_full[1]["name"]),
        masked_name(in_full[2]["name"]),
    ]
    assert in_full[0]["name"] == joined["name"] and "某" not in in_full[1]["name"]
    # Attendance is the host's.
    attendance = await every_page(host, ATTENDANCE, "liveClassAttendance", c=class_id)
    assert len(attendance) == 3 and attendance[0]["joinedAt"] == joined["joinedAt"]
    error = await alice.error(ATTENDANCE, {"c": class_id})
    assert error["extensions"]["code"] == "FORBIDDEN"

    actions = [a for a, _, _ in await audit_actions(app, "live_")]
    assert actions == [
        "live_class.schedule",
        "live_class.start",
        "live_class.join",
        "live_class.join",
        "live_question.push",
        "live_question.push",
        "live_question.answer",
        "live_question.answer",
        "live_question.answer",
        "live_question.answer",
        "live_class.join",
        "live_question.close",
        "live_question.close",  # by the end
        "live_class.end",
    ]


ACTIVITY = """query($under: ID) { feedEvents(under: $under, kinds: [BRANCH_ACTIVITY], first: 100)
  { edges { node { kind title payload occurredAt tenant { code } branch { id } } } } }"""


async def live_events(reader: GraphQLClient) -> list[Json]:
    """The live-class events of the feed's history the reader sees, oldest first."""
    edges = (await reader.data(ACTIVITY))["feedEvents"]["edges"]
    nodes = [e["node"] for e in edges if (e["node"]["payload"] or {}).get("source") == "live_class"]
    return nodes[::-1]


async def test_the_feed_sees_a_class_start_and_end(
    fresh: tuple[GraphQLClient, Any], demo: DemoData
) -> None:
    client, _app = fresh
    host = await client.as_user("admin.d01t01")
    made = (await host.data(SCHEDULE, {"i": schedule_input(demo, "d01t01", title="初心课")}))[
        "scheduleLiveClass"
    ]
    class_id, class_pk = made["id"], parse_global_id(made["id"])[1]
    lecturer = made["lecturer"]["name"]
    assert await live_events(host) == []  # scheduling is not news yet

    started = (await host.data(START, {"id": class_id}))["startLiveClass"]
    [opening] = await live_events(host)
    assert opening["kind"] == "BRANCH_ACTIVITY" and opening["tenant"] == {"code": "d01t01"}
    assert opening["title"] == f"空中课堂开讲：初心课（{lecturer}）"
    assert opening["payload"] == {"source": "live_class", "live_class": class_pk, "lecturer": 1}
    assert opening["occurredAt"] == started["startedAt"] and opening["branch"] is None
    for username in ("m.39", "m.55"):
        await (await client.as_user(username)).data(JOIN, {"id": class_id})
    await host.data(END, {"id": class_id})
    await host.error(END, {"id": class_id})  # refused: no second event
    closing = (await live_events(host))[1:]
    assert [(e["title"], e["payload"]) for e in closing] == [
        (
            "空中课堂结束：初心课，2人参加",
            {"source": "live_class", "live_class": class_pk, "lecturer": 1, "attendance": 2},
        )
    ]
    # The command center above sees them; a neighbouring town does not.
    assert await live_events(await client.as_user("admin")) == [opening, *closing]
    assert await live_events(await client.as_user("admin.d01t02")) == []


async def test_a_stale_read_never_lets_a_write_past_the_end(
    fresh: tuple[GraphQLClient, Any], demo: DemoData
) -> None:
    """The API reads a class or question before its write transaction; a class that ends (or
    a question that closes) in between must refuse the write, not take it."""
    client, app = fresh
    host = await client.as_user("admin.d01t01")
    made = (await host.data(SCHEDULE, {"i": schedule_input(demo, "d01t01")}))["scheduleLiveClass"]
    class_id, class_pk = made["id"], parse_global_id(made["id"])[1]
    await host.data(START, {"id": class_id})
    alice = await client.as_user("m.39")
    await alice.data(JOIN, {"id": class_id})
    question = (await host.data(PUSH, {"i": question_input(class_id)}))["pushLiveQuestion"]
    question_pk = parse_global_id(question["id"])[1]
    engine = app.state.runtime.engine
    async with engine.connect() as conn:
        live_row = await sessions.class_by_id(conn, class_pk)
        open_row = await sessions.question_by_id(conn, question_pk)
    assert live_row is not None and open_row is not None
    await host.data(CLOSE, {"id": question["id"]})
    now = datetime.now(UTC)
    who = {"actor": "user:m.39", "client": None, "now": now}
    # An answer read the question open; it closed before the answer's transaction.
    with pytest.raises(BadUserInput) as refused:
        async with engine.begin() as conn:
            await sessions.answer_question(
                conn, question=open_row, path=live_row.t_path, member_id=39, choices=[1], **who
            )
    assert refused.value.extensions == {"argument": "questionId"}
    await host.data(END, {"id": class_id})
    # A push and a join read the class on; it ended before their transactions.
    fields = sessions.checked_question(
        text="问",
        kind=QuestionKind.SINGLE,
        options=["甲", "乙"],
        correct=[0],
        points=1,
        time_limit=60,
    )
    with pytest.raises(BadUserInput) as refused:
        async with engine.begin() as conn:
            await sessions.push_question(conn, row=live_row, fields=fields, **who)
    assert refused.value.extensions == {"argument": "liveClassId"}
    with pytest.raises(BadUserInput) as refused:
        async with engine.begin() as conn:
            await sessions.join_class(conn, row=live_row, member_id=55, **who)
    assert refused.value.extensions == {"argument": "id"}
    questions = (await host.data(QUESTIONS, {"c": class_id}))["liveClassQuestions"]
    assert questions["totalCount"] == 1 and questions["edges"][0]["node"]["myScore"] is None
    assert (await host.data(ONE, {"id": class_id}))["liveClass"]["attendanceCount"] == 1
    board = (await host.data(BOARD, {"c": class_id}))["liveClassLeaderboard"]
    assert [e["node"]["answered"] for e in board["edges"]] == [0]


async def test_answers_racing_the_end_are_counted_or_refused(
    fresh: tuple[GraphQLClient, Any], demo: DemoData
) -> None:
    """The host ends a class while participants answer its open questions, all at once: the
    end succeeds, each answer is either taken (and then counted in the results) or refused as
    too late, and nothing fails otherwise (on PostgreSQL: no deadlock, no lost answer)."""
    client, _app = fresh
    host = await client.as_user("admin")
    made = (await host.data(SCHEDULE, {"i": schedule_input(demo, "d01")}))["scheduleLiveClass"]
    class_id = made["id"]
    await host.data(START, {"id": class_id})
    usernames = [u for u, m in demo_accounts(demo, seed=TEMPLATE_SEED) if m is not None][:10]
    members = [await client.as_user(u) for u in usernames]
    for member in members:
        await member.data(JOIN, {"id": class_id})
    questions = [
        (await host.data(PUSH, {"i": question_input(class_id, text=f"第{n}题")}))[
            "pushLiveQuestion"
        ]["id"]
        for n in range(3)
    ]
    bodies = await asyncio.gather(
        *(m.post(ANSWER, {"q": q, "c": [1]}) for q in questions for m in members[:5]),
        host.post(END, {"id": class_id}),
        *(m.post(ANSWER, {"q": q, "c": [1]}) for q in questions for m in members[5:]),
    )
    ended = bodies.pop(15)
    assert "errors" not in ended, ended
    refused = [b["errors"] for b in bodies if "errors" in b]
    assert all(
        e[0]["extensions"] == {"code": "BAD_USER_INPUT", "argument": "questionId"} for e in refused
    ), refused
    taken = len(bodies) - len(refused)
    board = await every_page(host, BOARD, "liveClassLeaderboard", c=class_id)
    assert sum(n["answered"] for n in board) == taken
    assert sum(n["total"] for n in board) == 10 * taken
    listed = (await host.data(QUESTIONS, {"c": class_id}))["liveClassQuestions"]["edges"]
    assert all(e["node"]["closedAt"] for e in listed)


async def test_schedule_checks_its_input_and_place(
    fresh: tuple[GraphQLClient, Any], demo: DemoData
) -> None:
    client, _app = fresh
    junior = await client.as_user("admin.d01t01v001")
    start = datetime.now(UTC) + timedelta(days=1)
    for change, argument in [
        ({"title": ""}, "title"),
        ({"scheduledEnd": start.isoformat()}, "scheduledEnd"),
        ({"scheduledEnd": (start + timedelta(hours=13)).isoformat()}, "scheduledEnd"),
        ({"scheduledStart": "2026-12-01T09:00:00"}, "scheduledStart"),
        # No UTC time (beyond the calendar's ends), or more than a year ahead.
        ({"scheduledStart": "0001-01-01T00:00:00+08:00"}, "scheduledStart"),
        ({"scheduledEnd": "9999-12-31T23:00:00-05:00"}, "scheduledEnd"),
        (
            {
                "scheduledStart": (start + timedelta(days=400)).isoformat(),
                "scheduledEnd": (start + timedelta(days=400, hours=1)).isoformat(),
            },
            "scheduledStart",
        ),
        ({"lecturerId": tenant_gid(demo, "d01")}, "lecturerId"),
        ({"hostTenantId": lid(1)}, "hostTenantId"),
    ]:
        times = {
            "scheduledStart": start.isoformat(),
            "scheduledEnd": (start + timedelta(hours=1)).isoformat(),
        }
        value = schedule_input(demo, "d01t01v001", **{**times, **change})
        error = await junior.error(SCHEDULE, {"i": value})
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": argument}, change
    for change in ({"hostTenantId": tenant_gid(demo, "d01t01")}, {"lecturerId": lid(7)}):
        error = await junior.error(SCHEDULE, {"i": schedule_input(demo, "d01t01v001", **change)})
        assert error["extensions"]["code"] == "FORBIDDEN", change
    member = await client.as_user("m.39")
    error = await member.error(SCHEDULE, {"i": schedule_input(demo, "d01t01v001")})
    assert error["extensions"]["code"] == "FORBIDDEN"
    # An inactive lecturer is not scheduled, as it is not booked.
    admin = await client.as_user("admin")
    update = "mutation($id: ID!) { updateLecturer(id: $id, input: {active: false}) { active } }"
    await admin.data(update, {"id": lid(1)})
    error = await junior.error(SCHEDULE, {"i": schedule_input(demo, "d01t01v001")})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "lecturerId"}


def sees(path: str, root: str) -> bool:
    return is_within(path, root) or path in ancestors(root)


async def test_classes_are_listed_in_the_subtree_and_above(
    fresh: tuple[GraphQLClient, Any], demo: DemoData
) -> None:
    client, _app = fresh
    admin = await client.as_user("admin")
    hosts = ["d01", "d01t01", "d01t01v001", "d01t01v002", "d01t02", "d01t02v006"]
    made = {}
    for host in hosts:
        node = (await admin.data(SCHEDULE, {"i": schedule_input(demo, host, title=host)}))[
            "scheduleLiveClass"
        ]
        made[host] = node["id"]
    await admin.data(START, {"id": made["d01t01"]})
    path = {t["code"]: t["path"] for t in demo.tenants}
    for username, root in [
        ("admin", "/d01/"),
        ("admin.d01t01", "/d01/t01/"),
        ("admin.d01t01v001", "/d01/t01/v001/"),
        ("m.39", "/d01/t01/v001/"),
        ("m.211", "/d01/t02/v006/"),
    ]:
        reader = await client.as_user(username)
        expected = sorted(h for h in hosts if sees(path[h], root))
        nodes = await every_page(reader, CLASSES, "liveClasses")
        assert sorted(n["title"] for n in nodes) == expected, username
        ids = [parse_global_id(n["id"])[1] for n in nodes]
        assert ids == sorted(ids, reverse=True)  # newest first
        live = await every_page(reader, CLASSES, "liveClasses", statuses=["LIVE"])
        assert [n["title"] for n in live] == (["d01t01"] if "d01t01" in expected else [])
        for host in hosts:
            one = (await reader.data(ONE, {"id": made[host]}))["liveClass"]
            assert (one is not None) == (host in expected), (username, host)
    # No statement per row: a page of 1 and a page of all run the same ones.
    counts = []
    for size in (2, 100):
        with statements(_app) as seen:
            await admin.data(CLASSES, {"first": size})
        counts.append(len(seen))
    assert counts[0] == counts[1] <= 5, counts
    senior = await client.as_user("admin.d01t01")
    under = await every_page(senior, CLASSES, "liveClasses", under=tenant_gid(demo, "d01t01v002"))
    assert sorted(n["title"] for n in under) == ["d01", "d01t01", "d01t01v002"]


# -- the subscription ---------------------------------------------------------------------------


def test_the_subscription_delivers_questions_to_participants_only(
    served: Served, demo: DemoData
) -> None:
    host = "admin.d01t01"
    made = served.data(host, SCHEDULE, {"i": schedule_input(demo, "d01t01")})["scheduleLiveClass"]
    class_id = made["id"]
    elsewhere = served.data(
        "admin.d01t02", SCHEDULE, {"i": schedule_input(demo, "d01t02", title="别处")}
    )["scheduleLiveClass"]
    served.data(host, START, {"id": class_id})
    served.data("admin.d01t02", START, {"id": elsewhere["id"]})
    served.data("m.39", JOIN, {"id": class_id})
    with (
        served.socket("m.39") as alice,
        served.socket("m.211") as outsider,
        served.socket(host) as host_socket,
    ):
        alice.subscribe("live", FOLLOW, {"id": class_id})
        host_socket.subscribe("live", FOLLOW, {"id": class_id})
        # A member outside the host's subtree is refused like an absent class.
        outsider.subscribe("refused", FOLLOW, {"id": class_id})
        refused = outsider.message("refused")
        outsider.subscribe("absent", FOLLOW, {"id": str(global_id("LiveClass", 999))})
        absent = outsider.message("absent")
        assert refused["payload"] == absent["payload"], (refused, absent)
        assert refused["payload"]["data"] is None
        [error] = refused["payload"]["errors"]
        assert error["extensions"] == {"code": "FORBIDDEN"}
        assert outsider.message("refused")["type"] == "complete"
        assert outsider.message("absent")["type"] == "complete"
        outsider.subscribe("own", FOLLOW, {"id": elsewhere["id"]})  # its own town's class
        # The state first: the class is on.
        for socket in (alice, host_socket):
            assert socket.next("live")["liveClass"]["kind"] == "STARTED"
        assert outsider.next("own")["liveClass"]["kind"] == "STARTED"

        question = served.data(
            host,
            PUSH,
            {
                "i": question_input(
                    class_id, kind="MULTIPLE", options=["甲", "乙", "丙"], correct=[0, 2]
                )
            },
        )["pushLiveQuestion"]
        pushed = alice.next("live")["liveClass"]
        assert pushed["kind"] == "QUESTION" and pushed["correct"] is None
        assert pushed["question"]["id"] == question["id"]
        assert pushed["question"]["correct"] is None and pushed["question"]["options"] == [
            "甲",
            "乙",
            "丙",
        ]
        assert host_socket.next("live")["liveClass"]["question"]["id"] == question["id"]
        served.data("m.39", ANSWER, {"q": question["id"], "c": [0]})
        served.data(host, CLOSE, {"id": question["id"]})
        closed = alice.next("live")["liveClass"]
        assert closed["kind"] == "QUESTION_CLOSED"
        assert closed["correct"] == [0, 2] and closed["question"]["correct"] == [0, 2]
        assert (closed["yourChoices"], closed["yourScore"]) == ([0], 5)
        assert (closed["answers"], closed["fullMarks"]) == (1, 0)
        for_host = host_socket.next("live")["liveClass"]
        assert for_host["kind"] == "QUESTION_CLOSED" and for_host["yourScore"] is None

        served.data(host, END, {"id": class_id})
        assert alice.next("live")["liveClass"]["kind"] == "ENDED"
        assert alice.message("live")["type"] == "complete"
        assert host_socket.next("live")["liveClass"]["kind"] == "ENDED"
        assert host_socket.message("live")["type"] == "complete"
        # Both subscriptions are gone from the hub; the other class's one stays.
        assert listeners(served) == {parse_global_id(elsewhere["id"])[1]: 1}
        # The other class's subscriber heard nothing of this one.
        assert [m for m in outsider.drain() if m.get("id") == "own"] == []


def listeners(served: Served) -> dict[int, int]:
    """The live hub's subscriptions in this process, per class."""
    hub = served.runtime.live
    return {class_id: len(them) for class_id, them in hub._listeners.items()}


def test_a_signed_out_subscriber_is_dropped_like_the_feeds(
    serve: Callable[..., Served], demo: DemoData
) -> None:
    """Signing out ends the socket (4403) within a ping interval, live-class subscriptions and
    all (server/ws.py), and frees its place in the hub; another participant carries on."""
    served = serve(ws_ping=1)
    host = "admin.d01t01"
    class_id = served.data(host, SCHEDULE, {"i": schedule_input(demo, "d01t01")})[
        "scheduleLiveClass"
    ]["id"]
    served.data(host, START, {"id": class_id})
    with served.socket("m.55") as staying:
        staying.subscribe("live", FOLLOW, {"id": class_id})
        assert staying.next("live")["liveClass"]["kind"] == "STARTED"
        with served.socket("m.39") as leaving:
            leaving.subscribe("live", FOLLOW, {"id": class_id})
            assert leaving.next("live")["liveClass"]["kind"] == "STARTED"
            assert listeners(served) == {parse_global_id(class_id)[1]: 2}
            assert served.data("m.39", "mutation { logout }") == {"logout": True}
            assert leaving.closed(5.0) == 4403
        # The client has answered the close: the connection's operations are ended.
        deadline = time.monotonic() + 5.0
        while listeners(served) != {parse_global_id(class_id)[1]: 1}:
            assert time.monotonic() < deadline, listeners(served)
            time.sleep(0.05)
        question = served.data(host, PUSH, {"i": question_input(class_id)})["pushLiveQuestion"]
        assert staying.next("live")["liveClass"]["question"]["id"] == question["id"]


def test_a_lost_ended_message_still_ends_the_subscription(
    serve: Callable[..., Served], demo: DemoData, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Live messages are not stored: if ENDED never arrives (a Redis outage), a subscription
    left waiting looks at the class's row, and ends with ENDED as if it had."""
    monkeypatch.setattr(live_classes, "ENDED_RECHECK", 0.2)
    served = serve()
    host = "admin.d01t01"
    class_id = served.data(host, SCHEDULE, {"i": schedule_input(demo, "d01t01")})[
        "scheduleLiveClass"
    ]["id"]
    served.data(host, START, {"id": class_id})
    with served.socket("m.39") as alice:
        alice.subscribe("live", FOLLOW, {"id": class_id})
        assert alice.next("live")["liveClass"]["kind"] == "STARTED"
        time.sleep(0.5)  # a few quiet rechecks: the class is on, the subscription waits
        assert alice.drain() == []
        ended_at = datetime.now(UTC)

        async def end_unannounced() -> None:
            async with served.runtime.engine.begin() as conn:
                await conn.execute(
                    update(LiveClass)
                    .where(LiveClass.id == parse_global_id(class_id)[1])
                    .values(ended_at=ended_at)
                )

        served.call(end_unannounced)
        ended = alice.next("live")["liveClass"]
        assert ended["kind"] == "ENDED"
        assert datetime.fromisoformat(ended["at"]) == ended_at
        assert alice.message("live")["type"] == "complete"
        assert listeners(served) == {}


def test_events_cross_processes_over_redis(
    databases: Databases, redis_server: Redis, tmp_path: Path, demo: DemoData
) -> None:
    """Two app processes on one database and one Redis: the question pushed through one
    reaches a participant subscribed on the other (the live channel rides the bus)."""
    url = databases.copy()
    with ExitStack() as stack:
        apps = []
        for name in ("a", "b"):
            app = create_app(
                settings_for(url, tmp_path / name, redis_url=redis_server.url, redis_prefix="live")
            )
            apps.append(Served(stack.enter_context(TestClient(app)), app))
        one, other = apps
        host = "admin.d01t01"
        made = one.data(host, SCHEDULE, {"i": schedule_input(demo, "d01t01")})["scheduleLiveClass"]
        with other.socket("m.39") as alice:
            alice.subscribe("live", FOLLOW, {"id": made["id"]})
            # Nothing to replay yet (the class is scheduled): the first message is live.
            one.data(host, START, {"id": made["id"]})
            assert alice.next("live")["liveClass"]["kind"] == "STARTED"
            question = one.data(host, PUSH, {"i": question_input(made["id"])})["pushLiveQuestion"]
            pushed = alice.next("live")["liveClass"]
            assert pushed["question"]["id"] == question["id"] and pushed["correct"] is None
            other.data("m.39", JOIN, {"id": made["id"]})
            other.data("m.39", ANSWER, {"q": question["id"], "c": [1]})
            one.data(host, CLOSE, {"id": question["id"]})
            closed = alice.next("live")["liveClass"]
            assert (closed["kind"], closed["correct"], closed["yourScore"]) == (
                "QUESTION_CLOSED",
                [1],
                10,
            )
