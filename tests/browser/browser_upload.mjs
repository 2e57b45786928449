// Drives headless Debian chromium (playwright-core, no downloaded browser) through a cross-origin upload.
//
//   node tests/browser/browser_upload.mjs '<json>'
//
// <json>: {
//   "executablePath": "/usr/bin/chromium",
//   "userDataDir": "/tmp/fresh-profile",          // created empty by the caller
//   "pages": [{                                     // opened one after the other in one browser
//     "pageUrl": "http://127.0.0.1:PAGEPORT/upload.html",
//     "filePath": "/abs/file/to/upload",            // chosen in the page's <input type=file>
//     "steps": [                                    // run in order in the page
//       {"op": "upload", "gatewayUrl": "http://127.0.0.1:GWPORT", "token": "...", "expose": ["x-request-id"]},
//       {"op": "get", "url": "http://127.0.0.1:GWPORT/api/items", "token": null, "expose": ["x-example-app"]}
//     ]}],                                          // (or pageUrl/filePath/steps at the top for one page)
//   "timeoutMs": 30000
// }
//
// Prints one JSON line: {"pages": [{"pageOrigin", "pageStatus", "results": [...one per step...],
// "network": [...CDP requests incl. preflights...], "console": [...], "pageErrors": [...]}]}; exit status 0
// unless the browser itself could not be driven ("fatal" then says why).

import { chromium } from "playwright-core";

import { launchChromium } from "./chromium.mjs";

// One page: load it, choose the file, run the steps in it; what happened goes to `po`.
async function runPage(context, spec, po) {
  const page = await context.newPage();
  page.setDefaultTimeout(timeout);
  page.on("console", (m) => po.console.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => po.pageErrors.push(String(e)));

  // The DevTools protocol shows what page.on("request") does not: CORS preflights.
  const cdp = await context.newCDPSession(page);
  const byId = new Map();
  cdp.on("Network.requestWillBeSent", (e) => {
    const r = { id: e.requestId, method: e.request.method, url: e.request.url, type: e.type || null, status: null };
    byId.set(e.requestId, r);
    po.network.push(r);
  });
  cdp.on("Network.responseReceived", (e) => {
    const r = byId.get(e.requestId);
    if (r) {
      r.status = e.response.status;
      r.responseType = e.type || null;
    }
  });
  cdp.on("Network.loadingFailed", (e) => {
    const r = byId.get(e.requestId);
    if (r) {
      r.failed = e.errorText;
      r.corsError = e.corsErrorStatus ? e.corsErrorStatus.corsError : null;
      r.blockedReason = e.blockedReason || null;
    }
  });
  await cdp.send("Network.enable");

  const nav = await page.goto(spec.pageUrl, { waitUntil: "load" });
  po.pageStatus = nav ? nav.status() : null;
  po.pageOrigin = await page.evaluate(() => window.location.origin);
  if (spec.filePath) await page.setInputFiles("#file", spec.filePath);

  for (const step of spec.steps || []) {
    let res;
    if (step.op === "upload") {
      res = await page.evaluate(
        ([u, t, x]) => window.runUpload(u, t, x),
        [step.gatewayUrl, step.token ?? null, step.expose || []],
      );
    } else if (step.op === "get") {
      res = await page.evaluate(([u, t, x]) => window.runGet(u, t, x), [step.url, step.token ?? null, step.expose || []]);
    } else {
      res = { ok: false, error: `unknown op ${step.op}` };
    }
    po.results.push(res);
  }
  // Late CDP events (loadingFailed of a refused preflight) may still be on their way: bounded wait until every
  // request has an outcome.
  const deadline = Date.now() + 2000;
  while (Date.now() < deadline && po.network.some((r) => r.status === null && !r.failed)) {
    await new Promise((r) => setTimeout(r, 20));
  }
  for (const r of po.network) delete r.id;
  await page.close();
}

const args = JSON.parse(process.argv[2] || "{}");
const timeout = args.timeoutMs || 30000;

const out = { pages: [] };
let context;
const t0 = Date.now();
try {
  context = await launchChromium(chromium, { ...args, timeout });
  out.launchMs = Date.now() - t0;
  const pages = args.pages || [{ pageUrl: args.pageUrl, filePath: args.filePath, steps: args.steps }];
  for (const spec of pages) {
    const po = { results: [], network: [], console: [], pageErrors: [] };
    out.pages.push(po);
    const tp = Date.now();
    await runPage(context, spec, po);
    po.ms = Date.now() - tp;
  }
} catch (e) {
  out.fatal = String(e && e.stack ? e.stack : e);
} finally {
  if (context) await context.close().catch(() => {});
}
process.stdout.write(JSON.stringify(out) + "\n");
process.exit(out.fatal ? 1 : 0);
