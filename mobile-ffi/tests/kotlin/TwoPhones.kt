// Two grid workers' phones, a supervisor and a household liaison, through the generated Kotlin
// bindings: the same scenario as tests/python/two_phones.py, compiled with kotlinc and run on
// the JVM (JNA loads the library) by mobile-ffi/tests/kotlin_bindings.rs against a real server:
//
//     GRIDBOOK_URL=http://127.0.0.1:PORT GRIDBOOK_PASSWORD=... GRIDBOOK_WORKER_A=... \
//     GRIDBOOK_WORKER_B=... GRIDBOOK_SUPERVISOR=... GRIDBOOK_LIAISON=... \
//     GRIDBOOK_LIAISON_GROUP=... GRIDBOOK_STORE_DIR=... \
//     java -Djna.library.path=DIR -cp OUT:kotlin-stdlib.jar:jna.jar TwoPhonesKt
//
// Both phones edit the same household offline (one field differently on each, so a
// conflict), one opens a case with an attachment, they sync and converge, the conflict is
// visible on both, a supervisor's case action made through the server's HTTP API reaches the
// phone, a phone that moves the sync bytes itself (build/apply) converges as well, and a
// liaison's report becomes a case. Every check prints `ok - ...`; the first failed one ends
// the process with status 1.

import java.io.File
import java.net.URI
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.security.SecureRandom
import kotlin.system.exitProcess
import org.gridbook.mobile.Address
import org.gridbook.mobile.AttachOptions
import org.gridbook.mobile.AttachSource
import org.gridbook.mobile.AttachmentStage
import org.gridbook.mobile.BlobState
import org.gridbook.mobile.Case
import org.gridbook.mobile.CaseAction
import org.gridbook.mobile.CaseKind
import org.gridbook.mobile.Gender
import org.gridbook.mobile.GridbookException
import org.gridbook.mobile.HouseholdPrivate
import org.gridbook.mobile.MediaType
import org.gridbook.mobile.Phone
import org.gridbook.mobile.RecordKind
import org.gridbook.mobile.Relation
import org.gridbook.mobile.Resident
import org.gridbook.mobile.ResidentIdentity
import org.gridbook.mobile.ResidentStatus
import org.gridbook.mobile.Role
import org.gridbook.mobile.TriageDecision
import org.gridbook.mobile.Urgency
import org.gridbook.mobile.newHousehold
import org.gridbook.mobile.newRecordId
import org.gridbook.mobile.newResidentId

private fun env(name: String): String = System.getenv(name) ?: error("$name is not set")

private val URL = env("GRIDBOOK_URL")
private val PASSWORD = env("GRIDBOOK_PASSWORD")
private val STORES = env("GRIDBOOK_STORE_DIR")

// Each store's key, as an app keeps it in the Android Keystore or the iOS Keychain: 64 hex
// characters are a raw 256-bit key.
private fun newKey(): String {
    val bytes = ByteArray(32).also { SecureRandom().nextBytes(it) }
    return bytes.joinToString("") { "%02x".format(it) }
}

private val KEY_A = newKey()
private val KEY_B = newKey()

private fun check(condition: Boolean, what: String) {
    if (!condition) throw AssertionError(what)
    println("ok - $what")
}

/** Runs [block], which must throw [E]; returns the error. */
private inline fun <reified E : Throwable> expect(what: String, block: () -> Unit): E {
    try {
        block()
    } catch (e: Throwable) {
        if (e is E) return e
        throw AssertionError("$what: expected ${E::class.java.simpleName}, got $e", e)
    }
    throw AssertionError("$what: no ${E::class.java.simpleName} was thrown")
}

private fun store(name: String): String = File(STORES, name).path

// --- The server's HTTP API, for the supervisor (no JSON library: the answers are small) ---

private val http: HttpClient = HttpClient.newHttpClient()

private fun jsonString(text: String): String =
    "\"" + text.replace("\\", "\\\\").replace("\"", "\\\"") + "\""

private fun post(path: String, body: ByteArray, token: String? = null): HttpResponse<ByteArray> {
    val request = HttpRequest.newBuilder(URI.create(URL + path))
        .header("Content-Type", "application/json")
        .apply { if (token != null) header("Authorization", "Bearer $token") }
        .POST(HttpRequest.BodyPublishers.ofByteArray(body))
        .build()
    return http.send(request, HttpResponse.BodyHandlers.ofByteArray())
}

