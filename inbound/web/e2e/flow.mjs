// Real-browser test of the Lettuce web app: Debian's Chromium driven by
// playwright-core against the real binary. Started by
// apps/lettuce/tests/web_browser.rs, which starts the server and a git
// daemon and passes:
//   LETTUCE_E2E_BASE         http://127.0.0.1:PORT
//   LETTUCE_E2E_ADMIN_TOKEN  the generated admin token (typed into the first-run page)
//   LETTUCE_E2E_REPO_URL     git://127.0.0.1:PORT/demo.git
//   LETTUCE_E2E_CHROMIUM     the Chromium binary
//   LETTUCE_E2E_SCREENSHOTS  a folder for screenshots (1280 and 375 px wide)
//   LETTUCE_E2E_LICENSE      a valid license key (telemetry_required=true) to paste on the admin page
//                            (the instance is self-hosted, started with a key that allows opting out)
//   LETTUCE_E2E_STDIO        JSON {"command", "args", "env"} that runs `lettuce mcp` against the same instance
// Besides the flow, every page gets an axe-core scan (WCAG 2.1 A/AA; a serious
// or critical violation fails), and the MCP snippets are used by the official
// MCP TypeScript client over streamable HTTP and stdio.
// Prints one line `RESULT {...}` on success; exits non-zero on failure.
import { chromium } from "playwright-core";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

