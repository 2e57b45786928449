// Uploads one file with tus-js-client (Node) to a tus endpoint; the client driver of the resumable-upload tests and
// the benchmark.
//
//   node tests/resumable/tus_upload.mjs --endpoint URL --file PATH [options]
//
//   --file PATH           repeatable: with several files, --concurrency N (4) uploads run at a time and one summary
//                         line is printed instead: {"ok", "uploads": [per file, without "requests"], "files",
//                         "bytes", "elapsed"} (the benchmark's many-files workload)
//   --chunk-size N        bytes per PATCH (default: the whole rest of the file in one PATCH)
//   --header "N: V"       extra request header (repeatable); --token T adds "Authorization: Bearer T"
//   --filename NAME       Upload-Metadata filename (default: the file's base name); --filetype TYPE: filetype
//   --meta K=V            more Upload-Metadata pairs (repeatable)
//   --parallel N          parallelUploads: N partial uploads joined by a final one (tus concatenation)
//   --store FILE          fingerprint -> upload URL store on disk (tus-js-client's FileUrlStorage): a later run with
//                         the same --store and file resumes the upload an earlier run left unfinished
//   --resume-url URL      resume this upload URL (HEAD for the offset, then PATCH from there)
//   --stop-after BYTES    abort (without terminating) once the server has acknowledged at least BYTES, print the
//                         result and exit 3, so the upload can be resumed later
//   --retry-delays LIST   comma-separated ms between retries after a failed request (default 0,200,500,1000,2000;
//                         "" for none)
//   --with-creation       send the first chunk in the creation POST (creation-with-upload)
//   --defer-length        create with Upload-Defer-Length: 1 (creation-defer-length); the file is read as a plain
//                         stream of unknown size (needs --chunk-size; no fingerprint, so no --store resume)
//   --protocol P          tus-v1 (default), ietf-draft-03 or ietf-draft-05 (tus-js-client's protocol option)
//
// Prints one JSON line: {"ok", "url", "bytes", "size", "elapsed", "status", "body", "headers", "requests",
// "stopped", "error", "resumedFrom"}: "status"/"body"/"headers" are the last response (onSuccess's lastResponse, or the failing
// one), "requests" every request tus-js-client sent ({method, url, status, offset: the Upload-Offset it sent,
// responseOffset}). Exit status: 0 done, 3 stopped by --stop-after, 1 failed, 2 bad arguments.
//
// tus-js-client sends no Upload-Checksum: the tus checksum extension is not implemented by this client. It speaks
// HTTP/1.1 only (Node's http/https); for an https endpoint with a test certificate, NODE_EXTRA_CA_CERTS=cert.pem.

import { createReadStream, statSync } from "node:fs";
import path from "node:path";
import { PassThrough } from "node:stream";
import { parseArgs } from "node:util";

import { FileUrlStorage, Upload } from "tus-js-client";

export const EXIT_STOPPED = 3;

function options() {
  const { values } = parseArgs({
    options: {
      endpoint: { type: "string" },
      file: { type: "string", multiple: true, default: [] },
      concurrency: { type: "string", default: "4" },
      "chunk-size": { type: "string" },
      header: { type: "string", multiple: true, default: [] },
      token: { type: "string" },
      filename: { type: "string" },
      filetype: { type: "string" },
      meta: { type: "string", multiple: true, default: [] },
      parallel: { type: "string", default: "1" },
      store: { type: "string" },
      "resume-url": { type: "string" },
      "stop-after": { type: "string" },
      "retry-delays": { type: "string", default: "0,200,500,1000,2000" },
      "with-creation": { type: "boolean", default: false },
      "defer-length": { type: "boolean", default: false },
      protocol: { type: "string", default: "tus-v1" },
    },
  });
  if (values.file.length === 0 || !(values.endpoint || values["resume-url"])) {
    console.error("tus_upload: --file and --endpoint (or --resume-url) are required");
    process.exit(2);
  }
  return values;
}

