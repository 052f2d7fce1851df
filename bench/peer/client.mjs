// client.mjs: the workload driver of the peer benchmark. Devices are real automerge-repo Repos
// (JavaScript @automerge/automerge) talking to a sync server over websockets.
//
//   node client.mjs --url ws://127.0.0.1:PORT --fixture DIR --workload w1[,w2][,w3] --out RESULT.json
//                   [--system automerge-repo|samod] [--timeout-s 120] [--quiet-ms 500] [--reconnect keep|fresh]
//
// Fixture (DIR/manifest.json, written by the Rust bench tool or make-fixture.mjs):
//   {"devices": 3, "docs": [{"name", "initial": file of save(), "edits": [file per device of
//    concatenated change chunks since initial], "heads": [sorted hex heads after merging all]}]}
//
// w1, a field day. Setup (untimed; the server starts empty): device 0 imports every document
//   and syncs it to the server; devices 1..n-1 find() each by id through the server. Then every
//   device goes offline (its websocket closed) and applies its edits to its copies. T0: all
//   devices reconnect at once. A Repo syncs every document it holds with a peer when the peer
//   connects. Timed until every device holds every document at exactly the expected heads.
//   --reconnect keep (default): each device reconnects with a new websocket from the same Repo
//   and peer id, so both ends keep the sync state of the day before (what automerge-repo peers
//   with storage persist). --reconnect fresh: each device is a new Repo (new peer id, no sync
//   state) holding its edited documents under the same ids, like a restarted app without it.
// w2 (after w1): all devices disconnect and reconnect with nothing changed; timed until no
//   message has been sent or received for --quiet-ms (wall_ms = last message - T0).
// w3 (after w1): a new, empty device finds every document by id; timed until it holds all of
//   them at the expected heads.
//
// --out gets a JSON array with one object per workload run:
//   {system, workload, wall_ms, converged_pairs, total_pairs, messages_sent, messages_received,
//    bytes_sent, bytes_received, errors, disconnects, timed_out, phases: {...}}
// errors: documents reported unavailable and unhandled rejections; disconnects: connections
// lost that the harness did not close (e.g. the server dropping a socket).
// Counts are websocket messages (and their payload bytes) of the client sockets during the
// timed phase. On stderr: `[wN] T0` when a timed phase starts, progress once a second, and
// `[wN] {result}` when it ends. Exit code 0 when every run converged, 1 otherwise.
import fs from "node:fs"
import path from "node:path"
import { performance } from "node:perf_hooks"
import * as A from "@automerge/automerge"
import { Repo } from "@automerge/automerge-repo"
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket"

const opts = { system: "automerge-repo", "timeout-s": "120", "quiet-ms": "500", reconnect: "keep" }
for (let i = 2; i < process.argv.length; i += 2) opts[process.argv[i].replace(/^--/, "")] = process.argv[i + 1]
if (!opts.url || !opts.fixture || !opts.workload || !opts.out) {
  console.error("usage: node client.mjs --url WS --fixture DIR --workload w1[,w2][,w3] --out FILE [--system S] [--timeout-s 120] [--quiet-ms 500] [--reconnect keep|fresh]")
  process.exit(2)
}
const workloads = opts.workload.split(",")
if (workloads[0] !== "w1" || workloads.some((w) => !["w1", "w2", "w3"].includes(w))) {
  console.error("--workload must start with w1 (w2 and w3 run on the state w1 leaves)")
  process.exit(2)
}
const timeoutMs = Number(opts["timeout-s"]) * 1000
const quietMs = Number(opts["quiet-ms"])

const manifest = JSON.parse(fs.readFileSync(path.join(opts.fixture, "manifest.json"), "utf8"))
const read = (file) => new Uint8Array(fs.readFileSync(path.join(opts.fixture, file)))
const docs = manifest.docs.map((d) => ({
  name: d.name,
  initial: read(d.initial),
  edits: d.edits.map(read),
  heads: d.heads.join(","), // sorted hex, compared as one string
  id: null, // document id, assigned when device 0 imports it
}))
const headsOf = (handle) => A.getHeads(handle.doc()).slice().sort().join(",")

const debug = (msg) => process.env.PEER_DEBUG && console.error(`debug: ${performance.now().toFixed(0)} ${msg}`)

// --- traffic counting and errors -----------------------------------------------------------
const traffic = { sent: 0, received: 0, bytesSent: 0, bytesReceived: 0, last: 0 }
let errors = 0
let disconnects = 0 // connections lost that the harness did not close
let cpuAtT0 = process.cpuUsage()
// Called at each T0: zero the counters and say so on stderr (a driver may sample the server's
// CPU time at this line to split setup from the timed phase).
const startTimed = (label) => {
  Object.assign(traffic, { sent: 0, received: 0, bytesSent: 0, bytesReceived: 0, last: performance.now() })
  errors = disconnects = 0
  cpuAtT0 = process.cpuUsage()
  console.error(`[${label}] T0`)
  return performance.now()
}
process.on("unhandledRejection", (e) => (errors++, console.error("client: unhandled rejection:", e?.message ?? e)))