const base = process.env.LETTUCE_E2E_BASE;
const adminToken = process.env.LETTUCE_E2E_ADMIN_TOKEN;
const repoUrl = process.env.LETTUCE_E2E_REPO_URL;
const shots = process.env.LETTUCE_E2E_SCREENSHOTS;
const executablePath = process.env.LETTUCE_E2E_CHROMIUM || "/usr/bin/chromium";
const license = process.env.LETTUCE_E2E_LICENSE;
const stdio = JSON.parse(process.env.LETTUCE_E2E_STDIO || "null");
const password = "correct horse battery staple";
const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
const scanned = [];

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
    // A CSP violation or a script error is a failure. An HTTP error status
    // of a page is not: the steps that expect one (403, 400) check it.
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource: the server responded with a status of"))
      problems.push(`${who} console: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`${who} page error: ${e.message}`));
}

// axe-core runs through the DevTools protocol (page.evaluate), which the
// page's Content-Security-Policy does not apply to, so the CSP stays strict.
async function axe(page, name) {
  if (!(await page.evaluate(() => typeof window.axe === "object"))) await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => {
    const r = await window.axe.run(document, {
      runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] },
    });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, targets: v.nodes.map((n) => n.target.join(" ")) }));
  });
  const bad = violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  scanned.push({ page: name, violations: violations.length, serious: bad.length });
  if (bad.length > 0) throw new Error(`axe-core: ${name} has serious violations: ${JSON.stringify(bad, null, 1)}`);
}

async function screenshot(page, name) {
  await axe(page, name);
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

  // 6. The snippets work in the official MCP client: HTTP (Cursor's JSON) and stdio (VS Code's JSON).
  step("MCP client over streamable HTTP with the Cursor snippet");
  const cursor = JSON.parse(await page.locator("#snippet-cursor-http").inputValue()).mcpServers.lettuce;
  const http = new Client({ name: "lettuce-e2e", version: "1.0.0" });
  await http.connect(new StreamableHTTPClientTransport(new URL(cursor.url.replace(/^https?:\/\/[^/]+/, base)), {
    requestInit: { headers: cursor.headers },
  }));
  const tools = (await http.listTools()).tools.map((t) => t.name);
  if (!tools.includes("find_symbol")) throw new Error(`MCP tools over HTTP: ${tools}`);
  const found = await http.callTool({ name: "find_symbol", arguments: { name: "greet" } });
  const foundText = found.content.map((c) => c.text || "").join("");
  if (found.isError || !foundText.includes("src/lib.rs")) throw new Error(`find_symbol over HTTP: ${foundText}`);
  await http.close();
  if (stdio) {
    step("MCP client over stdio with the VS Code snippet");
    const vscode = JSON.parse(await page.locator("#snippet-vscode-stdio").inputValue()).servers.lettuce;
    if (vscode.command !== "lettuce" || vscode.args.join(" ") !== "mcp") throw new Error(`stdio snippet: ${JSON.stringify(vscode)}`);
    const client = new Client({ name: "lettuce-e2e", version: "1.0.0" });
    // The snippet's command is `lettuce` on PATH; here it is the binary under test, with the instance's settings.
    await client.connect(new StdioClientTransport({ command: stdio.command, args: vscode.args, env: { ...stdio.env, ...vscode.env }, stderr: "pipe" }));
    const repos = await client.callTool({ name: "list_repos", arguments: {} });
    const reposText = repos.content.map((c) => c.text || "").join("");
    if (repos.isError || !reposText.includes("demo")) throw new Error(`list_repos over stdio: ${reposText}`);
    await client.close();
  }

  // 7. Usage counts those queries, per tool.
  step("usage per tool");
  await page.goto(`${base}/usage`);
  const perTool = await page.locator("#per-tool").textContent();
  if (!perTool.includes("find_symbol")) throw new Error(`usage has no per-tool row for find_symbol: ${perTool}`);
  await screenshot(page, "usage");

  // 8. The owner mints an invite on the Team page; a teammate signs up with it in another context.
  step("mint an invite and sign up a member");
  await page.getByRole("link", { name: "Team" }).click();
  await page.getByRole("button", { name: "Create invite link" }).click();
  const memberInvite = await page.getByLabel("Invite link").inputValue();
  await screenshot(page, "team");
  const second = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const member = await second.newPage();
  watch(member, "member");
  await member.goto(memberInvite.replace(/^https?:\/\/[^/]+/, base));
  await member.getByLabel("Email").fill("grace@example.com");
  await member.getByLabel("Password").fill(password);
  await member.getByRole("button", { name: "Create account" }).click();
  await member.waitForURL(/\/repos$/);
  if (!(await member.locator('tr[data-status="ready"]').count())) throw new Error("the member does not see the team's repo");
  step("a member is refused on the admin page");
  if ((await member.getByRole("link", { name: "Admin" }).count()) > 0) throw new Error("a member is offered the Admin link");
  const refused = await member.goto(`${base}/admin`);
  if (refused.status() !== 403) throw new Error(`member on /admin: HTTP ${refused.status()}`);
  if (!(await member.textContent("main")).includes("only account owners")) throw new Error("the refusal does not say why");
  if ((await member.locator("#license-key").count()) > 0) throw new Error("the member sees the license form");
  await screenshot(member, "admin-refused");
  await page.goto(`${base}/team`);
  const teamRows = await page.locator("table").first().textContent();
  if (!teamRows.includes("grace@example.com")) throw new Error(`the new member is not on the Team page: ${teamRows}`);

  // 9. Admin: telemetry toggle both ways, then a valid and an invalid license key.
  step("telemetry off and back on");
  await page.getByRole("link", { name: "Admin" }).click();
  await page.getByRole("button", { name: "Turn telemetry off" }).click();
  if ((await page.locator("#telemetry-sending").textContent()) !== "not sent") throw new Error("telemetry still sent after turning it off");
  await page.getByRole("button", { name: "Turn telemetry back on" }).click();
  await page.getByRole("button", { name: "Turn telemetry off" }).waitFor();
  if (license) {
    step("paste a valid license key");
    await page.getByLabel("Paste a license key").fill(license);
    await page.getByRole("button", { name: "Install license" }).click();
    await page.getByText("License installed").waitFor();
    if (!(await page.textContent(".claims")).includes("lic_browser")) throw new Error("the claims are not shown");
    // This license requires telemetry: the toggle is disabled and says why.
    if (!(await page.locator("#telemetry-toggle").isDisabled())) throw new Error("the telemetry toggle is enabled under a license that requires telemetry");
    if (!(await page.locator("#toggle-reason").textContent()).includes("telemetry_required")) throw new Error("no reason for the disabled toggle");
    step("paste an invalid license key");
    await page.getByLabel("Paste a license key").fill(license.slice(0, -6) + "AAAAAA");
    await page.getByRole("button", { name: "Install license" }).click();
    const err = await page.locator("#license-error").textContent();
    if (!/signature|invalid/i.test(err)) throw new Error(`no error next to the field for a forged key: ${err}`);
    if ((await page.getByLabel("Paste a license key").getAttribute("aria-invalid")) !== "true") throw new Error("the field is not marked invalid");
    if (!(await page.textContent(".claims")).includes("lic_browser")) throw new Error("a rejected key replaced the installed license");
  }
  await screenshot(page, "admin");

  // 10. Sign out: back to the sign-in page.
  step("sign out");
  await member.getByRole("button", { name: "Sign out" }).click();
  await member.waitForURL(/\/signin/);
  await screenshot(member, "signin");

  if (problems.length > 0) throw new Error(`browser reported problems:\n${problems.join("\n")}`);
  console.log("axe-core: " + scanned.map((x) => `${x.page} ${x.violations} minor/moderate`).join(", "));
  console.log("RESULT " + JSON.stringify({ api_key: apiKey, scanned: scanned.length }));
  await browser.close();
  process.exit(0);
} catch (e) {
  console.error(`FAILED: ${e && e.stack ? e.stack : e}`);
  if (problems.length > 0) console.error(problems.join("\n"));
  await browser.close().catch(() => {});
  process.exit(1);
}
