"""Two grid workers' phones and a supervisor, through the generated Python bindings.

Run by mobile-ffi/tests/python_bindings.rs against a real server:

    GRIDBOOK_URL=http://127.0.0.1:PORT GRIDBOOK_PASSWORD=... GRIDBOOK_WORKER_A=... \
    GRIDBOOK_WORKER_B=... GRIDBOOK_SUPERVISOR=... GRIDBOOK_STORE_DIR=... \
    PYTHONPATH=target/bindings/python python3 two_phones.py

Both phones edit the same household offline (one field differently on each, so a conflict),
one opens a case, they sync and converge, the conflict is visible on both, a supervisor's
case action made through the server's HTTP API reaches the phone, and a phone that moves
the sync bytes itself (build/apply) converges as well. Exits non-zero on the first failed
check.
"""

import json
import os
import time
import urllib.request

import gridbook

URL = os.environ["GRIDBOOK_URL"]
PASSWORD = os.environ["GRIDBOOK_PASSWORD"]
STORES = os.environ["GRIDBOOK_STORE_DIR"]
# Each store's key, as an app keeps it in the Android Keystore or the iOS Keychain: 64 hex
# characters are a raw 256-bit key.
KEY_A = os.urandom(32).hex()
KEY_B = os.urandom(32).hex()


def check(condition, what):
    if not condition:
        raise AssertionError(what)
    print("ok -", what)


def now_ms():
    return int(time.time() * 1000)


