// Starting Debian's chromium headless for the browser drivers (tests/browser/browser_upload.mjs,
// tests/resumable/uppy_upload.mjs). The caller passes playwright-core's `chromium` in, so this module resolves no
// package itself and serves drivers with their own node_modules.

// As root in a container: no sandbox; no GPU, QUIC or background traffic of the browser's own.
export const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

// A persistent context in `userDataDir` (a fresh, empty directory from the caller), with the browser at
// `executablePath` (default /usr/bin/chromium): never a browser downloaded by playwright.
export function launchChromium(chromium, { executablePath, userDataDir, timeout }) {
  return chromium.launchPersistentContext(userDataDir, {
    executablePath: executablePath || "/usr/bin/chromium",
    headless: true,
    chromiumSandbox: false,
    args: FLAGS,
    timeout,
  });
}
