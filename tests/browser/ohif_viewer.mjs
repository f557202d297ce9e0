// Opens the OHIF viewer served at --base-url in headless Chromium the way a
// person would: the study list, the patient found by name, the study opened in
// the Basic Viewer, until its image is drawn. Prints one JSON line with what it
// saw (the viewport's pixel statistics, every DICOMweb request with its status
// and Content-Type, timings) and keeps a screenshot; exits 1 with a message
// naming the step that failed. The caller (ohif_viewer_test.cpp) checks the
// server's side. Every wait is bounded.
//
//   node ohif_viewer.mjs --base-url http://127.0.0.1:PORT --patient-name NAME
//        --screenshot FILE [--chromium /usr/bin/chromium] [--timeout-s 90]
import { parseArgs } from 'node:util';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { values: args } = parseArgs({
  options: {
    'base-url': { type: 'string' },
    'patient-name': { type: 'string' },
    screenshot: { type: 'string' },
    chromium: { type: 'string', default: '/usr/bin/chromium' },
    'node-modules': { type: 'string' },  // where `npm ci` put playwright-core
    'timeout-s': { type: 'string', default: '90' },
    'scroll-slices': { type: 'string', default: '70' },
    // Open this path (e.g. /viewer?StudyInstanceUIDs=...&token=...) instead of
    // going through the study list.
    open: { type: 'string' },
    'min-variance': { type: 'string', default: '200' },
  },
});
for (const required of ['base-url', 'patient-name', 'screenshot']) {
  if (!args[required]) {
    console.error(`ohif_viewer: --${required} is required`);
    process.exit(2);
  }
}
const { chromium } = require(args['node-modules'] ? `${args['node-modules']}/playwright-core` : 'playwright-core');
const baseUrl = args['base-url'].replace(/\/$/, '');
const deadline = Date.now() + Number(args['timeout-s']) * 1000;
const remainingMs = () => Math.max(1000, deadline - Date.now());
const started = Date.now();

// What the server answered to each DICOMweb request (the browser's view; the
// server's counters are checked by the caller).
const requests = [];
const consoleErrors = [];
let step = 'launching chromium';

function fail(message, extra = {}) {
  console.log(JSON.stringify({ ok: false, step, message, requests, console_errors: consoleErrors.slice(0, 20), ...extra }));
  console.error(`ohif_viewer: failed while ${step}: ${message}`);
}

// Statistics of the largest cornerstone canvas (the main viewport; the
// thumbnails' canvases are smaller and fill first). WebGL canvases are read by
// drawing them into a 2D canvas.
async function viewportPixels(page) {
  return page.evaluate(() => {
    const canvases = [...document.querySelectorAll('canvas.cornerstone-canvas')];
    if (canvases.length === 0) return { canvases: 0 };
    canvases.sort((a, b) => b.width * b.height - a.width * a.height);
    const c = canvases[0];
    const copy = document.createElement('canvas');
    copy.width = c.width;
    copy.height = c.height;
    const ctx = copy.getContext('2d');
    ctx.drawImage(c, 0, 0);
    const data = ctx.getImageData(0, 0, c.width, c.height).data;
    let sum = 0;
    let sumSq = 0;
    const levels = new Set();
    const n = data.length / 4;
    for (let i = 0; i < data.length; i += 4) {
      const y = 0.299 * data[i] + 0.587 * data[i + 1] + 0.114 * data[i + 2];
      sum += y;
      sumSq += y * y;
      levels.add(Math.round(y));
    }
    const mean = sum / n;
    return { canvases: canvases.length, width: c.width, height: c.height, mean, variance: sumSq / n - mean * mean,
             levels: levels.size };
  });
}

// Clicks `locator` if it shows up within `ms`; the tour and the banner come
// and go with OHIF versions and first visits.
async function clickIfShown(locator, ms) {
  try {
    await locator.first().waitFor({ state: 'visible', timeout: ms });
    await locator.first().click({ timeout: 5000 });
    return true;
  } catch {
    return false;
  }
}

