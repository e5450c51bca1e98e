"""Live classes (空中课堂) with quizzes, on SQLite and PostgreSQL: the scoring rule (pure
function tests), the session's lifecycle and who may run, join and answer, answers once and
only while a question is open, results after closing, attendance and the leaderboard, the
scoping of every list, the audit of every change, and the `liveClass` subscription delivering
a question and its close to a participant, never to a non-participant."""

from __future__ import annotations

from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from starlette.testclient import TestClient

from schema.ids import global_id, parse_global_id
from server.app import create_app
from server.errors import BadUserInput
from server.lecturers.models import LiveQuestion, QuestionKind
from server.lecturers.scoring import checked_choices, score
from tenants.demo import DemoData
from tenants.paths import ancestors, is_within
from tests import test_feed
from tests.conftest import Databases, GraphQLClient, settings_for
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
    assert [e["node"] for e in first["edges"] + rest["edges"]] == [
        e["node"] for e in board["edges"]
    ]
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
        # The other class's subscriber heard nothing of this one.
        assert [m for m in outsider.drain() if m.get("id") == "own"] == []


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
