// Uploads a file with Uppy (@uppy/core + @uppy/tus) in headless Debian chromium, driven by playwright-core (no
// downloaded browser), from a page on one loopback origin to a tus endpoint on another.
//
//   node tests/resumable/uppy_upload.mjs '<json>'
//
// <json>: {
//   "endpoint": "http://127.0.0.1:PORT/files",   // the tus creation URL
//   "filePath": "/abs/file",                       // chosen in the page's <input type=file>
//   "token": "...",                                // sent as "Authorization: Bearer ..." (optional)
//   "chunkSize": 1048576, "meta": {"k": "v"},      // optional
//   "pagePort": 0,                                 // the page's origin http://127.0.0.1:PORT (0: any free port)
//   "executablePath": "/usr/bin/chromium", "userDataDir": "/tmp/fresh-profile", "timeoutMs": 30000
// }
//
// The page script (page/uppy_page.js) is bundled with its npm dependencies by esbuild into a temporary directory,
// which a small static server here serves with page/uppy.html. Prints one JSON line: {"pageOrigin", "result":
// {"ok", "uploadURL", "bytes", "size", "status", "body", "error"}, "console", "pageErrors", "fatal"}; exit status 0
// unless the browser itself could not be driven.

import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { build } from "esbuild";
import { chromium } from "playwright-core";

import { launchChromium } from "../browser/chromium.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const args = JSON.parse(process.argv[2] || "{}");
const timeout = args.timeoutMs || 30000;

async function bundlePage(dir) {
  await build({
    entryPoints: [path.join(here, "page", "uppy_page.js")],
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "chrome100",
    outfile: path.join(dir, "uppy_page.bundle.js"),
    logLevel: "error",
  });
  return {
    "/uppy.html": ["text/html; charset=utf-8", readFileSync(path.join(here, "page", "uppy.html"))],
    "/uppy_page.bundle.js": ["text/javascript", readFileSync(path.join(dir, "uppy_page.bundle.js"))],
  };
}

function servePage(files, port) {
  const server = http.createServer((req, res) => {
    const f = files[new URL(req.url, "http://x").pathname];
    if (!f || req.method !== "GET") {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "Content-Type": f[0], "Cache-Control": "no-store" }).end(f[1]);
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host: "127.0.0.1", port }, () => resolve(server));
  });
}

const out = { console: [], pageErrors: [] };
const tmp = mkdtempSync(path.join(os.tmpdir(), "uppy-page-"));
let context;
let server;
try {
  server = await servePage(await bundlePage(tmp), args.pagePort || 0);
  const pageUrl = `http://127.0.0.1:${server.address().port}/uppy.html`;
  context = await launchChromium(chromium, { ...args, timeout });
  const page = await context.newPage();
  page.setDefaultTimeout(timeout);
  page.on("console", (m) => out.console.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => out.pageErrors.push(String(e)));
  const nav = await page.goto(pageUrl, { waitUntil: "load" });
  out.pageStatus = nav ? nav.status() : null;
  out.pageOrigin = await page.evaluate(() => window.location.origin);
  await page.waitForFunction(() => typeof window.runUppy === "function");
  await page.setInputFiles("#file", args.filePath);
  out.result = await page.evaluate((o) => window.runUppy(o), {
    endpoint: args.endpoint,
    token: args.token ?? null,
    chunkSize: args.chunkSize ?? null,
    meta: args.meta ?? {},
  });
} catch (e) {
  out.fatal = String(e && e.stack ? e.stack : e);
} finally {
  if (context) await context.close().catch(() => {});
  if (server) server.close();
  rmSync(tmp, { recursive: true, force: true });
}
process.stdout.write(JSON.stringify(out) + "\n");
process.exit(out.fatal ? 1 : 0);
