// server.mjs: the automerge-repo sync server for the Gridbook peer benchmark.
//
//   node server.mjs --port P --dir D
//
// Set up as @automerge/automerge-repo-sync-server does: a Repo with a NodeWSServerAdapter on a
// `ws` WebSocketServer and a NodeFSStorageAdapter at D, sharing only the documents a peer asks
// for (sharePolicy false). Listens on 127.0.0.1:P (0 = any free port), prints `listening <port>`
// when ready and exits cleanly on SIGTERM. Nothing else runs in this process.
import fs from "node:fs"
import os from "node:os"
import { WebSocketServer } from "ws"
import { Repo } from "@automerge/automerge-repo"
import { NodeWSServerAdapter } from "@automerge/automerge-repo-network-websocket"
import { NodeFSStorageAdapter } from "@automerge/automerge-repo-storage-nodefs"

const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, a, i, all) => (a.startsWith("--") ? [...pairs, [a.slice(2), all[i + 1]]] : pairs), []),
)
if (args.port === undefined || !args.dir) {
  console.error("usage: node server.mjs --port P --dir D")
  process.exit(2)
}
fs.mkdirSync(args.dir, { recursive: true })

const wss = new WebSocketServer({ host: "127.0.0.1", port: Number(args.port) })
const repo = new Repo({
  network: [new NodeWSServerAdapter(wss)],
  storage: new NodeFSStorageAdapter(args.dir),
  peerId: `storage-server-${os.hostname()}`,
  // A server does not share generously: it syncs only documents a peer asks for by id.
  sharePolicy: async () => false,
})

wss.on("listening", () => process.stdout.write(`listening ${wss.address().port}\n`))

let stopping = false
async function stop() {
  if (stopping) return
  stopping = true
  for (const client of wss.clients) client.terminate()
  wss.close()
  await repo.flush().catch(() => {}) // write out pending (debounced) saves
  process.exit(0)
}
process.on("SIGTERM", stop)
process.on("SIGINT", stop)
