// The page's script: bundled with its npm dependencies (@uppy/core, @uppy/tus, tus-js-client) into
// uppy_page.bundle.js by esbuild (tests/resumable/uppy_upload.mjs does that), so the page needs no CDN.

import Uppy from "@uppy/core";
import Tus from "@uppy/tus";

function show(result) {
  document.getElementById("out").textContent = JSON.stringify(result, null, 2);
  return result;
}

// Uploads the file chosen in #file to `endpoint`. Resolves with what Uppy reported: the upload URL, the bytes it
// counted as uploaded, and the last response as the browser saw it. Uppy's own response object always says 200, so
// the status and body come from the underlying XMLHttpRequest, read in the upload-success event: right after it
// Uppy aborts the finished request, which resets the XMLHttpRequest's status to 0.
window.runUppy = async ({ endpoint, token, chunkSize, meta, retryDelays }) => {
  const uppy = new Uppy({ autoProceed: false });
  uppy.use(Tus, {
    endpoint,
    headers: token ? { Authorization: `Bearer ${token}` } : {},
    chunkSize: chunkSize || Infinity,
    retryDelays: retryDelays || [0, 200],
    removeFingerprintOnSuccess: true,
  });
  const errors = [];
  let last = { status: null, body: null };
  uppy.on("upload-success", (_f, resp) => {
    const xhr = resp && resp.body && resp.body.xhr;
    if (xhr) last = { status: xhr.status, body: xhr.responseText };
  });
  uppy.on("upload-error", (_f, err) => errors.push(String(err && err.message ? err.message : err)));
  const picked = document.getElementById("file").files[0];
  uppy.addFile({ name: picked.name, type: picked.type || "application/octet-stream", data: picked, meta: meta || {} });
  try {
    const res = await uppy.upload();
    const [file] = res.successful || [];
    if (!file) return show({ ok: false, error: errors.join("; ") || "upload failed", failed: (res.failed || []).length });
    return show({
      ok: true,
      uploadURL: file.response.uploadURL,
      bytes: file.progress.bytesUploaded,
      size: file.size,
      status: last.status,
      body: last.body,
    });
  } catch (e) {
    return show({ ok: false, error: String(e && e.message ? e.message : e), errors });
  } finally {
    uppy.destroy();
  }
};
