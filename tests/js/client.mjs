// client.mjs: a Gridbook phone written in JavaScript from docs/sync-protocol.md alone (section
// 11.6), with Automerge JS. Run by tests/tests/e2e/js_client.rs against the real server:
//
//   GRIDBOOK_URL=http://127.0.0.1:PORT GRIDBOOK_LOGIN=worker-b GRIDBOOK_PASSWORD=... \
//   GRIDBOOK_HOUSEHOLD=<id of a household a Rust phone wrote> node client.mjs
//
// It signs in, receives the grid (checking every change as section 11.3 says), creates a
// household, edits the Rust phone's household, checks that a text field written as a `Text`
// object is refused naming the field, retries a push, and prints what it wrote as one line of
// JSON for the Rust side to check. Exits non-zero on the first failed check.
import { randomBytes, randomUUID } from "node:crypto"
import * as A from "@automerge/automerge"

const URL = process.env.GRIDBOOK_URL
const LOGIN = process.env.GRIDBOOK_LOGIN
const PASSWORD = process.env.GRIDBOOK_PASSWORD
const RUST_HOUSEHOLD = process.env.GRIDBOOK_HOUSEHOLD

function check(condition, what) {
  if (!condition) throw new Error(`check failed: ${what}`)
  console.error(`ok - ${what}`)
}

