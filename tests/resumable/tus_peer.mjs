// The reference tus 1.0 server the resumable-upload client drivers are proven against (and the benchmark's peer):
// @tus/server with @tus/file-store, on loopback.
//
//   node tests/resumable/tus_peer.mjs --dir DIR [--port 0] [--path /files] [--token T] [--allow-origin O ...]
//        [--expose H ...] [--finish-json] [--log FILE]
//
//   --dir DIR          where uploads are stored: DIR/<id> is the data, DIR/<id>.json its record (@tus/file-store)
//   --port N           0 (the default): a free port chosen by the kernel; the address is always 127.0.0.1
//   --path P           the creation URL's path (/files)
//   --token T          every request except OPTIONS must carry "Authorization: Bearer T", else 401 and a JSON error
//   --allow-origin O   CORS: origins answered with Access-Control-Allow-Origin (repeatable; default: none, which
//                      @tus/server turns into "*")
//   --expose H         extra Access-Control-Expose-Headers (repeatable)
//   --finish-json      the request that completes an upload is answered 200 with a JSON body
//                      {"id","size","sha256","metadata"} instead of tus's bare 204 - what a server that hands the
//                      finished upload to an application answers, so the drivers' capture of the last response is
//                      exercised
//   --log FILE         one JSON line per request: {"method","url","headers"} (headers lower-cased)
//
// Prints one JSON line when it listens: {"port": N, "url": "http://127.0.0.1:N/files"}. Stop it with SIGTERM.
//
// Concatenation: @tus/file-store does not offer tus's concatenation extension, so this peer adds the minimum a
// client needs: partial uploads are ordinary uploads to the store, and a final "Upload-Concat: final;<url> <url>"
// POST is answered here by joining the finished partial files into a new upload (201 + Location).

import { createHash, randomBytes } from "node:crypto";
import { appendFileSync, createReadStream, createWriteStream } from "node:fs";
import { stat } from "node:fs/promises";
import http from "node:http";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { parseArgs } from "node:util";

import { FileStore } from "@tus/file-store";
import { Server, Upload } from "@tus/server";

const { values: opt } = parseArgs({
  options: {
    dir: { type: "string" },
    port: { type: "string", default: "0" },
    path: { type: "string", default: "/files" },
    token: { type: "string" },
    "allow-origin": { type: "string", multiple: true },
    expose: { type: "string", multiple: true, default: [] },
    "finish-json": { type: "boolean", default: false },
    log: { type: "string" },
  },
});
if (!opt.dir) {
  console.error("tus_peer: --dir is required");
  process.exit(2);
}

// @tus/file-store spells the extension "concatentation" when the server asks for it; declaring it lets partial
// uploads through (the final one never reaches @tus/server, see concatenate()).
class ConcatFileStore extends FileStore {
  constructor(o) {
    super(o);
    this.extensions = [...this.extensions, "concatentation"];
  }
}

const store = new ConcatFileStore({ directory: opt.dir });

function sha256File(p) {
  return new Promise((resolve, reject) => {
    const h = createHash("sha256");
    createReadStream(p)
      .on("data", (d) => h.update(d))
      .on("end", () => resolve(h.digest("hex")))
      .on("error", reject);
  });
}

const server = new Server({
  path: opt.path,
  datastore: store,
  allowedOrigins: opt["allow-origin"],
  exposedHeaders: opt.expose,
  async onIncomingRequest(req) {
    if (opt.token && req.method !== "OPTIONS" && req.headers.get("authorization") !== `Bearer ${opt.token}`) {
      throw { status_code: 401, body: JSON.stringify({ error: { code: "unauthorized", message: "bad token" } }) };
    }
  },
  async onUploadFinish(req, upload) {
    if (!opt["finish-json"]) return {};
    const sha256 = await sha256File(path.join(opt.dir, upload.id));
    return {
      status_code: 200,
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ id: upload.id, size: upload.size, sha256, metadata: upload.metadata }),
    };
  },
});

function reply(res, status, headers, body = "") {
  res.writeHead(status, { "Tus-Resumable": "1.0.0", ...headers });
  res.end(body);
}

// "final;/files/a http://h/files/b": the ids of the partial uploads, in order.
function partialIds(concat) {
  return concat
    .slice("final;".length)
    .trim()
    .split(/\s+/)
    .map((u) => decodeURIComponent(new URL(u, "http://x").pathname.split("/").pop()));
}

async function concatenate(req, res) {
  if (opt.token && req.headers.authorization !== `Bearer ${opt.token}`) {
    return reply(res, 401, {}, JSON.stringify({ error: { code: "unauthorized", message: "bad token" } }));
  }
  let parts;
  try {
    parts = await Promise.all(partialIds(req.headers["upload-concat"]).map((id) => store.getUpload(id)));
  } catch {
    return reply(res, 404, {}, "partial upload not found\n");
  }
  if (parts.length === 0 || parts.some((u) => u.size === undefined || u.offset !== u.size)) {
    return reply(res, 400, {}, "partial uploads are not finished\n");
  }
  const id = randomBytes(16).toString("hex");
  const size = parts.reduce((n, u) => n + u.size, 0);
  await store.create(new Upload({ id, size, offset: 0, metadata: {} }));
  const out = createWriteStream(path.join(opt.dir, id), { flags: "r+" });
  for (const u of parts) await pipeline(createReadStream(path.join(opt.dir, u.id)), out, { end: false });
  await new Promise((resolve, reject) => out.end((e) => (e ? reject(e) : resolve())));
  if ((await stat(path.join(opt.dir, id))).size !== size) return reply(res, 500, {}, "concatenation failed\n");
  const location = `http://${req.headers.host}${opt.path}/${id}`;
  return reply(res, 201, { Location: location, "Upload-Length": String(size), "Upload-Offset": String(size) });
}

const httpServer = http.createServer((req, res) => {
  if (opt.log) {
    appendFileSync(opt.log, JSON.stringify({ method: req.method, url: req.url, headers: req.headers }) + "\n");
  }
  const concat = req.headers["upload-concat"];
  if (req.method === "POST" && concat && concat.startsWith("final;")) {
    concatenate(req, res).catch((e) => reply(res, 500, {}, `${e}\n`));
    return;
  }
  server.handle(req, res);
});

httpServer.listen({ host: "127.0.0.1", port: Number(opt.port) }, () => {
  const { port } = httpServer.address();
  console.log(JSON.stringify({ port, url: `http://127.0.0.1:${port}${opt.path}` }));
});
process.on("SIGTERM", () => process.exit(0));
process.on("SIGINT", () => process.exit(0));
