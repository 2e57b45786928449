// Offline checks of the container image and Kubernetes files in deploy/ (run by tests/deploy/validate.sh).
//
//   For each Kubernetes example directory (K8S_DIRS: deploy/kubernetes, deploy/kubernetes-object-storage):
//   * every document in its *.yaml against the Kubernetes JSON schemas bundled in kubernetes-models
//     (new Deployment(obj).validate() and so on), plus unknown fields (which the schemas let through but the API
//     server refuses) and a few API-server rules the schemas cannot express (names, references, unique names);
//   * kustomization.yaml: lists every manifest, its images cover every container; rendered by `kubectl kustomize`
//     too when kubectl is installed;
//   * project invariants: uploadgate is a native sidecar, probes on the admin port, hardened securityContext on
//     every container, volumes and mounts agree with storage.dir / storage.app_dir (one volume shared with the app
//     when a route stores local files; uploadgate's own when every upload route has store: s3) and the *_file
//     paths of the configuration, shutdown timing, Service exposes only http, the example Secret holds placeholders;
//   * the ConfigMap's uploadgate.yaml parses and, with UG_BINARY=path/to/uploadgate, passes `uploadgate --check`;
//   * deploy/Dockerfile: dockerfile-utils lint, the build stage runs the same commands as the README's demo.sh,
//     runtime stage hygiene, and (with UG_BINARY) its package list equals the packages of the libraries the binary
//     names (readelf -d NEEDED, resolved by ldd, dpkg -S), plus the non-library packages of NOT_LIBRARIES.
//
// Prints one line per check and closes with `deploy: N passed, N failed[, N skipped]`; exit 1 on any failure.

import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { DockerfileParser } from "dockerfile-ast";
import { validate as lintDockerfile } from "dockerfile-utils";
import { LineCounter, parse as parseYaml, parseAllDocuments } from "yaml";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
// The Kubernetes examples: each directory is a complete kustomization, checked on its own.
//   deploy/kubernetes                 the app and uploadgate sharing an emptyDir (storage.dir / storage.app_dir)
//   deploy/kubernetes-object-storage  several replicas, files in S3-compatible storage, no shared volume
const K8S_DIRS = ["deploy/kubernetes", "deploy/kubernetes-object-storage"];
const DOCKERFILE = "deploy/Dockerfile";
const UID = 10001; // the image's USER and the pod's runAsUser
const CONFIG_PATH = "/etc/uploadgate/uploadgate.yaml";
const UG_BINARY = process.env.UG_BINARY ? path.resolve(process.env.UG_BINARY) : null;

const rel = (p) => path.relative(ROOT, p) || ".";
const read = (p) => readFileSync(path.join(ROOT, p), "utf8");

// ---------------------------------------------------------------------------------------------------------------
// Reporting
// ---------------------------------------------------------------------------------------------------------------

const counts = { passed: 0, failed: 0, skipped: 0 };

// fn(fail) reports problems through fail(message); it may return {skip: "reason"}.
async function check(name, fn) {
  const problems = [];
  let outcome;
  try {
    outcome = await fn((msg) => problems.push(msg));
  } catch (e) {
    problems.push(`internal error: ${e && e.stack ? e.stack : e}`);
  }
  if (problems.length) {
    counts.failed++;
    console.log(`FAIL ${name}`);
    for (const p of problems) console.log(`     ${p.replace(/\n/g, "\n     ")}`);
  } else if (outcome && outcome.skip) {
    counts.skipped++;
    console.log(`skip ${name} (${outcome.skip})`);
  } else {
    counts.passed++;
    console.log(`ok   ${name}`);
  }
}
// The same, for the per-directory checks (checkKubernetes shadows `check` with a name prefix).
const checkNamed = check;

// "spec.template.spec.containers[0].name" from ["spec", "template", "spec", "containers", 0, "name"]
function dotted(segments) {
  let s = "";
  for (const seg of segments) s += typeof seg === "number" ? `[${seg}]` : (s ? "." : "") + seg;
  return s || "(document)";
}

// ---------------------------------------------------------------------------------------------------------------
// Loading the manifests. Kubernetes reads YAML 1.1 (sigs.k8s.io/yaml), so parse the same way.
// ---------------------------------------------------------------------------------------------------------------

class Manifest {
  constructor(file, index, doc, lineCounter) {
    this.file = file; // relative to ROOT
    this.index = index;
    this.doc = doc;
    this.lineCounter = lineCounter;
    this.obj = doc.toJS();
  }
  get label() {
    const o = this.obj || {};
    return `${o.kind || "?"}/${(o.metadata && o.metadata.name) || "?"}`;
  }
  // file:line:col of the deepest existing node on the path
  where(segments) {
    for (let n = segments.length; n >= 0; n--) {
      const node = n ? this.doc.getIn(segments.slice(0, n), true) : this.doc.contents;
      if (node && node.range) {
        const { line, col } = this.lineCounter.linePos(node.range[0]);
        return `${this.file}:${line}:${col}`;
      }
    }
    return this.file;
  }
  at(segments, msg) {
    return `${this.where(segments)}: ${this.label} ${dotted(segments)}: ${msg}`;
  }
}

function loadYamlFile(file) {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(read(file), { version: "1.1", lineCounter, uniqueKeys: true });
  const errors = [];
  const manifests = [];
  (Array.isArray(docs) ? docs : [docs]).forEach((doc, i) => {
    for (const e of [...doc.errors, ...doc.warnings]) {
      const pos = e.linePos ? `${e.linePos[0].line}:${e.linePos[0].col}` : "?";
      errors.push(`${file}:${pos}: YAML: ${e.message.split("\n")[0].replace(/ at line \d+, column \d+:?$/, "")}`);
    }
    if (!doc.errors.length && doc.contents !== null) manifests.push(new Manifest(file, i, doc, lineCounter));
  });
  return { manifests, errors };
}

