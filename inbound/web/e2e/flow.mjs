// Real-browser test of the Lettuce web app: Debian's Chromium driven by
// playwright-core against the real binary. Started by
// apps/lettuce/tests/web_browser.rs, which starts the server and a git
// daemon and passes:
//   LETTUCE_E2E_BASE         http://127.0.0.1:PORT
//   LETTUCE_E2E_ADMIN_TOKEN  the generated admin token (typed into the first-run page)
//   LETTUCE_E2E_REPO_URL     git://127.0.0.1:PORT/demo.git
//   LETTUCE_E2E_CHROMIUM     the Chromium binary
//   LETTUCE_E2E_SCREENSHOTS  a folder for screenshots (1280 and 375 px wide)
// Prints one line `RESULT {"api_key": "..."}` on success; exits non-zero on failure.
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

const base = process.env.LETTUCE_E2E_BASE;
const adminToken = process.env.LETTUCE_E2E_ADMIN_TOKEN;
const repoUrl = process.env.LETTUCE_E2E_REPO_URL;
const shots = process.env.LETTUCE_E2E_SCREENSHOTS;
const executablePath = process.env.LETTUCE_E2E_CHROMIUM || "/usr/bin/chromium";
const password = "correct horse battery staple";

function step(msg) {
  console.log(`step: ${msg}`);
}

// playwright-core launches Chromium with a fresh temporary profile (its own
// --user-data-dir) every time.
const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
  ],
});

const problems = [];
function watch(page, who) {
  page.on("console", (m) => {
    // A CSP violation or a script error is a failure.
    if (m.type() === "error") problems.push(`${who} console: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`${who} page error: ${e.message}`));
}

async function screenshot(page, name) {
  if (!shots) return;
  mkdirSync(shots, { recursive: true });
  for (const width of [1280, 375]) {
    await page.setViewportSize({ width, height: 900 });
    await page.screenshot({ path: join(shots, `${name}-${width}.png`), fullPage: true });
  }
  await page.setViewportSize({ width: 1280, height: 900 });
}

try {
  // 1. First run: the operator opens the site, pastes the admin token, mints the first invite.
  const operator = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const op = await operator.newPage();
  watch(op, "operator");
  step("first run");
  await op.goto(base + "/");
  if (!op.url().endsWith("/setup")) throw new Error(`expected the first-run page, got ${op.url()}`);
  const setupText = await op.textContent("main");
  if (!setupText.includes("admin-token")) throw new Error("the first-run page does not say where the admin token is");
  await screenshot(op, "setup");
  await op.getByLabel("Admin token").fill(adminToken);
  await op.getByRole("button", { name: "Continue" }).click();
  await op.getByLabel("Team name").fill("Acme");
  await op.getByRole("button", { name: "Create the first invite" }).click();
  const inviteLink = await op.getByLabel("Invite link").inputValue();
  if (!inviteLink.includes("/invite/")) throw new Error(`no invite link: ${inviteLink}`);
  await screenshot(op, "setup-invite");

  // 2. Sign up by invite in a second browser context.
  step("sign up by invite");
  const user = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await user.newPage();
  watch(page, "user");
  await page.goto(inviteLink.replace(/^https?:\/\/[^/]+/, base));
  await screenshot(page, "signup");
  await page.getByLabel("Email").fill("ada@example.com");
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Create account" }).click();
  await page.waitForURL(/\/repos$/);

  // 3. Add a repository (a local git daemon) and watch it become ready without reloading.
  step("add a repo");
  await page.getByLabel("Clone URL").fill(repoUrl);
  await page.getByRole("button", { name: "Add repository" }).click();
  await page.waitForURL(/\/repos\?done=added$/);
  const navigations = [];
  page.on("framenavigated", (f) => {
    if (f === page.mainFrame()) navigations.push(f.url());
  });
  step("wait for ready (htmx polling)");
  await page.locator('tr[data-status="ready"]').waitFor({ timeout: 90_000 });
  if (navigations.length > 0) throw new Error(`the page reloaded: ${navigations}`);
  const row = await page.locator('tr[data-status="ready"]').textContent();
  if (!/[0-9a-f]{12}/.test(row)) throw new Error(`no indexed commit in the row: ${row}`);
  await screenshot(page, "repos");

  // 4. Search the account's code and open a result (a file view with line numbers).
  step("search and open a result");
  await page.getByRole("link", { name: "Search" }).click();
  await page.getByLabel("Search code and symbols").fill("greet");
  await page.getByRole("button", { name: "Search" }).click();
  await page.locator(".hit-path").first().waitFor();
  await screenshot(page, "search");
  await page.locator(".hit-path").first().click();
  await page.locator("table.code-lines").waitFor();
  const code = await page.locator("table.code-lines").textContent();
  if (!code.includes("pub fn greet")) throw new Error(`the file view lacks the code: ${code}`);
  if ((await page.locator("tr#L1 td.ln").textContent()).trim() !== "1") throw new Error("no line numbers");
  await screenshot(page, "file");

  // 5. Connect an agent: create an API key on the spot.
  step("create an API key");
  await page.getByRole("link", { name: "Connect an agent" }).click();
  await page.getByLabel("Key name").fill("browser test");
  await page.getByRole("button", { name: "Create API key" }).click();
  const apiKey = await page.locator("#new-key").inputValue();
  if (!apiKey.startsWith("lk_")) throw new Error(`no API key shown: ${apiKey}`);
  const snippet = await page.locator("#snippet-claude-http").inputValue();
  if (!snippet.includes(apiKey) || !snippet.includes("/mcp")) throw new Error(`snippet lacks key or URL: ${snippet}`);
  await screenshot(page, "connect");

  // The other pages render for the owner.
  for (const name of ["team", "usage", "admin"]) {
    step(`open ${name}`);
    await page.goto(`${base}/${name}`);
    await page.locator("h1").waitFor();
    await screenshot(page, name);
  }

  if (problems.length > 0) throw new Error(`browser reported problems:\n${problems.join("\n")}`);
  console.log("RESULT " + JSON.stringify({ api_key: apiKey }));
  await browser.close();
  process.exit(0);
} catch (e) {
  console.error(`FAILED: ${e && e.stack ? e.stack : e}`);
  if (problems.length > 0) console.error(problems.join("\n"));
  await browser.close().catch(() => {});
  process.exit(1);
}