def http_json(method, path, body=None, token=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(URL + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read())


def id_number(born):
    """A GB 11643 resident ID number with a valid check digit, born on `born` (YYYYMMDD)."""
    first17 = "520627" + born + "123"
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    total = sum(int(d) * w for d, w in zip(first17, weights))
    return first17 + "10X98765432"[total % 11]


def main():
    phone_a = gridbook.Phone.open(os.path.join(STORES, "a.db"), KEY_A)
    phone_b = gridbook.Phone.open(os.path.join(STORES, "b.db"), KEY_B)
    account_a = phone_a.login(URL, os.environ["GRIDBOOK_WORKER_A"], PASSWORD, "A 的手机")
    account_b = phone_b.login(URL, os.environ["GRIDBOOK_WORKER_B"], PASSWORD, "B 的手机")
    check(account_a.role == gridbook.Role.GRID_WORKER, "worker A signed in as a grid worker")
    check(phone_a.device_id() != phone_b.device_id(), "each phone has its own device id")

    # Signing in as another user on a store that belongs to A is refused.
    try:
        phone_a.login(URL, os.environ["GRIDBOOK_WORKER_B"], PASSWORD, None)
        check(False, "another user may not take over A's store")
    except gridbook.GridbookError.Forbidden:
        check(phone_a.account().login == account_a.login, "A's store stays A's")

    # A records a household with one resident and syncs; B fetches it.
    place = phone_a.my_place()
    household = gridbook.new_household(
        place, gridbook.Address(compound="乌江水岸", building="3", unit="1", room="402")
    )
    resident_id = gridbook.new_resident_id()
    household.residents.append(
        gridbook.Resident(
            id=resident_id,
            name="王芳",
            gender=gridbook.Gender.FEMALE,
            relation=gridbook.Relation.HEAD,
            status=gridbook.ResidentStatus.PRESENT,
            moved_in=None,
            moved_out=None,
        )
    )
    phone_a.create_household(household)
    # Her ID number and phone go to the household's private document (grid workers' phones only).
    private = gridbook.HouseholdPrivate(
        id=phone_a.household_private_id(household.id),
        household=household.id,
        place=place,
        residents=[
            gridbook.ResidentIdentity(
                id=resident_id,
                id_number=id_number("19560312"),
                phone="13800001234",
                birth_date="1956-03-12",
                special_groups=[],
            )
        ],
        notes="",
    )
    check(phone_a.save_household_private(private, None), "A recorded her identity")
    check(phone_a.pending_count() == 2, "the household and its private document are pending on A")
    summary = phone_a.sync()
    check(summary.accepted == 2 and phone_a.pending_count() == 0, "A's household reached the server")
    summary = phone_b.sync()
    check(summary.received >= 2, "B received the household and its private document")
    check(phone_b.household(household.id).residents[0].name == "王芳", "B reads the resident")
    check(phone_b.household_private(household.id).residents[0].phone == "13800001234",
          "B reads her phone number")

    # A typed record that breaks a rule is refused with the field, and nothing is written.
    bad = phone_b.household_private(household.id)
    bad.residents[0].id_number = "520627195603121230"
    try:
        phone_b.save_household_private(bad, None)
        check(False, "an invalid ID number must be refused")
    except gridbook.GridbookError.InvalidRecord as e:
        fields = [v.field for v in e.violations]
        check(fields == ["residents[0].id_number"], "the violation names the field: %s" % fields)
        check("520627195603121230" not in str(e), "the error does not echo the value")
    check(phone_b.pending_count() == 0, "the refused edit left nothing pending")

    # Offline: both edit the notes (a conflict); B also tags it; A opens a case.
    version_a = phone_a.version(household.id)
    edit_a = phone_a.household(household.id)
    edit_a.notes = "老人独居，每周探访 (A)"
    check(phone_a.update_household(edit_a, version_a), "A edited the notes")
    edit_b = phone_b.household(household.id)
    edit_b.notes = "子女在外地 (B)"
    edit_b.tags.append("elderly_alone")
    check(phone_b.update_household(edit_b, phone_b.version(household.id)), "B edited notes and tags")

    case = gridbook.Case(
        id=gridbook.new_record_id(),
        case_kind=gridbook.CaseKind.APPEAL,
        category="elderly_care",
        subject="独居老人需要助餐 meals for an elderly resident",
        description="",
        place=place,
        location=None,
        household=household.id,
        parties=[],
        urgency=gridbook.Urgency.NORMAL,
        confidential=False,
        opened_by=account_a.user_id,
        opened_at=now_ms(),
        events=[],
        mediation=[],
        rectification=None,
        attachments=[],
    )
    phone_a.create_case(case)
    # A photographs the signed form offline (a PDF, kept as it is).
    form = b"%PDF-1.7\n(meals for an elderly resident)\n%%EOF\n"
    attached = phone_a.attach(
        case.id,
        gridbook.AttachSource.BYTES(bytes=form),
        gridbook.AttachOptions(
            caption="申请表", location=None, stage=gridbook.AttachmentStage.SITUATION,
            part=None, keep_location=False,
        ),
    )
    check(attached.size == len(form) and attached.media_type == gridbook.MediaType.PDF,
          "A attached a PDF offline")
    check(phone_a.attachment_status(attached.sha256).state == gridbook.BlobState.UNSENT,
          "its bytes wait for the next sync")
    progress = phone_a.add_case_event(case.id, gridbook.CaseAction.SUBMIT, "上报", None, None)
    check(progress.state == "reported", "A submitted the case (state %s)" % progress.state)
    try:
        phone_a.add_case_event(case.id, gridbook.CaseAction.ACCEPT, None, None, None)
        check(False, "a grid worker may not accept a case")
    except gridbook.GridbookError.Conflict as e:
        check("accept" in str(e), "an illegal action is a Conflict naming it")
    check(phone_a.pending_count() == 2, "A has two records pending")

    # Back online: A, B, A. Both converge on the same version and JSON.
    phone_a.sync()
    phone_b.sync()
    phone_a.sync()
    entry_a = phone_a.record(household.id)
    entry_b = phone_b.record(household.id)
    check(entry_a.version == entry_b.version, "both phones hold the same version")
    check(json.loads(entry_a.json) == json.loads(entry_b.json), "both phones show the same household")
    check("elderly_alone" in phone_a.household(household.id).tags, "B's tag reached A")
    check(phone_b.case(case.id).subject == case.subject, "A's case reached B")
    check([a.sha256 for a in phone_b.case(case.id).attachments] == [attached.sha256],
          "A's attachment reached B")
    check(bytes(phone_b.attachment_bytes(attached.sha256, True)) == form,
          "B fetches the attached bytes from the server")
    check(phone_a.pending_count() == 0 and phone_b.pending_count() == 0, "nothing pending")

    # The conflict is visible on both phones, with both devices.
    for name, phone in (("A", phone_a), ("B", phone_b)):
        conflicts = phone.conflicts(household.id)
        fields = [c.field for c in conflicts.fields]
        check(fields == ["notes"], "%s sees the notes conflict: %s" % (name, fields))
        devices = {v.device_id for v in conflicts.fields[0].values}
        check(devices == {phone_a.device_id(), phone_b.device_id()}, "%s sees who wrote each value" % name)
    listed = phone_a.list(gridbook.RecordKind.HOUSEHOLD, "王芳", False, 50, 0)
    check([r.id for r in listed] == [household.id] and listed[0].has_conflicts, "search finds it, flagged")
    history = phone_a.history(household.id)
    check(len(history) >= 3 and any("notes" in h.fields for h in history), "history lists the edits")

    # A supervisor accepts the case through the server's API; the event reaches A's phone.
    tokens = http_json(
        "POST",
        "/v1/auth/login",
        {"login": os.environ["GRIDBOOK_SUPERVISOR"], "password": PASSWORD},
    )
    answer = http_json(
        "POST",
        "/v1/cases/%s/actions" % case.id,
        {"action": "accept", "note": "已受理"},
        tokens["access_token"],
    )
    state = answer["case_status"]["state"]
    check(state == "accepted", "the supervisor accepted the case: %s" % state)
    summary = phone_a.sync()
    check(summary.received >= 1, "A received the supervisor's change")
    progress = phone_a.case_progress(case.id)
    check(progress.state == "accepted", "the acceptance reached A's phone (state %s)" % progress.state)
    events = phone_a.case(case.id).events
    check(events[-1].action == gridbook.CaseAction.ACCEPT and events[-1].note == "已受理",
          "the supervisor's event is on A's timeline")

    # B moves the bytes itself (as an iOS background transfer would): build, POST, apply.
    prepared = phone_b.build_sync_request()
    request = urllib.request.Request(URL + prepared.path, data=bytes(prepared.body), method="POST")
    request.add_header("Content-Type", "application/json")
    request.add_header("Authorization", "Bearer " + phone_b.access_token())
    with urllib.request.urlopen(request) as response:
        status, body = response.status, response.read()
    summary = phone_b.apply_sync_response(prepared.request_id, status, body)
    check(summary.received >= 1, "B's own-network sync brought the acceptance")
    check(phone_b.case_progress(case.id).state == "accepted", "B sees the case accepted")
    try:
        phone_b.apply_sync_response(prepared.request_id, status, body)
        check(False, "a request is applied once")
    except gridbook.GridbookError.NotFound:
        check(True, "an applied request is forgotten")

    # A household liaison (联户长) reports what they noticed about a household of their group;
    # it reaches A's task list, A accepts it as a case, and the outcome reaches the liaison.
    neighbours = gridbook.new_household(
        place, gridbook.Address(compound="乌江水岸", building="3", unit="1", room="502")
    )
    neighbours.liaison_group = os.environ["GRIDBOOK_LIAISON_GROUP"]
    phone_a.create_household(neighbours)
    phone_a.sync()
    phone_l = gridbook.Phone.open(os.path.join(STORES, "l.db"), KEY_B)
    account_l = phone_l.login(URL, os.environ["GRIDBOOK_LIAISON"], PASSWORD, "联户长的手机")
    check(account_l.role == gridbook.Role.LIAISON, "the liaison signed in")
    phone_l.sync()
    check(phone_l.household(neighbours.id).address.room == "502", "the liaison holds their group's household")
    report_id = phone_l.report("楼道堆满纸箱，影响通行", "3栋1单元", [neighbours.id])
    summary = phone_l.sync()
    check(summary.accepted == 1 and not summary.rejected, "the report reached the server: %s" % summary)
    phone_a.sync()
    tasks = phone_a.my_tasks()
    check([(t.kind, t.action) for t in tasks] == [(gridbook.RecordKind.REPORT, gridbook.CaseAction.ACCEPT)]
          and tasks[0].record_id == report_id, "the report waits on A's task list: %s" % tasks)
    case_id = phone_a.accept_report(report_id, gridbook.CaseKind.HAZARD, "fire_exit_blocked")
    check([t.action for t in phone_a.my_tasks()] == [gridbook.CaseAction.SUBMIT],
          "the case opened from it waits to be submitted")
    phone_a.sync()
    phone_l.sync()
    outcome = phone_l.get_report(report_id).triage
    check(outcome is not None and outcome.decision == gridbook.TriageDecision.ACCEPTED
          and outcome.case == case_id, "the liaison sees the report accepted as a case")
    try:
        phone_l.case(case_id)
        check(False, "the case stays off the liaison's phone")
    except gridbook.GridbookError.NotFound:
        check(True, "the liaison does not hold the case")

    # Reopened stores hold everything; signing out keeps the records.
    del phone_a
    try:
        gridbook.Phone.open(os.path.join(STORES, "a.db"), KEY_B)
        check(False, "A's store does not open with B's key")
    except gridbook.GridbookError.WrongKey:
        check(True, "A's store refuses B's key")
    reopened = gridbook.Phone.open(os.path.join(STORES, "a.db"), KEY_A)
    check(reopened.check_store() == "ok", "A's store passes SQLite's integrity check")
    check(reopened.record(household.id).version == entry_b.version, "A's reopened store holds the merge")
    check(reopened.logout(), "A signed out on the server")
    check(reopened.account() is None, "no session after sign-out")
    try:
        reopened.sync()
        check(False, "sync needs a session")
    except gridbook.GridbookError.Unauthorized:
        # Two households, a private document, two cases and the liaison's report.
        check(len(reopened.list(None, None, False, 100, 0)) == 6, "records stay after sign-out")
    print("all checks passed")


if __name__ == "__main__":
    main()
