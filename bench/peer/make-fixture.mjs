// make-fixture.mjs: writes a W1 fixture for testing the peer harness, in the format the Rust
// bench tool writes (see client.mjs):
//
//   node make-fixture.mjs --out DIR [--docs 300] [--devices 3] [--edits 10] [--seed 1]
//
// Each document is a household record with a few hundred bytes of text; each device makes
// `--edits` offline changes of ~290 bytes to every document (new notes, a visit log entry).
// DIR/manifest.json lists, per document, the initial save(), each device's changes since it
// (concatenated change chunks, like Rust's save_after) and the sorted heads after merging all.
import fs from "node:fs"
import path from "node:path"
import * as A from "@automerge/automerge"

const args = { docs: 300, devices: 3, edits: 10, seed: 1 }
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, "")] = process.argv[i + 1]
if (!args.out) {
  console.error("usage: node make-fixture.mjs --out DIR [--docs N] [--devices N] [--edits N] [--seed N]")
  process.exit(2)
}
const [nDocs, nDevices, nEdits] = [Number(args.docs), Number(args.devices), Number(args.edits)]

// Small deterministic PRNG (mulberry32) so a seed gives the same texts.
let s = Number(args.seed) >>> 0
const rand = () => {
  s = (s + 0x6d2b79f5) >>> 0
  let t = Math.imul(s ^ (s >>> 15), 1 | s)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}
const words = "visit resident elderly water meter repair stairwell lamp dispute neighbour noise appeal subsidy household registration garden parking hazard wiring follow-up mediation".split(" ")
const text = (n) => {
  let out = ""
  while (out.length < n) out += words[Math.floor(rand() * words.length)] + " "
  return out.slice(0, n)
}
const actor = (device, doc) => (device + 1).toString(16).padStart(4, "0") + doc.toString(16).padStart(8, "0") + "00".repeat(10)
const hex = (bytes) => Buffer.from(bytes).toString("hex")

fs.mkdirSync(path.join(args.out, "docs"), { recursive: true })
for (let d = 0; d < nDevices; d++) fs.mkdirSync(path.join(args.out, "edits", String(d)), { recursive: true })

const manifest = { devices: nDevices, docs: [] }
let editBytes = 0
for (let k = 1; k <= nDocs; k++) {
  const name = "h" + String(k).padStart(4, "0")
  // Strings as ImmutableString: whole-value fields, as the Rust side stores them.
  let doc = A.from(
    {
      id: name,
      address: new A.ImmutableString(`Heping Street, building ${k % 40}, unit ${k % 7}, room ${k}`),
      notes: new A.ImmutableString(text(400)),
      residents: [{ name: new A.ImmutableString(text(12)), phone: new A.ImmutableString("1380000" + String(k).padStart(4, "0")) }],
      visits: [],
    },
    { actor: "ff" + actor(0, k).slice(2) },
  )
  const initial = A.save(doc)
  const initialHeads = A.getHeads(doc)
  const entry = { name, initial: `docs/${name}.bin`, edits: [], heads: [] }
  fs.writeFileSync(path.join(args.out, entry.initial), initial)

  let merged = A.load(initial)
  for (let dev = 0; dev < nDevices; dev++) {
    let copy = A.load(initial, { actor: actor(dev, k) })
    for (let e = 0; e < nEdits; e++) {
      copy = A.change(copy, (r) => {
        r.notes = new A.ImmutableString(text(60))
        r.visits.push({ by: `device-${dev}`, at: 1_780_000_000 + e * 600, note: new A.ImmutableString(text(24)) })
      })
    }
    const bytes = A.saveSince(copy, initialHeads)
    editBytes += bytes.length
    const file = `edits/${dev}/${name}.bin`
    fs.writeFileSync(path.join(args.out, file), bytes)
    entry.edits.push(file)
    merged = A.loadIncremental(merged, bytes)
  }
  entry.heads = A.getHeads(merged).slice().sort()
  manifest.docs.push(entry)
}
fs.writeFileSync(path.join(args.out, "manifest.json"), JSON.stringify(manifest, null, 1))
const perEdit = editBytes / (nDocs * nDevices * nEdits)
console.error(`wrote ${nDocs} docs x ${nDevices} devices x ${nEdits} edits to ${args.out} (${perEdit.toFixed(0)} bytes per edit on average)`)