let browser;
let exitCode = 1;
try {
  browser = await chromium.launch({
    executablePath: args.chromium,
    headless: true,
    timeout: 30000,
    args: ['--no-sandbox', '--enable-unsafe-swiftshader'],
  });
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text().slice(0, 300));
  });
  page.on('response', (r) => {
    const url = r.url();
    if (!url.includes('/dicom-web/')) return;
    requests.push({ method: r.request().method(), url: url.slice(baseUrl.length), status: r.status(),
                    authorization: Boolean(r.request().headers().authorization),
                    content_type: r.headers()['content-type'] || '', at_ms: Date.now() - started });
  });

  if (args.open) {
    step = `opening ${args.open.replace(/token=[^&#]*/, 'token=...')}`;
    await page.goto(`${baseUrl}${args.open}`, { waitUntil: 'domcontentloaded', timeout: remainingMs() });
  } else {
    step = `opening the study list at ${baseUrl}/`;
    await page.goto(`${baseUrl}/`, { waitUntil: 'domcontentloaded', timeout: remainingMs() });
    await clickIfShown(page.getByText('Confirm and hide', { exact: true }), 8000);

    step = `finding patient ${args['patient-name']} with the study list's patient filter`;
    const filter = page.locator('input').first();
    await filter.waitFor({ state: 'visible', timeout: remainingMs() });
    await filter.fill(args['patient-name']);
    const row = page.getByText(args['patient-name'], { exact: true }).first();
    await row.waitFor({ state: 'visible', timeout: remainingMs() });

    step = 'opening the study in the Basic Viewer';
    await row.click({ timeout: remainingMs() });
    const launch = page.getByText('Basic Viewer', { exact: true }).first();
    await launch.waitFor({ state: 'visible', timeout: remainingMs() });
    await launch.click({ timeout: remainingMs() });
  }
  await page.waitForURL(/\/viewer/, { timeout: remainingMs() });
  const openedAt = Date.now();
  await clickIfShown(page.getByText('Skip all', { exact: true }), 8000);
  await clickIfShown(page.getByText('Confirm and hide', { exact: true }), 2000);

  // The first slice drawn is the stack's first, nearly empty (air and the
  // table): wait for any image, then scroll to the middle of the stack, where
  // a CT head slice fills the viewport, and judge that one.
  step = 'waiting until the viewport shows its first image (pixels of the largest cornerstone canvas)';
  let pixels = { canvases: 0 };
  const drawn = (p, minVariance) => p.canvases > 0 && p.variance > minVariance && p.levels > 16;
  while (Date.now() < deadline) {
    pixels = await viewportPixels(page);
    if (drawn(pixels, 10)) break;
    await page.waitForTimeout(250);
  }
  if (!drawn(pixels, 10)) throw new Error(`no image within the time limit (${JSON.stringify(pixels)})`);
  const drawnMs = Date.now() - openedAt;

  step = 'scrolling to the middle of the stack';
  const viewport = page.locator('canvas.cornerstone-canvas').last();
  const box = await viewport.boundingBox();
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  const slicesToScroll = Number(args['scroll-slices']);
  for (let i = 0; i < slicesToScroll && Date.now() < deadline; ++i) {
    await page.mouse.wheel(0, 100);
    await page.waitForTimeout(40);
  }
  step = 'waiting until the middle slice is drawn';
  while (Date.now() < deadline) {
    pixels = await viewportPixels(page);
    if (drawn(pixels, Number(args['min-variance']))) break;
    await page.waitForTimeout(250);
  }
  const overlay = await page.locator('body').innerText().then((t) => (t.match(/I:\s*\d+\s*\(\d+\/\d+\)/) || [''])[0]);
  // Let the loader finish the stack's remaining frames before the caller
  // reads the server's counters (bounded, like everything else).
  step = 'waiting for the frame requests to settle';
  let lastCount = -1;
  while (Date.now() < deadline && lastCount !== requests.length) {
    lastCount = requests.length;
    await page.waitForTimeout(2000);
  }
  await page.screenshot({ path: args.screenshot });
  if (!drawn(pixels, Number(args['min-variance']))) {
    step = 'checking the viewport';
    fail(`the middle slice (${overlay}) stayed blank (${JSON.stringify(pixels)}); screenshot ${args.screenshot}`, { pixels });
  } else {
    console.log(JSON.stringify({ ok: true, pixels, first_image_ms: drawnMs, overlay, viewer_url: page.url().slice(baseUrl.length),
                                 requests, console_errors: consoleErrors.slice(0, 20) }));
    exitCode = 0;
  }
} catch (e) {
  fail(String(e && e.message ? e.message : e).split('\n').slice(0, 6).join(' | '));
} finally {
  if (browser) await browser.close().catch(() => {});
}
process.exit(exitCode);
