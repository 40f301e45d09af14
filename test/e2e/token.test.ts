// A studio started with a token, opened in Chromium with the address it printed: the editor loads,
// the token leaves the address bar, and later requests and the event stream carry it (cookie).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Browser } from "playwright-core";
import { launchBrowser, openEditor, pageErrors, startServer, type Server } from "./harness.ts";

const TOKEN = "e2e-token-4f9a0c";

describe("a studio with a token", () => {
  let server: Server, browser: Browser;
  before(async () => {
    server = await startServer({ extraArgs: ["--token", TOKEN] });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test("opened with ?token= the editor loads, connects, and removes the token from the address bar", async () => {
    const { context, page, errors } = await openEditor(browser, `${server.url}/?token=${TOKEN}`);
    try {
      assert.ok(!page.url().includes("token="), `the address keeps no token: ${page.url()}`);
      await page.locator(".brand .conn.on").waitFor({ timeout: 20000 });
      const status = await page.evaluate(async () => (await fetch("/api/system")).status);
      assert.equal(status, 200, "a later request carries the token");
      // A reload (the token is gone from the address) keeps working.
      await page.reload();
      await page.locator(".brand .conn.on").waitFor({ timeout: 20000 });
      assert.deepEqual(pageErrors(errors), []);
    } finally {
      await context.close();
    }
  });

  test("opened without the token the studio answers 401", async () => {
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      const res = await page.goto(server.url);
      assert.equal(res?.status(), 401);
      assert.match(await page.content(), /needs its token/);
    } finally {
      await context.close();
    }
  });
});
