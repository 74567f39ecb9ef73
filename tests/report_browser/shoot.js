// Renders an HTML report in Debian's headless Chromium (playwright-core drives the
// system browser; it downloads none) and takes screenshots.
//
//   node shoot.js REPORT.html OUT_DIR [WIDTH]
//
// Writes OUT_DIR/page.png (full page) and OUT_DIR/<chart id>.png for each chart
// container, then prints one JSON line: {"title", "h1": [...], "h2": [...],
// "page": path, "charts": {id: path | null}, "console_errors": [...], "requests": [...]}.
"use strict";

const fs = require("fs");
const os = require("os");
const path = require("path");
const { pathToFileURL } = require("url");
const { chromium } = require("playwright-core");

const CHARTS = ["chart-grade-mix", "chart-lens-radar", "chart-on-time"];
const EXECUTABLE = process.env.CHROMIUM || "/usr/bin/chromium";
const ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];

async function main() {
  const [report, outDir, widthArg] = process.argv.slice(2);
  if (!report || !outDir) {
    console.error("usage: node shoot.js REPORT.html OUT_DIR [WIDTH]");
    process.exit(2);
  }
  const width = Number(widthArg || 1200);
  fs.mkdirSync(outDir, { recursive: true });
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "lenses-chromium-"));
  let context;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: EXECUTABLE,
      headless: true,
      args: ARGS,
      viewport: { width, height: 900 },
      deviceScaleFactor: 1,
      offline: true,
    });
    const page = context.pages()[0] || (await context.newPage());
    const consoleErrors = [];
    const requests = [];
    page.on("console", (msg) => { if (msg.type() === "error") consoleErrors.push(msg.text()); });
    page.on("pageerror", (err) => consoleErrors.push(String(err)));
    page.on("request", (req) => { if (!req.url().startsWith("file:")) requests.push(req.url()); });

    await page.goto(pathToFileURL(path.resolve(report)).href, { waitUntil: "load", timeout: 60000 });
    const pagePng = path.join(outDir, "page.png");
    await page.screenshot({ path: pagePng, fullPage: true });

    const charts = {};
    for (const id of CHARTS) {
      const element = await page.$(`#${id}`);
      if (!element) { charts[id] = null; continue; }
      const file = path.join(outDir, `${id}.png`);
      await element.screenshot({ path: file });
      charts[id] = file;
    }
    const texts = (selector) => page.$$eval(selector, (els) => els.map((e) => e.textContent.trim()));
    const result = {
      title: await page.title(),
      h1: await texts("h1"),
      h2: await texts("h2"),
      page: pagePng,
      charts,
      console_errors: consoleErrors,
      requests,
    };
    process.stdout.write(JSON.stringify(result) + "\n");
  } finally {
    if (context) await context.close();
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : String(err));
  process.exit(1);
});