function headersOf(o) {
  const h = {};
  for (const line of o.header) {
    const i = line.indexOf(":");
    if (i <= 0) {
      console.error(`tus_upload: bad --header ${JSON.stringify(line)}`);
      process.exit(2);
    }
    h[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  if (o.token) h.Authorization = `Bearer ${o.token}`;
  return h;
}

function metadataOf(o, file) {
  const m = { filename: o.filename ?? path.basename(file) };
  if (o.filetype) m.filetype = o.filetype;
  for (const kv of o.meta) {
    const i = kv.indexOf("=");
    if (i <= 0) {
      console.error(`tus_upload: bad --meta ${JSON.stringify(kv)}`);
      process.exit(2);
    }
    m[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return m;
}

// The last response as the JSON line reports it.
function responseOf(res) {
  if (!res) return { status: null, body: null, headers: {} };
  const headers = {};
  for (const name of ["Location", "Upload-Offset", "Upload-Length", "Content-Type", "Tus-Resumable"]) {
    const v = res.getHeader(name);
    if (v != null) headers[name.toLowerCase()] = v;
  }
  return { status: res.getStatus(), body: res.getBody() ?? null, headers };
}

// One upload of `file`; resolves with {code, result} (code: 0 done, EXIT_STOPPED, 1 failed), never rejects.
async function uploadOne(file, o) {
  const size = statSync(file).size;
  const stopAfter = o["stop-after"] != null ? Number(o["stop-after"]) : null;
  const t0 = process.hrtime.bigint();
  const out = { ok: false, url: null, bytes: 0, size, elapsed: 0, status: null, body: null, headers: {}, requests: [] };
  let settle;
  const done = new Promise((resolve) => (settle = resolve));
  const finish = (code, extra) => {
    Object.assign(out, extra);
    out.elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
    settle({ code, result: out });
  };

  // A deferred length is for sources of unknown size: such a source is a plain stream to tus-js-client (which then
  // needs a finite --chunk-size). Handed a file with a deferred length, tus-js-client 4.3.1 announces a whole chunk's
  // Content-Length for the short last chunk and the request never ends.
  const source = o["defer-length"] ? createReadStream(file).pipe(new PassThrough()) : createReadStream(file);
  const upload = new Upload(source, {
    endpoint: o.endpoint ?? null,
    uploadUrl: o["resume-url"] ?? null,
    chunkSize: o["chunk-size"] ? Number(o["chunk-size"]) : Number.POSITIVE_INFINITY,
    headers: headersOf(o),
    metadata: metadataOf(o, file),
    parallelUploads: Number(o.parallel),
    retryDelays: o["retry-delays"].split(",").filter(Boolean).map(Number),
    uploadDataDuringCreation: o["with-creation"],
    uploadLengthDeferred: o["defer-length"],
    protocol: o.protocol,
    urlStorage: o.store ? new FileUrlStorage(o.store) : undefined,
    storeFingerprintForResuming: Boolean(o.store),
    onBeforeRequest(req) {
      out.requests.push({ method: req.getMethod(), url: req.getURL(), offset: req.getHeader("Upload-Offset") ?? null });
    },
    onAfterResponse(req, res) {
      const r = out.requests.findLast((x) => x.url === req.getURL() && x.method === req.getMethod() && !x.status);
      if (r) {
        r.status = res.getStatus();
        r.responseOffset = res.getHeader("Upload-Offset") ?? null;
      }
    },
    onChunkComplete(_chunk, accepted) {
      out.bytes = accepted;
      if (stopAfter !== null && accepted >= stopAfter && accepted < size) {
        upload.abort(false).then(() => finish(EXIT_STOPPED, { url: upload.url, stopped: true }));
      }
    },
    onSuccess({ lastResponse }) {
      finish(0, { ok: true, url: upload.url, bytes: size, ...responseOf(lastResponse) });
    },
    onError(err) {
      finish(1, { url: upload.url, error: String(err.message ?? err), ...responseOf(err.originalResponse) });
    },
  });

  if (o.store && !o["resume-url"]) {
    const previous = await upload.findPreviousUploads();
    if (previous.length > 0) {
      upload.resumeFromPreviousUpload(previous[0]);
      out.resumedFrom = previous[0].uploadUrl;
    }
  }
  upload.start();
  return done;
}

// Several files: `concurrency` uploads at a time; one summary line.
async function uploadMany(files, o) {
  const t0 = process.hrtime.bigint();
  const results = new Array(files.length);
  let next = 0;
  const worker = async () => {
    while (next < files.length) {
      const i = next++;
      results[i] = await uploadOne(files[i], o);
    }
  };
  await Promise.all(Array.from({ length: Math.min(Number(o.concurrency), files.length) }, worker));
  const code = Math.max(...results.map((r) => (r.code === 1 ? 4 : r.code))); // failure outranks a stop
  const uploads = results.map(({ result }) => {
    delete result.requests; // one line for the whole batch: the per-request list would dwarf it
    return result;
  });
  const summary = {
    ok: code === 0,
    uploads,
    files: files.length,
    bytes: uploads.reduce((n, u) => n + u.bytes, 0),
    elapsed: Number(process.hrtime.bigint() - t0) / 1e9,
  };
  return { code: code === 4 ? 1 : code, result: summary };
}

const o = options();
const { code, result } = o.file.length === 1 ? await uploadOne(o.file[0], o) : await uploadMany(o.file, o);
process.stdout.write(JSON.stringify(result) + "\n", () => process.exit(code));