// ---------------------------------------------------------------------------------------------------------------
// Schema validation with kubernetes-models
// ---------------------------------------------------------------------------------------------------------------

async function modelClass(apiVersion, kind) {
  if (typeof apiVersion !== "string" || typeof kind !== "string") return null;
  if (!/^([a-z0-9.-]+\/)?v[0-9]+((alpha|beta)[0-9]+)?$/.test(apiVersion)) return null;
  try {
    const mod = await import(`kubernetes-models/${apiVersion}`);
    return typeof mod[kind] === "function" ? mod[kind] : null;
  } catch {
    return null;
  }
}

// The compiled schema validators read every property their schema defines (and enumerate maps). Run one on a copy
// whose objects record what is read: a key never read is a field the schema does not know. Only meaningful once the
// object is valid (a failing validator may stop early).
function unknownFields(cls, obj) {
  const records = [];
  const wrap = (value, segs) => {
    if (Array.isArray(value)) return value.map((v, i) => wrap(v, [...segs, i]));
    if (value === null || typeof value !== "object") return value;
    const rec = { segs, keys: Object.keys(value), read: new Set() };
    records.push(rec);
    const target = {};
    for (const k of rec.keys) target[k] = wrap(value[k], [...segs, k]);
    return new Proxy(target, {
      get(t, k, r) {
        if (typeof k === "string") rec.read.add(k);
        return Reflect.get(t, k, r);
      },
      has(t, k) {
        if (typeof k === "string") rec.read.add(k);
        return Reflect.has(t, k);
      },
    });
  };
  const tracked = wrap(obj, []);
  try {
    cls.prototype.validate.call(tracked);
  } catch {
    return [];
  }
  return records.flatMap((r) => r.keys.filter((k) => !r.read.has(k)).map((k) => [...r.segs, k]));
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const PORT_NAME = /^(?=.{1,15}$)(?=.*[a-z])[a-z0-9]+(-[a-z0-9]+)*$/; // IANA_SVC_NAME
const DATA_KEY = /^[-._a-zA-Z0-9]{1,253}$/;
const ENV_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;

const podSpecPath = (obj) =>
  obj.kind === "Pod" ? ["spec"] : obj.spec && obj.spec.template ? ["spec", "template", "spec"] : null;
const getIn = (obj, segs) => segs.reduce((o, k) => (o == null ? undefined : o[k]), obj);

// Rules the API server enforces that the OpenAPI schemas do not carry.
function apiServerRules(m, fail) {
  const o = m.obj;
  const name = o.metadata && o.metadata.name;
  if (typeof name !== "string" || !DNS_SUBDOMAIN.test(name))
    fail(m.at(["metadata", "name"], "missing or not a DNS-1123 subdomain"));
  for (const field of ["data", "stringData"]) {
    for (const k of Object.keys(o[field] || {}))
      if (!DATA_KEY.test(k)) fail(m.at([field, k], "key must consist of alphanumerics, '-', '_' or '.'"));
  }
  const specPath = podSpecPath(o);
  if (!specPath) return;
  const spec = getIn(o, specPath) || {};
  if (o.spec.selector && o.spec.selector.matchLabels) {
    const labels = getIn(o, ["spec", "template", "metadata", "labels"]) || {};
    for (const [k, v] of Object.entries(o.spec.selector.matchLabels))
      if (labels[k] !== v)
        fail(m.at(["spec", "selector", "matchLabels", k], "not matched by the pod template's labels"));
  }
  const volumes = spec.volumes || [];
  const volumeNames = new Set();
  volumes.forEach((v, i) => {
    if (!DNS_LABEL.test(v.name)) fail(m.at([...specPath, "volumes", i, "name"], "not a DNS-1123 label"));
    if (volumeNames.has(v.name)) fail(m.at([...specPath, "volumes", i, "name"], `duplicate volume name "${v.name}"`));
    volumeNames.add(v.name);
    for (const kind of ["secret", "configMap", "projected"]) {
      const mode = v[kind] && v[kind].defaultMode;
      if (mode !== undefined && !(Number.isInteger(mode) && mode >= 0 && mode <= 0o777))
        fail(m.at([...specPath, "volumes", i, kind, "defaultMode"], "must be between 0 and 0777 (511)"));
    }
  });
  const containerNames = new Set();
  for (const list of ["initContainers", "containers"]) {
    (spec[list] || []).forEach((c, i) => {
      const cp = [...specPath, list, i];
      if (!DNS_LABEL.test(c.name)) fail(m.at([...cp, "name"], "container name is not a DNS-1123 label"));
      if (containerNames.has(c.name)) fail(m.at([...cp, "name"], `duplicate container name "${c.name}"`));
      containerNames.add(c.name);
      if (!c.image) fail(m.at(cp, "no image"));
      if (c.restartPolicy !== undefined && (list !== "initContainers" || c.restartPolicy !== "Always"))
        fail(m.at([...cp, "restartPolicy"], "only an init container may set restartPolicy, and only to Always"));
      const portNames = new Set();
      (c.ports || []).forEach((p, j) => {
        if (p.name !== undefined && !PORT_NAME.test(p.name))
          fail(m.at([...cp, "ports", j, "name"], "not a valid port name (IANA_SVC_NAME)"));
        if (p.name && portNames.has(p.name)) fail(m.at([...cp, "ports", j, "name"], `duplicate port name "${p.name}"`));
        portNames.add(p.name);
        if (!(p.containerPort >= 1 && p.containerPort <= 65535))
          fail(m.at([...cp, "ports", j, "containerPort"], "must be 1-65535"));
      });
      for (const probe of ["startupProbe", "readinessProbe", "livenessProbe"]) {
        const port = getIn(c, [probe, "httpGet", "port"]);
        if (typeof port === "string" && !portNames.has(port))
          fail(m.at([...cp, probe, "httpGet", "port"], `names no port of container "${c.name}"`));
      }
      (c.env || []).forEach((e, j) => {
        if (!ENV_NAME.test(e.name)) fail(m.at([...cp, "env", j, "name"], "not a valid environment variable name"));
      });
      (c.volumeMounts || []).forEach((vm, j) => {
        if (!volumeNames.has(vm.name)) fail(m.at([...cp, "volumeMounts", j, "name"], `no volume named "${vm.name}"`));
        if (!String(vm.mountPath).startsWith("/"))
          fail(m.at([...cp, "volumeMounts", j, "mountPath"], "must be absolute"));
      });
    });
  }
}


// Every check of one example directory, each named after it.
async function checkKubernetes(K8S_DIR) {
  const check = (name, fn) => checkNamed(`${K8S_DIR}: ${name}`, fn);
  const manifestFiles = readdirSync(path.join(ROOT, K8S_DIR))
    .filter((f) => /\.ya?ml$/.test(f) && f !== "kustomization.yaml")
    .sort()
    .map((f) => `${K8S_DIR}/${f}`);
  const loaded = new Map(manifestFiles.map((f) => [f, loadYamlFile(f)]));
  const all = [...loaded.values()].flatMap((l) => l.manifests);
  const findOne = (kind, fail) => {
    const found = all.filter((m) => m.obj && m.obj.kind === kind);
    if (found.length !== 1) fail(`expected exactly one ${kind} in ${K8S_DIR}, found ${found.length}`);
    return found[0];
  };


  for (const file of manifestFiles) {
    await check(`schema: ${file}`, async (fail) => {
      const { manifests, errors } = loaded.get(file);
      errors.forEach(fail);
      if (!errors.length && !manifests.length) fail(`${file}: no YAML document`);
      for (const m of manifests) {
        const o = m.obj;
        if (o === null || typeof o !== "object" || Array.isArray(o)) {
          fail(`${m.where([])}: document ${m.index} is not a mapping`);
          continue;
        }
        const cls = await modelClass(o.apiVersion, o.kind);
        if (!cls) {
          fail(m.at(["apiVersion"], `unknown apiVersion/kind "${o.apiVersion}" / "${o.kind}"`));
          continue;
        }
        try {
          new cls(o).validate();
        } catch (e) {
          if (!Array.isArray(e.errors)) throw e;
          for (const err of e.errors) {
            const segs = err.instancePath
              .split("/")
              .slice(1)
              .map((s) => (/^\d+$/.test(s) ? Number(s) : s.replace(/~1/g, "/").replace(/~0/g, "~")));
            let msg = err.message;
            if (err.keyword === "required") {
              segs.push(err.params.missingProperty);
              msg = "required field missing";
            }
            if (err.keyword === "enum") msg += `: ${err.params.allowedValues.join(", ")}`;
            fail(m.at(segs, msg));
          }
          continue;
        }
        for (const segs of unknownFields(cls, o)) fail(m.at(segs, `unknown field "${segs[segs.length - 1]}"`));
        apiServerRules(m, fail);
      }
    });
  }

  // ---------------------------------------------------------------------------------------------------------------
  // kustomization.yaml
  // ---------------------------------------------------------------------------------------------------------------

  const KUSTOMIZATION = `${K8S_DIR}/kustomization.yaml`;
  const kust = loadYamlFile(KUSTOMIZATION);
  const kustObj = kust.manifests[0] && kust.manifests[0].obj;
  const containersOf = (o) => {
    const sp = o && podSpecPath(o);
    const spec = sp ? getIn(o, sp) || {} : {};
    return [...(spec.initContainers || []), ...(spec.containers || [])];
  };
  const imageName = (ref) =>
    String(ref)
      .replace(/@.*$/, "")
      .replace(/:[^/:]*$/, "");

  await check(`kustomization: ${KUSTOMIZATION} lists every manifest`, (fail) => {
    kust.errors.forEach(fail);
    if (!kustObj) return fail(`${KUSTOMIZATION}: no document`);
    const known = [
      "apiVersion",
      "kind",
      "resources",
      "labels",
      "commonLabels",
      "commonAnnotations",
      "images",
      "namespace",
      "namePrefix",
      "nameSuffix",
      "patches",
      "configMapGenerator",
      "secretGenerator",
      "generatorOptions",
      "replicas",
      "components",
    ];
    for (const k of Object.keys(kustObj))
      if (!known.includes(k)) fail(`${KUSTOMIZATION}: unknown or unsupported field "${k}"`);
    if (kustObj.apiVersion !== "kustomize.config.k8s.io/v1beta1" || kustObj.kind !== "Kustomization")
      fail(`${KUSTOMIZATION}: apiVersion/kind must be kustomize.config.k8s.io/v1beta1 / Kustomization`);
    const resources = kustObj.resources || [];
    const listed = resources.map((r) => `${K8S_DIR}/${r}`);
    for (const r of listed) if (!existsSync(path.join(ROOT, r))) fail(`${KUSTOMIZATION}: resource ${r} does not exist`);
    for (const f of manifestFiles)
      if (!listed.includes(f)) fail(`${KUSTOMIZATION}: resources do not list ${path.basename(f)}`);
    if (new Set(listed).size !== listed.length) fail(`${KUSTOMIZATION}: a resource is listed twice`);
    (kustObj.labels || []).forEach((l, i) => {
      if (l.includeSelectors)
        fail(`${KUSTOMIZATION}: labels[${i}].includeSelectors: selectors are immutable, keep them to the files`);
    });
  });

  await check("kustomization: images rewrite every container image", (fail) => {
    if (!kustObj) return fail(`${KUSTOMIZATION}: no document`);
    const names = (kustObj.images || []).map((i) => i.name);
    const used = new Set(all.flatMap((m) => containersOf(m.obj).map((c) => imageName(c.image))));
    for (const n of used)
      if (!names.includes(n)) fail(`${KUSTOMIZATION}: images has no entry for container image "${n}"`);
    for (const n of names) if (!used.has(n)) fail(`${KUSTOMIZATION}: images entry "${n}" matches no container image`);
  });

  await check("kustomization: `kubectl kustomize` renders valid objects", async (fail) => {
    const which = spawnSync("sh", ["-c", "command -v kubectl"], { encoding: "utf8" });
    if (which.status !== 0) return { skip: "kubectl not installed" };
    const r = spawnSync("kubectl", ["kustomize", path.join(ROOT, K8S_DIR)], { encoding: "utf8" });
    if (r.status !== 0) return fail(`kubectl kustomize ${K8S_DIR} failed:\n${r.stderr.trim()}`);
    const docs = parseAllDocuments(r.stdout, { version: "1.1" });
    const rendered = (Array.isArray(docs) ? docs : [docs]).map((d) => d.toJS());
    if (rendered.length !== all.length) fail(`rendered ${rendered.length} objects, the files hold ${all.length}`);
    for (const o of rendered) {
      const cls = await modelClass(o.apiVersion, o.kind);
      try {
        new cls(o).validate();
      } catch (e) {
        fail(`rendered ${o.kind}/${o.metadata.name}: ${e.message}`);
      }
      for (const c of containersOf(o))
        if (!/:[^/:]+$/.test(c.image) && !c.image.includes("@"))
          fail(`rendered ${o.kind}/${o.metadata.name}: image "${c.image}" has no tag`);
    }
  });

  // ---------------------------------------------------------------------------------------------------------------
  // The configuration in the ConfigMap
  // ---------------------------------------------------------------------------------------------------------------

  let config = null; // parsed uploadgate.yaml
  let configText = null;
  // uploadgate reports FILE:LINE:COL within the embedded text; point into configmap.yaml instead.
  let configWhere = (line, col) => `uploadgate.yaml:${line}:${col}`;
  await check("configmap: data.uploadgate.yaml parses and has the keys the pod relies on", (fail) => {
    const cm = all.find((m) => m.obj && m.obj.kind === "ConfigMap" && m.obj.data && "uploadgate.yaml" in m.obj.data);
    if (!cm) return fail(`no ConfigMap in ${K8S_DIR} has data["uploadgate.yaml"]`);
    configText = cm.obj.data["uploadgate.yaml"];
    const node = cm.doc.getIn(["data", "uploadgate.yaml"], true);
    if (node && (node.type === "BLOCK_LITERAL" || node.type === "BLOCK_FOLDED")) {
      const header = cm.lineCounter.linePos(node.range[0]).line; // the line with "|"; the text starts below it
      const first = read(cm.file).split("\n")[header] || "";
      const indent = first.length - first.trimStart().length;
      configWhere = (line, col) => `${cm.file}:${header + Number(line)}:${indent + Number(col)}`;
    }
    try {
      config = parseYaml(configText, { uniqueKeys: true });
    } catch (e) {
      return fail(cm.at(["data", "uploadgate.yaml"], `not YAML: ${e.message.split("\n")[0]}`));
    }
    if (!config || typeof config !== "object" || Array.isArray(config))
      fail(cm.at(["data", "uploadgate.yaml"], "not a mapping"));
    for (const k of ["listen", "admin", "backend", "storage", "shutdown_grace"])
      if (!config || !(k in config)) fail(cm.at(["data", "uploadgate.yaml"], `the pod needs "${k}"`));
  });

  await check("configmap: `uploadgate --check` accepts uploadgate.yaml", (fail) => {
    if (!UG_BINARY) return { skip: "UG_BINARY not set" };
    if (configText === null) return fail("no uploadgate.yaml to check");
    const dir = mkdtempSync(path.join(os.tmpdir(), "ug-deploy-"));
    try {
      const f = path.join(dir, "uploadgate.yaml");
      writeFileSync(f, configText);
      const r = spawnSync(UG_BINARY, ["--check", "-c", f], { encoding: "utf8" });
      if (r.error) return fail(`cannot run ${UG_BINARY}: ${r.error.message}`);
      const out = (r.stderr + r.stdout)
        .trim()
        .split(`${f}:`)
        .join("\u0000")
        .replace(/\u0000(\d+):(\d+)/g, (_, l, c) => configWhere(l, c))
        .split("\u0000")
        .join("uploadgate.yaml: ");
      if (r.status !== 0)
        fail(`${rel(UG_BINARY)} --check -c <uploadgate.yaml of the ConfigMap> exited ${r.status}:\n${out}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  // Port of "host:port" / "[v6]:port"
  const portOf = (addr) => (typeof addr === "string" && /:(\d+)$/.test(addr) ? Number(addr.match(/:(\d+)$/)[1]) : null);
  // Seconds of a duration like 25s, 500ms, 1m
  function seconds(d) {
    const m = /^(\d+)(ms|s|m|h|d)$/.exec(String(d));
    if (!m) return null;
    return Number(m[1]) * { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 }[m[2]];
  }
  // Every absolute file the configuration reads (keys ending in _file), with its place.
  function configFiles(node, segs = [], out = []) {
    if (Array.isArray(node)) node.forEach((v, i) => configFiles(v, [...segs, i], out));
    else if (node && typeof node === "object")
      for (const [k, v] of Object.entries(node)) {
        if (/_file$/.test(k) && typeof v === "string") out.push([dotted([...segs, k]), v]);
        else configFiles(v, [...segs, k], out);
      }
    return out;
  }

  // ---------------------------------------------------------------------------------------------------------------
  // The Deployment: project invariants
  // ---------------------------------------------------------------------------------------------------------------

  const SPEC = ["spec", "template", "spec"];
  function podParts(fail) {
    const dep = findOne("Deployment", fail);
    if (!dep) return {};
    const spec = getIn(dep.obj, SPEC) || {};
    const inits = spec.initContainers || [];
    const mains = spec.containers || [];
    const iUg = inits.findIndex((c) => c.name === "uploadgate");
    const ug = inits[iUg];
    const ugPath = [...SPEC, "initContainers", iUg];
    const app = mains[0];
    return { dep, spec, inits, mains, ug, ugPath, app };
  }
  const resolvePort = (c, port) =>
    typeof port === "number" ? port : ((c.ports || []).find((p) => p.name === port) || {}).containerPort;

  await check("deployment: uploadgate is a native sidecar (initContainers, restartPolicy: Always)", (fail) => {
    const { dep, mains, ug, ugPath } = podParts(fail);
    if (!dep) return;
    if (mains.some((c) => c.name === "uploadgate"))
      fail(dep.at([...SPEC, "containers"], "uploadgate belongs in initContainers (native sidecar), not containers"));
    if (!ug) return fail(dep.at([...SPEC, "initContainers"], 'no init container named "uploadgate"'));
    if (ug.restartPolicy !== "Always") fail(dep.at([...ugPath, "restartPolicy"], "must be Always (native sidecar)"));
    if (imageName(ug.image) !== "uploadgate")
      fail(dep.at([...ugPath, "image"], 'expected the "uploadgate" image (deploy/Dockerfile)'));
    if (JSON.stringify(ug.args) !== JSON.stringify(["-c", CONFIG_PATH]))
      fail(dep.at([...ugPath, "args"], `must be ["-c", "${CONFIG_PATH}"]`));
    if (ug.command) fail(dep.at([...ugPath, "command"], "keep the image's ENTRYPOINT"));
    if (!config) return;
    const http = resolvePort(ug, "http"),
      admin = resolvePort(ug, "admin");
    const listen = portOf(getIn(config, ["listen", 0, "address"])),
      adminCfg = portOf(getIn(config, ["admin", "address"]));
    if (http !== listen)
      fail(dep.at([...ugPath, "ports"], `port "http" (${http}) differs from the configuration's listen[0] (${listen})`));
    if (admin !== adminCfg)
      fail(
        dep.at(
          [...ugPath, "ports"],
          `port "admin" (${admin}) differs from the configuration's admin.address (${adminCfg})`,
        ),
      );
  });

  await check("deployment: probes on the admin port (startup+liveness /healthz, readiness /readyz)", (fail) => {
    const { dep, ug, ugPath } = podParts(fail);
    if (!ug) return fail("no uploadgate init container");
    // startup must not be /readyz: the kubelet starts the app only after the sidecar's startup probe passes, and
    // /readyz also asks the app (backend.health_path), so the pod would never start.
    const want = { startupProbe: "/healthz", livenessProbe: "/healthz", readinessProbe: "/readyz" };
    const admin = resolvePort(ug, "admin");
    for (const [probe, p] of Object.entries(want)) {
      const g = getIn(ug, [probe, "httpGet"]);
      if (!g) {
        fail(dep.at([...ugPath, probe], `needs an httpGet ${p} probe`));
        continue;
      }
      if (g.path !== p) fail(dep.at([...ugPath, probe, "httpGet", "path"], `must be ${p}`));
      if (!admin || resolvePort(ug, g.port) !== admin)
        fail(dep.at([...ugPath, probe, "httpGet", "port"], "must target the admin port"));
    }
  });

  await check("deployment: hardened securityContext on every container", (fail) => {
    const { dep, spec } = podParts(fail);
    if (!dep) return;
    const lists = ["initContainers", "containers"];
    const n = lists.reduce((a, l) => a + (spec[l] || []).length, 0);
    if (n < 2) fail(dep.at(SPEC, "expected the app and uploadgate"));
    for (const list of lists) {
      (spec[list] || []).forEach((c, i) => {
        const sc = c.securityContext || {};
        const at = (k, msg) => fail(dep.at([...SPEC, list, i, "securityContext", ...k], msg));
        if (sc.runAsNonRoot !== true) at(["runAsNonRoot"], "must be true");
        if (sc.runAsUser !== UID)
          at(
            ["runAsUser"],
            `must be ${UID} (the image's USER; uploadgate's files are 0640 in 0750 directories, so the app needs the same uid)`,
          );
        if (sc.allowPrivilegeEscalation !== false) at(["allowPrivilegeEscalation"], "must be false");
        if (sc.readOnlyRootFilesystem !== true) at(["readOnlyRootFilesystem"], "must be true");
        if (!(getIn(sc, ["capabilities", "drop"]) || []).includes("ALL")) at(["capabilities", "drop"], 'must drop "ALL"');
        if ((getIn(sc, ["capabilities", "add"]) || []).length) at(["capabilities", "add"], "must add nothing");
        if (getIn(sc, ["seccompProfile", "type"]) !== "RuntimeDefault")
          at(["seccompProfile", "type"], "must be RuntimeDefault");
        if (sc.privileged) at(["privileged"], "must not be privileged");
      });
    }
  });

  await check("deployment: resources requests and limits on every container", (fail) => {
    const { dep, spec } = podParts(fail);
    if (!dep) return;
    for (const list of ["initContainers", "containers"]) {
      (spec[list] || []).forEach((c, i) => {
        for (const kind of ["requests", "limits"])
          for (const r of ["cpu", "memory"])
            if (getIn(c, ["resources", kind, r]) === undefined)
              fail(dep.at([...SPEC, list, i, "resources", kind], `needs ${r}`));
      });
    }
  });

  await check("deployment: volumes agree with storage.dir, storage.app_dir and the configuration's files", (fail) => {
    const { dep, spec, ug, ugPath, app } = podParts(fail);
    if (!ug || !app) return fail("needs the uploadgate init container and an app container");
    if (!config) return fail("no parsed configuration");
    const volumes = new Map((spec.volumes || []).map((v) => [v.name, v]));
    const mountAt = (c, dir) => (c.volumeMounts || []).find((vm) => vm.mountPath.replace(/\/+$/, "") === dir);
    const storageDir = getIn(config, ["storage", "dir"]),
      appDir = getIn(config, ["storage", "app_dir"]);
    // Routes storing local files hand the app paths on a volume both containers mount; when every upload route
    // stores into S3 (store: s3), storage.dir holds only uploadgate's spool and the app must not share it.
    const uploadRoutes = (config.routes || []).filter((r) => r && !r.pass_through);
    const local = uploadRoutes.some((r) => (r.store || "local") === "local");
    const ugStore = mountAt(ug, storageDir),
      appStore = local ? mountAt(app, appDir || storageDir) : null;
    if (!ugStore) fail(dep.at([...ugPath, "volumeMounts"], `nothing mounted at storage.dir (${storageDir})`));
    if (local && !appStore)
      fail(dep.at([...SPEC, "containers", 0, "volumeMounts"], `nothing mounted at storage.app_dir (${appDir})`));
    if (!local) {
      if (!getIn(config, ["storage", "s3"])) fail("every upload route has store: s3, but storage.s3 is missing");
      if (appDir) fail("storage.app_dir means nothing when no route stores local files: drop it");
      const v = ugStore && volumes.get(ugStore.name);
      if (ugStore && (!v || !v.emptyDir))
        fail(dep.at([...SPEC, "volumes"], `volume "${ugStore.name}" (uploadgate's spool) should be an emptyDir`));
      if (ugStore && (app.volumeMounts || []).some((vm) => vm.name === ugStore.name))
        fail(dep.at([...SPEC, "containers", 0, "volumeMounts"], `the app must not mount uploadgate's "${ugStore.name}"`));
    }
    if (ugStore && appStore) {
      if (ugStore.name !== appStore.name)
        fail(
          dep.at(
            [...SPEC, "volumes"],
            `uploadgate (${ugStore.name}) and the app (${appStore.name}) must share one volume`,
          ),
        );
      const v = volumes.get(ugStore.name);
      if (!v || !v.emptyDir) fail(dep.at([...SPEC, "volumes"], `volume "${ugStore.name}" should be an emptyDir`));
      if (ugStore.readOnly || appStore.readOnly)
        fail(dep.at([...SPEC, "volumes"], "the storage volume must be writable by both (the app moves files away)"));
    }
    for (const c of [ug, app]) {
      const env = new Map((c.env || []).map((e) => [e.name, e.value]));
      if (c === app && env.has("UPLOADGATE_APP_DIR") && env.get("UPLOADGATE_APP_DIR") !== appDir)
        fail(
          dep.at(
            [...SPEC, "containers", 0, "env"],
            `UPLOADGATE_APP_DIR (${env.get("UPLOADGATE_APP_DIR")}) differs from storage.app_dir (${appDir})`,
          ),
        );
    }

    // Which file does a path in a container come from? "configMap NAME key K", "secret NAME key K" or null.
    const sourceOf = (c, file) => {
      const vm = (c.volumeMounts || [])
        .filter((m) => file.startsWith(m.mountPath.replace(/\/+$/, "") + "/"))
        .sort((a, b) => b.mountPath.length - a.mountPath.length)[0];
      if (!vm) return null;
      const relPath = file.slice(vm.mountPath.replace(/\/+$/, "").length + 1);
      const v = volumes.get(vm.name) || {};
      const sources = v.projected ? v.projected.sources || [] : [v];
      for (const s of sources) {
        for (const [kind, obj, name] of [
          ["ConfigMap", s.configMap, s.configMap && s.configMap.name],
          ["Secret", s.secret, s.secret && (s.secret.secretName || s.secret.name)],
        ]) {
          if (!obj) continue;
          const item = (obj.items || []).find((it) => it.path === relPath);
          const key = item ? item.key : obj.items ? null : relPath;
          if (key) return { kind, name, key, readOnly: vm.readOnly === true };
        }
      }
      return null;
    };
    const hasKey = ({ kind, name, key }) =>
      all.some(
        (m) =>
          m.obj &&
          m.obj.kind === kind &&
          m.obj.metadata.name === name &&
          ((m.obj.data && key in m.obj.data) || (m.obj.stringData && key in m.obj.stringData)),
      );
    const needed = [["the configuration", CONFIG_PATH, ug], ...configFiles(config).map(([k, f]) => [k, f, ug])];
    const appKey = (app.env || []).find((e) => e.name === "UPLOADGATE_SIGNING_KEY_FILE");
    if (appKey) needed.push(["the app's UPLOADGATE_SIGNING_KEY_FILE", appKey.value, app]);
    for (const [what, file, c] of needed) {
      const src = sourceOf(c, file);
      if (!src) fail(`${what} (${file}) is not provided by a ConfigMap or Secret mount in container "${c.name}"`);
      else if (!hasKey(src))
        fail(
          `${what} (${file}) comes from ${src.kind} ${src.name} key "${src.key}", which no file in ${K8S_DIR} defines`,
        );
      else if (!src.readOnly) fail(`${what} (${file}): mount it readOnly in container "${c.name}"`);
    }
  });

  await check("deployment: terminationGracePeriodSeconds covers the shutdown", (fail) => {
    const { dep, spec, app } = podParts(fail);
    if (!dep || !config) return fail("needs the Deployment and the configuration");
    const grace = spec.terminationGracePeriodSeconds;
    const sg = seconds(config.shutdown_grace);
    if (sg === null) return fail(`shutdown_grace "${config.shutdown_grace}" is not a duration`);
    if (!(grace > sg))
      fail(
        dep.at(
          [...SPEC, "terminationGracePeriodSeconds"],
          `must exceed shutdown_grace (${sg}s), else SIGKILL cuts uploadgate's drain short`,
        ),
      );
    // The app stops first (sidecars last): its preStop sleep plus ~10 s to stop both containers must fit.
    const cmd = getIn(app, ["lifecycle", "preStop", "exec", "command"]) || [];
    const sleep =
      cmd[0] === "/bin/sleep" ? Number(cmd[1]) : Number(getIn(app, ["lifecycle", "preStop", "sleep", "seconds"]) || 0);
    if (!(grace >= sleep + 10))
      fail(
        dep.at([...SPEC, "terminationGracePeriodSeconds"], `must be at least the app's preStop sleep (${sleep}s) + 10s`),
      );
  });

  await check("service: port 80 -> http (8080); admin not exposed; selector matches the pod", (fail) => {
    const svc = findOne("Service", fail);
    const { dep, ug } = podParts(fail);
    if (!svc || !dep || !ug) return;
    const ports = svc.obj.spec.ports || [];
    const http = ports.findIndex((p) => p.name === "http");
    if (http < 0 || ports[http].port !== 80) fail(svc.at(["spec", "ports"], 'needs port 80 named "http"'));
    ports.forEach((p, i) => {
      const target = resolvePort(ug, p.targetPort === undefined ? p.port : p.targetPort);
      if (i === http && target !== resolvePort(ug, "http"))
        fail(svc.at(["spec", "ports", i, "targetPort"], "must reach uploadgate's http port"));
      if (target === resolvePort(ug, "admin")) fail(svc.at(["spec", "ports", i], "the admin port must not be exposed"));
    });
    const labels = getIn(dep.obj, ["spec", "template", "metadata", "labels"]) || {};
    const sel = svc.obj.spec.selector || {};
    if (!Object.keys(sel).length) fail(svc.at(["spec", "selector"], "empty selector"));
    for (const [k, v] of Object.entries(sel))
      if (labels[k] !== v) fail(svc.at(["spec", "selector", k], "does not match the Deployment's pod labels"));
  });

  await check("secret: the example Secret holds only REPLACE-ME placeholders", (fail) => {
    const s = findOne("Secret", fail);
    if (!s) return;
    if (s.obj.data) fail(s.at(["data"], "use stringData for the readable example values"));
    for (const [k, v] of Object.entries(s.obj.stringData || {}))
      if (!/REPLACE-ME/.test(v))
        fail(s.at(["stringData", k], "must be an obvious placeholder containing REPLACE-ME, never a real value"));
  });

}

for (const dir of K8S_DIRS) await checkKubernetes(dir);

// ---------------------------------------------------------------------------------------------------------------
// deploy/Dockerfile
// ---------------------------------------------------------------------------------------------------------------

const dockerText = read(DOCKERFILE);
const dockerfile = DockerfileParser.parse(dockerText);
const instructions = dockerfile.getInstructions();
const lineOf = (ins) => `${DOCKERFILE}:${ins.getRange().start.line + 1}`;
// Split into stages at each FROM
const stages = [];
for (const ins of instructions) {
  if (ins.getKeyword() === "FROM") stages.push({ from: ins, ins: [] });
  else if (stages.length) stages[stages.length - 1].ins.push(ins);
}
const argsText = (ins) => ins.getArgumentsContent() || "";
const runText = (stage) =>
  stage.ins
    .filter((i) => i.getKeyword() === "RUN")
    .map((i) =>
      argsText(i)
        .replace(/\\\r?\n/g, " ")
        .replace(/\s+/g, " "),
    );

await check(`dockerfile: dockerfile-utils lint of ${DOCKERFILE} is clean`, (fail) => {
  for (const d of lintDockerfile(dockerText))
    fail(`${DOCKERFILE}:${d.range.start.line + 1}:${d.range.start.character + 1}: ${d.message}`);
});

await check(
  "dockerfile: the build stage runs the README's set-up (install-deps.sh build + demo.sh's cmake lines)",
  (fail) => {
    if (stages.length !== 2) return fail(`${DOCKERFILE}: expected 2 stages (build, runtime), found ${stages.length}`);
    const [image, as, name] = argsText(stages[0].from).split(/\s+/);
    if (image !== "debian:12" || !/^as$/i.test(as || "") || !name)
      fail(`${lineOf(stages[0].from)}: the build stage must be FROM debian:12 AS <name>`);
    const runs = runText(stages[0]).join(" && ");
    if (!/(^|&& )deploy\/install-deps\.sh build( |$)/.test(runs))
      fail(`${DOCKERFILE}: the build stage never runs deploy/install-deps.sh build`);
    // The cmake lines of deploy/demo.sh (what the README's quick start runs), output redirections dropped.
    const demo = read("deploy/demo.sh")
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l.startsWith("cmake "))
      .map((l) => l.replace(/\s*>\s*\/dev\/null\s*$/, ""));
    if (demo.length < 2) fail("deploy/demo.sh: expected its cmake configure and build lines");
    for (const line of demo)
      if (!runs.includes(line))
        fail(`${DOCKERFILE}: the build stage does not run \`${line}\` (as deploy/demo.sh does)`);
  },
);

// Runtime packages that are not libraries, and why the image needs them.
const NOT_LIBRARIES = {
  "ca-certificates": "the certificate authorities libcurl verifies an https object store (storage.s3) against",
};
const runtimePackages = () => {
  const run = stages[1] ? runText(stages[1]).join(" ") : "";
  const m = /apt-get install ((?:-\S+\s+)*)([^&;|]+)/.exec(run);
  return {
    run,
    flags: m ? m[1] : "",
    pkgs: m
      ? m[2]
          .trim()
          .split(/\s+/)
          .filter((p) => !p.startsWith("-"))
      : [],
  };
};

await check("dockerfile: runtime stage (debian:12-slim, minimal apt, non-root USER, entrypoint, ports)", (fail) => {
  if (stages.length !== 2) return fail(`${DOCKERFILE}: expected 2 stages`);
  const rt = stages[1];
  if (argsText(rt.from).split(/\s+/)[0] !== "debian:12-slim")
    fail(`${lineOf(rt.from)}: the runtime stage must be FROM debian:12-slim`);
  const { run, flags, pkgs } = runtimePackages();
  if (!pkgs.length) fail(`${DOCKERFILE}: the runtime stage installs no packages with apt-get install`);
  if (!/--no-install-recommends/.test(flags))
    fail(`${DOCKERFILE}: runtime apt-get install needs --no-install-recommends`);
  if (!/rm -rf \/var\/lib\/apt\/lists\/\*/.test(run))
    fail(`${DOCKERFILE}: runtime stage must remove /var/lib/apt/lists/*`);
  const last = (kw) => rt.ins.filter((i) => i.getKeyword() === kw).pop();
  const user = last("USER");
  if (!user || argsText(user).trim() !== `${UID}:${UID}`)
    fail(`${DOCKERFILE}: the runtime stage must end with USER ${UID}:${UID} (numeric, matches runAsUser)`);
  const entry = last("ENTRYPOINT"),
    cmd = last("CMD");
  const json = (ins) => {
    try {
      return JSON.stringify(JSON.parse(argsText(ins)));
    } catch {
      return null;
    }
  };
  if (!entry || json(entry) !== JSON.stringify(["/usr/local/bin/uploadgate"]))
    fail(`${DOCKERFILE}: ENTRYPOINT must be ["/usr/local/bin/uploadgate"] (exec form: signals reach uploadgate)`);
  if (!cmd || json(cmd) !== JSON.stringify(["-c", CONFIG_PATH]))
    fail(`${DOCKERFILE}: CMD must be ["-c", "${CONFIG_PATH}"]`);
  const exposed = rt.ins.filter((i) => i.getKeyword() === "EXPOSE").flatMap((i) => argsText(i).split(/\s+/));
  for (const p of ["8080", "9901"]) if (!exposed.includes(p)) fail(`${DOCKERFILE}: EXPOSE ${p} missing`);
  // COPY --from=<build stage> ... <dest>
  const buildName = argsText(stages[0].from).split(/\s+/)[2];
  const copies = rt.ins
    .filter((i) => i.getKeyword() === "COPY" && i.getFlags().some((f) => f.toString() === `--from=${buildName}`))
    .map(argsText);
  if (!copies.some((c) => /\/build\/uploadgate\s+\/usr\/local\/bin\/uploadgate$/.test(c)))
    fail(`${DOCKERFILE}: the binary must be copied from the build stage to /usr/local/bin/uploadgate`);
  if (!copies.some((c) => /\s\/etc\/uploadgate\/uploadgate\.yaml$/.test(c)))
    fail(`${DOCKERFILE}: no default configuration copied from the build stage to ${CONFIG_PATH}`);
});

await check("dockerfile: runtime packages = the packages of the libraries the binary links", (fail) => {
  if (!UG_BINARY) return { skip: "UG_BINARY not set" };
  // The libraries the binary names itself (NEEDED), where ldd finds them; their own dependencies come with their
  // packages' dependencies, as apt installs them.
  const ldd = execFileSync("ldd", [UG_BINARY], { encoding: "utf8" });
  if (/not found/.test(ldd)) fail(`ldd ${UG_BINARY}: a library is not found:\n${ldd}`);
  const dynamic = execFileSync("readelf", ["-d", UG_BINARY], { encoding: "utf8" });
  const direct = new Set([...dynamic.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]));
  const libs = [...ldd.matchAll(/^\s*(\S+)\s+=>\s+(\/\S+)/gm)].filter((m) => direct.has(m[1])).map((m) => m[2]);
  if (libs.length !== direct.size) fail(`ldd ${UG_BINARY} resolves ${libs.length} of its ${direct.size} NEEDED libraries`);
  const needed = new Map(); // package -> libraries
  for (const lib of libs) {
    // dpkg knows the path it installed: try the resolved path first, then the name ldd printed.
    let out = spawnSync("dpkg", ["-S", execFileSync("readlink", ["-f", lib], { encoding: "utf8" }).trim()], {
      encoding: "utf8",
    });
    if (out.status !== 0) out = spawnSync("dpkg", ["-S", lib], { encoding: "utf8" });
    if (out.status !== 0) {
      fail(`dpkg -S ${lib}: no Debian package owns it`);
      continue;
    }
    const pkg = out.stdout.split(":")[0];
    needed.set(pkg, [...(needed.get(pkg) || []), path.basename(lib)]);
  }
  needed.delete("libc6"); // in debian:12-slim already
  const { pkgs } = runtimePackages();
  for (const [pkg, l] of needed)
    if (!pkgs.includes(pkg)) fail(`${DOCKERFILE}: runtime stage does not install ${pkg} (provides ${l.join(", ")})`);
  for (const pkg of pkgs)
    if (!needed.has(pkg) && !(pkg in NOT_LIBRARIES))
      fail(
        `${DOCKERFILE}: runtime stage installs ${pkg}, which provides none of the libraries ${rel(UG_BINARY)} links`,
      );
});

console.log(
  `deploy: ${counts.passed} passed, ${counts.failed} failed${counts.skipped ? `, ${counts.skipped} skipped` : ""}`,
);
process.exit(counts.failed ? 1 : 0);