async function call(method, path, body, token) {
  const headers = { "content-type": "application/json" }
  if (token) headers.authorization = `Bearer ${token}`
  const response = await fetch(URL + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
  return { status: response.status, body: await response.json() }
}

const s = (text) => new A.ImmutableString(text)
const toBase64 = (bytes) => Buffer.from(bytes).toString("base64")
const fromBase64 = (text) => Uint8Array.from(Buffer.from(text, "base64"))
const sorted = (heads) => [...heads].sort()
const sameBytes = (a, b) => a.length === b.length && a.every((x, i) => x === b[i])

// Section 11.3, 1: split concatenated change chunks (magic, checksum, type 1, LEB128 length).
function splitChunks(bytes) {
  const chunks = []
  let at = 0
  while (at < bytes.length) {
    const magic = [0x85, 0x6f, 0x4a, 0x83]
    if (bytes.length - at < 10 || !magic.every((m, i) => bytes[at + i] === m)) throw new Error("bad magic")
    if (bytes[at + 8] !== 1) throw new Error("not a change chunk")
    let length = 0
    let shift = 0
    let i = at + 9
    for (;;) {
      if (i >= bytes.length || shift > 28) throw new Error("bad length")
      const b = bytes[i++]
      length += (b & 0x7f) * 2 ** shift
      shift += 7
      if ((b & 0x80) === 0) break
    }
    if (i + length > bytes.length) throw new Error("truncated chunk")
    chunks.push(bytes.slice(at, i + length))
    at = i + length
  }
  return chunks
}

// Section 11.3: checks, then applies to a copy; returns the new document.
function applyChecked(doc, changes, heads) {
  const bytes = fromBase64(changes)
  for (const chunk of splitChunks(bytes)) {
    const decoded = A.decodeChange(chunk) // verifies the checksum
    check(sameBytes(A.encodeChange(decoded), chunk), `change ${decoded.hash.slice(0, 8)} is canonically encoded`)
  }
  // Apply to a copy (kept only if everything passed); `clone` would pick a new actor, so ours
  // is passed on.
  const next = A.loadIncremental(A.clone(doc, { actor: A.getActorId(doc) }), bytes)
  return { doc: next, complete: A.hasHeads(next, heads) }
}

async function main() {
  const deviceId = randomUUID()
  const login = await call("POST", "/v1/auth/login", { login: LOGIN, password: PASSWORD, device_id: deviceId, device_name: "js phone" })
  check(login.status === 200, `signed in (${login.status})`)
  const token = login.body.access_token
  const device = login.body.device_id
  // Section 4: actor = the device's 16 UUID bytes and 8 random bytes chosen once.
  const actor = device.replaceAll("-", "") + randomBytes(8).toString("hex")
  const docs = new Map() // id -> { doc, kind, base }
  let cursor = null

  async function sync(pushes) {
    const request = { protocol: 1, device, cursor, docs: pushes }
    const answer = await call("POST", "/v1/sync", request, token)
    check(answer.status === 200, `sync answered 200 (${answer.status} ${JSON.stringify(answer.body).slice(0, 200)})`)
    const response = answer.body
    check(response.protocol === 1 && response.docs.length === pushes.length, "one result per pushed document")
    response.docs.forEach((result, i) => {
      const entry = docs.get(pushes[i].id)
      if (result.status === "ok" && entry) {
        const { doc, complete } = applyChecked(entry.doc, result.changes, result.heads)
        entry.doc = doc
        if (complete) entry.base = result.heads
      }
    })
    for (const update of response.updates) {
      const entry = docs.get(update.id) ?? { doc: A.init({ actor }), kind: update.kind, base: [] }
      const { doc, complete } = applyChecked(entry.doc, update.changes, update.heads)
      entry.doc = doc
      if (complete) entry.base = update.heads
      docs.set(update.id, entry)
    }
    cursor = response.cursor
    return response
  }

  // The first sync receives the grid, the Rust phone's household among it.
  const first = await sync([])
  check(first.updates.some((u) => u.id === RUST_HOUSEHOLD && u.kind === "household"), "received the Rust phone's household")
  const theirs = docs.get(RUST_HOUSEHOLD)
  check(String(theirs.doc.address.compound) === "乌江水岸", "its text fields read as ImmutableString (String() gives the text)")
  const place = { community: String(theirs.doc.place.community), grid: String(theirs.doc.place.grid) }

  // Section 11.2: a new household, one change, written with the schema's Automerge types.
  const mine = randomUUID()
  let doc = A.init({ actor })
  doc = A.change(doc, { time: Date.now(), message: "new household" }, (d) => {
    d.kind = s("household")
    d.schema = new A.Uint(1)
    d.id = s(mine)
    d.place = { community: s(place.community), grid: s(place.grid) }
    d.address = { compound: s("乌江水岸"), building: s("5"), unit: s("2"), room: s("301") }
    d.liaison_group = null
    d.status = s("active")
    d.merged_into = null
    d.tags = [s("rental")]
    d.residents = [{ id: s(randomUUID()), name: s("李建国"), gender: s("male"), relation: s("head"), status: s("present"), moved_in: null, moved_out: null }]
    d.notes = s("")
    d.attachments = []
  })
  docs.set(mine, { doc, kind: "household", base: [] })
  const createPush = { id: mine, kind: "household", base_heads: [], changes: toBase64(A.saveSince(doc, [])) }
  const created = await sync([createPush])
  check(created.docs[0].status === "ok", `the new household is accepted (${JSON.stringify(created.docs[0].error)})`)
  check(JSON.stringify(sorted(created.docs[0].heads)) === JSON.stringify(sorted(A.getHeads(doc))), "the server's heads are ours")
  check(JSON.stringify(docs.get(mine).base) === JSON.stringify(created.docs[0].heads), "base heads confirmed")

  // A retry of the same push (a lost answer) is harmless.
  const retried = await call("POST", "/v1/sync", { protocol: 1, device, cursor: null, docs: [createPush] }, token)
  check(retried.status === 200 && retried.body.docs[0].status === "ok", "a retry is accepted again")

  // Edit the Rust phone's household: one field, after the confirmed heads.
  const note = "独居老人，每周走访（JS）"
  theirs.doc = A.change(theirs.doc, { time: Date.now(), message: "notes" }, (d) => {
    d.notes = s(note)
  })
  const edited = await sync([{ id: RUST_HOUSEHOLD, kind: "household", base_heads: theirs.base, changes: toBase64(A.saveSince(theirs.doc, theirs.base)) }])
  check(edited.docs[0].status === "ok", `the edit is accepted (${JSON.stringify(edited.docs[0].error)})`)

  // The pitfall: a plain JS string becomes a Text object, which the server refuses.
  const careless = randomUUID()
  let bad = A.init({ actor })
  bad = A.change(bad, { time: Date.now() }, (d) => {
    d.kind = s("household")
    d.schema = new A.Uint(1)
    d.id = s(careless)
    d.place = { community: s(place.community), grid: s(place.grid) }
    d.address = { compound: s("乌江水岸"), building: s("5"), unit: s("2"), room: s("302") }
    d.status = s("active")
    d.notes = "写成了 Text"
  })
  const refused = await sync([{ id: careless, kind: "household", base_heads: [], changes: toBase64(A.saveSince(bad, [])) }])
  const error = refused.docs[0].error
  check(refused.docs[0].status === "rejected" && error.code === "invalid_record" && error.fields[0].field === "notes", `a Text field is refused naming it (${JSON.stringify(error)})`)

  console.log(JSON.stringify({ created: mine, edited: RUST_HOUSEHOLD, notes: note, refused: careless, device }))
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