private fun postJson(path: String, json: String, token: String? = null): String {
    val response = post(path, json.toByteArray(), token)
    val text = String(response.body())
    check(response.statusCode() == 200, "POST $path answered ${response.statusCode()}")
    return text
}

/** The first string value of `"name"` in `json` at or after `from`. */
private fun stringField(json: String, name: String, from: Int = 0): String? =
    Regex("\"" + Regex.escape(name) + "\"\\s*:\\s*\"([^\"]*)\"").find(json, from)?.groupValues?.get(1)

/** A GB 11643 resident ID number with a valid check digit, born on `born` (YYYYMMDD). */
private fun idNumber(born: String): String {
    val first17 = "520627" + born + "123"
    val weights = intArrayOf(7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    val total = first17.mapIndexed { i, d -> (d - '0') * weights[i] }.sum()
    return first17 + "10X98765432"[total % 11]
}

private fun run() {
    val phoneA = Phone.open(store("a.db"), KEY_A)
    val phoneB = Phone.open(store("b.db"), KEY_B)
    val accountA = phoneA.login(URL, env("GRIDBOOK_WORKER_A"), PASSWORD, "A 的手机")
    phoneB.login(URL, env("GRIDBOOK_WORKER_B"), PASSWORD, "B 的手机")
    check(accountA.role == Role.GRID_WORKER, "worker A signed in as a grid worker")
    check(phoneA.deviceId() != phoneB.deviceId(), "each phone has its own device id")

    // Signing in as another user on a store that belongs to A is refused.
    expect<GridbookException.Forbidden>("another user may not take over A's store") {
        phoneA.login(URL, env("GRIDBOOK_WORKER_B"), PASSWORD, null)
    }
    check(phoneA.account()?.login == accountA.login, "A's store stays A's")

    // A records a household with one resident and syncs; B fetches it.
    val place = phoneA.myPlace()
    val household = newHousehold(place, Address(compound = "乌江水岸", building = "3", unit = "1", room = "402"))
    val residentId = newResidentId()
    household.residents += Resident(
        id = residentId,
        name = "王芳",
        gender = Gender.FEMALE,
        relation = Relation.HEAD,
        status = ResidentStatus.PRESENT,
        movedIn = null,
        movedOut = null,
    )
    phoneA.createHousehold(household)
    // Her ID number and phone go to the household's private document (grid workers' phones only).
    val identity = HouseholdPrivate(
        id = phoneA.householdPrivateId(household.id),
        household = household.id,
        place = place,
        residents = listOf(
            ResidentIdentity(
                id = residentId,
                idNumber = idNumber("19560312"),
                phone = "13800001234",
                birthDate = "1956-03-12",
                specialGroups = emptyList(),
            ),
        ),
        notes = "",
    )
    check(phoneA.saveHouseholdPrivate(identity, null), "A recorded her identity")
    check(phoneA.pendingCount() == 2u, "the household and its private document are pending on A")
    var summary = phoneA.sync()
    check(summary.accepted == 2u && phoneA.pendingCount() == 0u, "A's household reached the server")
    summary = phoneB.sync()
    check(summary.received >= 2u, "B received the household and its private document")
    check(phoneB.household(household.id).residents[0].name == "王芳", "B reads the resident")
    check(phoneB.householdPrivate(household.id)?.residents?.get(0)?.phone == "13800001234", "B reads her phone number")

    // A typed record that breaks a rule is refused with the field, and nothing is written.
    val bad = phoneB.householdPrivate(household.id) ?: error("B holds the private document")
    bad.residents = listOf(bad.residents[0].copy(idNumber = "520627195603121230"))
    val invalid = expect<GridbookException.InvalidRecord>("an invalid ID number must be refused") {
        phoneB.saveHouseholdPrivate(bad, null)
    }
    val fields = invalid.violations.map { it.field }
    check(fields == listOf("residents[0].id_number"), "the violation names the field: $fields")
    check("520627195603121230" !in (invalid.message ?: ""), "the error does not echo the value")
    check(phoneB.pendingCount() == 0u, "the refused edit left nothing pending")

    // Offline: both edit the notes (a conflict); B also tags it; A opens a case.
    val versionA = phoneA.version(household.id)
    val editA = phoneA.household(household.id)
    editA.notes = "老人独居，每周探访 (A)"
    check(phoneA.updateHousehold(editA, versionA), "A edited the notes")
    val editB = phoneB.household(household.id)
    editB.notes = "子女在外地 (B)"
    editB.tags += "elderly_alone"
    check(phoneB.updateHousehold(editB, phoneB.version(household.id)), "B edited notes and tags")

    val case = Case(
        id = newRecordId(),
        caseKind = CaseKind.APPEAL,
        category = "elderly_care",
        subject = "独居老人需要助餐 meals for an elderly resident",
        description = "",
        place = place,
        location = null,
        household = household.id,
        parties = emptyList(),
        urgency = Urgency.NORMAL,
        confidential = false,
        openedBy = accountA.userId,
        openedAt = System.currentTimeMillis(),
        events = emptyList(),
        mediation = emptyList(),
        rectification = null,
        attachments = emptyList(),
    )
    phoneA.createCase(case)
    // A photographs the signed form offline (a PDF, kept as it is).
    val form = "%PDF-1.7\n(meals for an elderly resident)\n%%EOF\n".toByteArray()
    val attached = phoneA.attach(
        case.id,
        AttachSource.Bytes(form),
        AttachOptions(caption = "申请表", location = null, stage = AttachmentStage.SITUATION, part = null, keepLocation = false),
    )
    check(attached.size == form.size.toULong() && attached.mediaType == MediaType.PDF, "A attached a PDF offline")
    check(phoneA.attachmentStatus(attached.sha256).state == BlobState.UNSENT, "its bytes wait for the next sync")
    var progress = phoneA.addCaseEvent(case.id, CaseAction.SUBMIT, "上报", null, null)
    check(progress.state == "reported", "A submitted the case (state ${progress.state})")
    val illegal = expect<GridbookException.Conflict>("a grid worker may not accept a case") {
        phoneA.addCaseEvent(case.id, CaseAction.ACCEPT, null, null, null)
    }
    check("accept" in illegal.reason, "an illegal action is a Conflict naming it: ${illegal.reason}")
    check(phoneA.pendingCount() == 2u, "A has two records pending")

    // Back online: A, B, A. Both converge on the same version and JSON.
    phoneA.sync()
    phoneB.sync()
    phoneA.sync()
    val entryA = phoneA.record(household.id)
    val entryB = phoneB.record(household.id)
    check(entryA.version == entryB.version, "both phones hold the same version")
    check(entryA.json == entryB.json, "both phones show the same household")
    check("elderly_alone" in phoneA.household(household.id).tags, "B's tag reached A")
    check(phoneB.case(case.id).subject == case.subject, "A's case reached B")
    check(phoneB.case(case.id).attachments.map { it.sha256 } == listOf(attached.sha256), "A's attachment reached B")
    check(phoneB.attachmentBytes(attached.sha256, true).contentEquals(form), "B fetches the attached bytes from the server")
    check(phoneA.pendingCount() == 0u && phoneB.pendingCount() == 0u, "nothing pending")

    // The conflict is visible on both phones, with both devices.
    for ((name, phone) in listOf("A" to phoneA, "B" to phoneB)) {
        val conflicts = phone.conflicts(household.id)
        val conflicted = conflicts.fields.map { it.field }
        check(conflicted == listOf("notes"), "$name sees the notes conflict: $conflicted")
        val devices = conflicts.fields[0].values.map { it.deviceId }.toSet()
        check(devices == setOf(phoneA.deviceId(), phoneB.deviceId()), "$name sees who wrote each value")
    }
    val listed = phoneA.list(RecordKind.HOUSEHOLD, "王芳", false, 50u, 0u)
    check(listed.map { it.id } == listOf(household.id) && listed[0].hasConflicts, "search finds it, flagged")
    val history = phoneA.history(household.id)
    check(history.size >= 3 && history.any { "notes" in it.fields }, "history lists the edits")

    // A supervisor accepts the case through the server's API; the event reaches A's phone.
    val tokens = postJson(
        "/v1/auth/login",
        "{\"login\":${jsonString(env("GRIDBOOK_SUPERVISOR"))},\"password\":${jsonString(PASSWORD)}}",
    )
    val supervisorToken = stringField(tokens, "access_token") ?: error("no access token in $tokens")
    val answer = postJson(
        "/v1/cases/${case.id}/actions",
        "{\"action\":\"accept\",\"note\":${jsonString("已受理")}}",
        supervisorToken,
    )
    val state = stringField(answer, "state", answer.indexOf("\"case_status\""))
    check(state == "accepted", "the supervisor accepted the case: $state")
    summary = phoneA.sync()
    check(summary.received >= 1u, "A received the supervisor's change")
    progress = phoneA.caseProgress(case.id)
    check(progress.state == "accepted", "the acceptance reached A's phone (state ${progress.state})")
    val last = phoneA.case(case.id).events.last()
    check(last.action == CaseAction.ACCEPT && last.note == "已受理", "the supervisor's event is on A's timeline")

    // B moves the bytes itself (as a background transfer would): build, POST, apply.
    val prepared = phoneB.buildSyncRequest()
    val response = post(prepared.path, prepared.body, phoneB.accessToken())
    summary = phoneB.applySyncResponse(prepared.requestId, response.statusCode().toUShort(), response.body())
    check(summary.received >= 1u, "B's own-network sync brought the acceptance")
    check(phoneB.caseProgress(case.id).state == "accepted", "B sees the case accepted")
    expect<GridbookException.NotFound>("a request is applied once") {
        phoneB.applySyncResponse(prepared.requestId, response.statusCode().toUShort(), response.body())
    }
    check(true, "an applied request is forgotten")

    // A household liaison (联户长) reports what they noticed about a household of their
    // group; it reaches A's task list, A accepts it as a case, and the outcome reaches them.
    val neighbours = newHousehold(place, Address(compound = "乌江水岸", building = "3", unit = "1", room = "502"))
    neighbours.liaisonGroup = env("GRIDBOOK_LIAISON_GROUP")
    phoneA.createHousehold(neighbours)
    phoneA.sync()
    Phone.open(store("l.db"), KEY_B).use { phoneL ->
        val accountL = phoneL.login(URL, env("GRIDBOOK_LIAISON"), PASSWORD, "联户长的手机")
        check(accountL.role == Role.LIAISON, "the liaison signed in")
        phoneL.sync()
        check(phoneL.household(neighbours.id).address.room == "502", "the liaison holds their group's household")
        val reportId = phoneL.report("楼道堆满纸箱，影响通行", "3栋1单元", listOf(neighbours.id))
        summary = phoneL.sync()
        check(summary.accepted == 1u && summary.rejected.isEmpty(), "the report reached the server: $summary")
        phoneA.sync()
        val tasks = phoneA.myTasks()
        check(
            tasks.map { it.kind to it.action } == listOf(RecordKind.REPORT to CaseAction.ACCEPT) &&
                tasks[0].recordId == reportId,
            "the report waits on A's task list: $tasks",
        )
        val caseId = phoneA.acceptReport(reportId, CaseKind.HAZARD, "fire_exit_blocked")
        check(phoneA.myTasks().map { it.action } == listOf(CaseAction.SUBMIT), "the case opened from it waits to be submitted")
        phoneA.sync()
        phoneL.sync()
        val outcome = phoneL.getReport(reportId).triage
        check(
            outcome != null && outcome.decision == TriageDecision.ACCEPTED && outcome.case == caseId,
            "the liaison sees the report accepted as a case",
        )
        expect<GridbookException.NotFound>("the case stays off the liaison's phone") { phoneL.case(caseId) }
        check(true, "the liaison does not hold the case")
    }

    // Reopened stores hold everything; signing out keeps the records.
    phoneA.close()
    phoneB.close()
    expect<GridbookException.WrongKey>("A's store does not open with B's key") { Phone.open(store("a.db"), KEY_B) }
    check(true, "A's store refuses B's key")
    Phone.open(store("a.db"), KEY_A).use { reopened ->
        check(reopened.checkStore() == "ok", "A's store passes SQLite's integrity check")
        check(reopened.record(household.id).version == entryB.version, "A's reopened store holds the merge")
        check(reopened.logout(), "A signed out on the server")
        check(reopened.account() == null, "no session after sign-out")
        expect<GridbookException.Unauthorized>("sync needs a session") { reopened.sync() }
        // Two households, a private document, two cases and the liaison's report.
        check(reopened.list(null, null, false, 100u, 0u).size == 6, "records stay after sign-out")
    }
    println("all checks passed")
}

fun main() {
    try {
        run()
    } catch (e: Throwable) {
        println("FAILED - ${e.message}")
        e.printStackTrace()
        exitProcess(1)
    }
}