// The stock client adapter, counting what its socket sends and receives. Received messages
// are handed to the Repo from a queue, a few milliseconds' worth per turn of the event loop,
// so that the socket keeps being read while the Repo works: the server's keep-alive pings get
// their pongs in time. (All devices share one core here; the automerge-repo server drops a
// socket that has not answered a ping within 5 s, and with every message handled straight
// from the socket a device could fall that far behind.)
class CountingAdapter extends WebSocketClientAdapter {
  #queue = []
  connect(peerId, peerMetadata) {
    super.connect(peerId, peerMetadata)
    const socket = this.socket
    const send = socket.send.bind(socket)
    socket.send = (data, ...rest) => {
      traffic.sent++
      traffic.bytesSent += data.byteLength ?? data.length
      traffic.last = performance.now()
      return send(data, ...rest)
    }
    if (process.env.PEER_DEBUG) socket.addEventListener("close", (e) => debug(`${peerId} socket closed ${e.code}`))
  }
  disconnect() {
    this.#queue = []
    super.disconnect()
  }
  receiveMessage(bytes) {
    traffic.received++
    traffic.bytesReceived += bytes.byteLength
    traffic.last = performance.now()
    if (this.#queue.push(bytes) === 1) setImmediate(this.#drain)
  }
  #drain = () => {
    const until = performance.now() + 5
    while (this.#queue.length > 0 && this.socket && performance.now() < until) super.receiveMessage(this.#queue.shift())
    if (this.#queue.length > 0 && this.socket) setImmediate(this.#drain)
  }
}

// --- devices --------------------------------------------------------------------------------
// A device is a Repo (no storage, announcing its documents to peers as clients do by default)
// whose websocket can be closed and opened again.
function makeDevice(name) {
  const repo = new Repo({ network: [], peerId: name })
  const dev = { name, repo, adapter: null, handles: [] } // handles[k] belongs to docs[k]
  repo.networkSubsystem.on("peer", ({ peerId }) => debug(`${name} connected to ${peerId}`))
  repo.networkSubsystem.on("peer-disconnected", ({ peerId }) => {
    debug(`${name} lost ${peerId}`)
    if (dev.adapter) (disconnects++, console.error(`client: ${name}: connection to ${peerId} lost`))
  })
  repo.on("unavailable-document", ({ documentId }) => (errors++, console.error(`client: ${name}: ${documentId} unavailable`)))
  return dev
}
function online(dev) {
  dev.adapter = new CountingAdapter(opts.url)
  dev.repo.networkSubsystem.addNetworkAdapter(dev.adapter)
}
function offline(dev) {
  const adapter = dev.adapter
  dev.adapter = null
  if (adapter) dev.repo.networkSubsystem.removeNetworkAdapter(adapter)
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

// find() through the server, retrying while the server may not have the document yet.
async function findRetry(dev, k, tries = 20) {
  for (let t = 1; ; t++) {
    try {
      return await dev.repo.find(docs[k].id)
    } catch (e) {
      if (t >= tries) throw e
      await sleep(250)
    }
  }
}

// Resolves once the traffic has been quiet for `ms` (or at `deadline`).
async function quiet(ms, deadline = Infinity) {
  while (performance.now() - traffic.last < ms && performance.now() < deadline) await sleep(Math.min(50, ms / 4))
}

// Tracks (device, doc) pairs at the expected heads; resolves when all are, or on timeout.
function convergence(devs, label, t0) {
  const total = devs.length * docs.length
  const done = new Set()
  let finish
  const finished = new Promise((r) => (finish = r))
  const check = (d, k) => {
    const h = devs[d].handles[k]
    if (h && h.isReady() && headsOf(h) === docs[k].heads) {
      done.add(d * docs.length + k)
      if (done.size === total) finish(false)
    }
  }
  const watch = (d, k) => {
    devs[d].handles[k].on("heads-changed", () => check(d, k))
    check(d, k)
  }
  const progress = setInterval(() => {
    const s = ((performance.now() - t0) / 1000).toFixed(1)
    const per = devs.map((_, d) => [...done].filter((x) => Math.floor(x / docs.length) === d).length).join("+")
    console.error(`[${label}] ${s}s converged ${done.size}/${total} (${per}), msgs ${traffic.sent}/${traffic.received}, bytes ${traffic.bytesSent}/${traffic.bytesReceived}`)
  }, 1000)
  const timer = setTimeout(() => finish(true), Math.max(0, t0 + timeoutMs - performance.now()))
  return {
    watch,
    total,
    count: () => done.size,
    stop: () => finish(true), // give up early: reported as not converged
    done: finished.then((timedOut) => (clearInterval(progress), clearTimeout(timer), timedOut)),
  }
}

function result(workload, wallMs, conv, timedOut, phases) {
  const cpu = process.cpuUsage(cpuAtT0)
  phases.client_cpu_ms = (cpu.user + cpu.system) / 1000
  const r = {
    system: opts.system,
    workload,
    wall_ms: Math.round(wallMs * 10) / 10,
    converged_pairs: conv.count(),
    total_pairs: conv.total,
    messages_sent: traffic.sent,
    messages_received: traffic.received,
    bytes_sent: traffic.bytesSent,
    bytes_received: traffic.bytesReceived,
    errors,
    disconnects,
    timed_out: timedOut,
    phases: Object.fromEntries(Object.entries(phases).map(([k, v]) => [k, Math.round(v * 10) / 10])),
  }
  console.error(`[${workload}] ${JSON.stringify(r)}`)
  return r
}

// --- workloads ------------------------------------------------------------------------------
const devices = Array.from({ length: manifest.devices }, (_, i) => makeDevice(`device-${i}`))

async function w1() {
  const s0 = performance.now()
  // Device 0 brings every document to the server.
  const [first, ...others] = devices
  online(first)
  await first.repo.networkSubsystem.whenReady()
  docs.forEach((doc, k) => {
    const h = first.repo.import(doc.initial)
    doc.id = h.documentId
    first.handles[k] = h
  })
  debug("device-0 imported all")
  traffic.last = performance.now()
  await quiet(1000)
  debug("device-0 quiet")
  // The others fetch each one through the server: the server holds them all.
  for (const dev of others) online(dev)
  await Promise.all(others.flatMap((dev) => docs.map(async (_, k) => (dev.handles[k] = await findRetry(dev, k)))))
  const initialHeads = docs.map((d) => A.getHeads(A.load(d.initial)).sort().join(","))
  for (const dev of devices) {
    dev.handles.forEach((h, k) => {
      if (headsOf(h) !== initialHeads[k]) throw new Error(`${dev.name}: ${docs[k].name} not at its initial heads after setup`)
    })
  }
  debug("setup: all devices hold all docs")
  await quiet(1000) // let the server store everything
  // A day offline: each device edits its copies.
  for (const dev of devices) offline(dev)
  const e0 = performance.now()
  devices.forEach((dev, i) => dev.handles.forEach((h, k) => h.update((d) => A.loadIncremental(d, docs[k].edits[i]))))
  const applyMs = performance.now() - e0
  debug(`edits applied in ${applyMs.toFixed(0)} ms`)
  if (opts.reconnect === "fresh") {
    // Restarted apps: new Repos (new peer ids, no sync state) holding the edited documents.
    devices.forEach((dev, i) => {
      const fresh = makeDevice(`${dev.name}-restarted`)
      fresh.handles = dev.handles.map((h, k) => fresh.repo.import(A.save(h.doc()), { docId: docs[k].id }))
      devices[i] = fresh
    })
  }
  await sleep(200)
  const setupMs = performance.now() - s0

  // T0: everyone reconnects.
  const t0 = startTimed("w1")
  const conv = convergence(devices, "w1", t0)
  devices.forEach((dev, d) => docs.forEach((_, k) => conv.watch(d, k)))
  for (const dev of devices) online(dev)
  const timedOut = await conv.done
  return result("w1", performance.now() - t0, conv, timedOut, { setup_ms: setupMs, apply_edits_ms: applyMs })
}

async function w2() {
  for (const dev of devices) offline(dev)
  await sleep(500)
  const t0 = startTimed("w2")
  for (const dev of devices) online(dev)
  // Wait until at least one message has flowed, then until the traffic goes quiet.
  while (traffic.sent + traffic.received === 0 && performance.now() < t0 + timeoutMs) await sleep(10)
  await quiet(quietMs, t0 + timeoutMs)
  const timedOut = performance.now() - traffic.last < quietMs
  const wallMs = traffic.last - t0
  const conv = convergence(devices, "w2", t0)
  devices.forEach((dev, d) => docs.forEach((_, k) => conv.watch(d, k)))
  conv.stop()
  await conv.done
  return result("w2", wallMs, conv, timedOut, { quiet_window_ms: quietMs })
}

async function w3() {
  const dev = makeDevice(`device-new`)
  await sleep(200)
  const t0 = startTimed("w3")
  const conv = convergence([dev], "w3", t0)
  online(dev)
  await Promise.all(
    docs.map(async (_, k) => {
      try {
        dev.handles[k] = await findRetry(dev, k, 4)
        conv.watch(0, k)
      } catch (e) {
        errors++
        console.error(`client: w3: ${docs[k].name}: ${e.message}`)
      }
    }),
  )
  if (dev.handles.filter(Boolean).length < docs.length) conv.stop()
  const timedOut = await conv.done
  return result("w3", performance.now() - t0, conv, timedOut, {})
}

const runs = { w1, w2, w3 }
const results = []
for (const w of workloads) {
  results.push(await runs[w]())
  fs.writeFileSync(opts.out, JSON.stringify(results, null, 1) + "\n")
}
const ok = results.every((r) => r.converged_pairs === r.total_pairs && !r.timed_out)
process.exit(ok ? 0 : 1)
