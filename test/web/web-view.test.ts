// The live web view end to end in headless Chromium: served at /ui by the service itself, it loads on the
// embedded cluster, shows a reservation after a filter call (WatchReservations), and a refused driver with its
// reason (WatchQueue). A screenshot goes to test-artifacts/web-view.png. Behind `access.rpc: kubernetes`, the
// `/ui#token=...` flow: the token is taken from the fragment, sent on every call, and removed from the address bar.

import { mkdirSync } from "node:fs";
import { createConnectTransport } from "@connectrpc/connect-node";
import type { Browser, Page, Request } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { Outcome } from "../../gen/sparkscheduler/v1/scheduler_pb.js";
import type { AccessReviewer } from "../../src/server/access.js";
import { type TestApp, bothClients, example, startTestApp } from "../server/app-harness.js";
import { launch } from "./chromium.js";

let t: TestApp;
let browser: Browser;
let page: Page;
const pageErrors: string[] = [];

beforeAll(async () => {
  t = await startTestApp({ config: { fifo: true, "instance-group-label": "resource_channel" } });
  browser = await launch(); // may install chromium first
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on("pageerror", (e) => pageErrors.push(e.message));
}, 900_000);

afterAll(async () => {
  await browser?.close();
  await t?.close();
});

describe("GET /ui", () => {
  it("serves the page and its bundle with a same-origin script policy", async () => {
    const html = await fetch(`${t.url}/ui`);
    expect(html.status).toBe(200);
    expect(html.headers.get("content-type")).toMatch(/^text\/html/);
    expect(html.headers.get("content-security-policy")).toMatch(/default-src 'self'/);
    expect(await html.text()).toContain('src="/ui/app.js"');
    const js = await fetch(`${t.url}/ui/app.js`);
    expect(js.headers.get("content-type")).toMatch(/^text\/javascript/);
    expect((await js.text()).length).toBeGreaterThan(1000);
    expect((await fetch(`${t.url}/ui/nope`)).status).toBe(404);
    expect((await fetch(`${t.url}/ui`, { method: "POST" })).status).toBe(405);
  });
});

describe("web view in Chromium", () => {
  it("shows nodes, a new reservation, and a refused driver's reason", async () => {
    await page.goto(`${t.url}/ui`);
    await page.waitForSelector('#status[data-state="live"]', { timeout: 15_000 });
    expect(await page.locator(".node").count()).toBe(4);
    expect(await page.locator("#zones h3").allTextContents()).toEqual(["zone zone-a (2 nodes)", "zone zone-b (2 nodes)"]);

    const client = bothClients(createConnectTransport({ baseUrl: t.url, httpVersion: "1.1" }));
    const etl = example("driver-etl");
    expect((await client.filter({ pod: etl.Pod, nodeNames: etl.NodeNames })).outcome).toBe(Outcome.SUCCESS);
    const row = page.locator('#reservation-rows tr[data-app="spark/etl"]');
    await row.waitFor({ timeout: 15_000 });
    expect(await row.locator("td").nth(4).textContent()).toBe("0/8 bound");
    // The node grid follows: some node now shows reserved cpu.
    // Polled from Node with $$eval (a function call into the page, which the page's CSP allows; a string
    // predicate would be eval'd and is refused by `default-src 'self'`).
    await vi.waitFor(
      async () => {
        const widths = await page.$$eval(".bar .reserved", (els) => els.map((e) => (e as unknown as { style: { width: string } }).style.width));
        expect(widths.some((w) => parseFloat(w) > 0)).toBe(true);
      },
      { timeout: 15_000, interval: 200 },
    );

    const big = example("driver-too-big");
    expect((await client.filter({ pod: big.Pod, nodeNames: big.NodeNames })).outcome).toBe(Outcome.FAILURE_FIT);
    const queued = page.locator('#queue-groups tr[data-pod="spark/too-big-driver"] td.reason');
    await queued.waitFor({ timeout: 15_000 });
    expect(await queued.textContent()).toMatch(/^does not fit: needs cpu=164 .* room for \d+ of 40 executors/);
    expect(await page.locator('#queue-groups table[data-instance-group="batch"]').count()).toBe(1);

    mkdirSync(new URL("../../test-artifacts/", import.meta.url), { recursive: true });
    await page.screenshot({ path: new URL("../../test-artifacts/web-view.png", import.meta.url).pathname, fullPage: true });
    expect(pageErrors).toEqual([]);
  }, 60_000);
});

describe("web view behind access.rpc: kubernetes", () => {
  let secured: TestApp;
  /** Every token the server was asked to authenticate. */
  const reviewed: string[] = [];
  const reviewer: AccessReviewer = {
    authenticate: (token) => {
      reviewed.push(token);
      return Promise.resolve(token === "ui-token" ? { username: "viewer", groups: [], extra: {} } : undefined);
    },
    authorize: (user, attrs) => Promise.resolve({ allowed: user.username === "viewer" && attrs.verb === "list", reason: "" }),
  };
  beforeAll(async () => {
    secured = await startTestApp({ access: { rpc: "kubernetes", reviewer } });
  });
  afterAll(async () => {
    await secured?.close();
  });

  /** The Authorization header of every RPC the page makes, as it left the browser. */
  const rpcAuthorization = (p: Page) => {
    const seen: Promise<string | undefined>[] = [];
    p.on("request", (r: Request) => {
      if (new URL(r.url()).pathname.startsWith("/sparkscheduler.v1.")) seen.push(r.allHeaders().then((h) => h.authorization));
    });
    return () => Promise.all(seen);
  };

  it("without a token the page cannot read (the calls are refused)", async () => {
    const context = await browser.newContext();
    try {
      const p = await context.newPage();
      const headers = rpcAuthorization(p);
      await p.goto(`${secured.url}/ui`);
      await p.waitForSelector('#status[data-state="error"]', { timeout: 15_000 });
      expect(await p.locator("#status").textContent()).toMatch(/cannot read nodes|unauthenticated/i);
      expect(new Set(await headers())).toEqual(new Set([undefined]));
    } finally {
      await context.close();
    }
  }, 60_000);

  it("/ui#token=... sends the token as a bearer token on its Connect calls and removes it from the address bar", async () => {
    const context = await browser.newContext();
    try {
      const p = await context.newPage();
      const errors: string[] = [];
      p.on("pageerror", (e) => errors.push(e.message));
      const headers = rpcAuthorization(p);
      await p.goto(`${secured.url}/ui#token=ui-token`);
      await p.waitForSelector('#status[data-state="live"]', { timeout: 15_000 });
      expect(await p.locator(".node").count()).toBe(4);
      // ListNodes, WatchReservations and WatchQueue at least, each with the token.
      const sent = await headers();
      expect(sent.length).toBeGreaterThanOrEqual(3);
      expect(new Set(sent)).toEqual(new Set(["Bearer ui-token"]));
      expect(reviewed).toContain("ui-token");
      // Gone from the address bar (and so from the history), kept for this tab only.
      expect(p.url()).toBe(`${secured.url}/ui`);
      // (The test is not compiled with the DOM's types: the page's globals are typed here.)
      type PageGlobals = { location: { hash: string }; sessionStorage: { getItem(k: string): string | null } };
      expect(await p.evaluate(() => (globalThis as unknown as PageGlobals).location.hash)).toBe("");
      expect(await p.evaluate(() => (globalThis as unknown as PageGlobals).sessionStorage.getItem("spark-scheduler-token"))).toBe("ui-token");

      // A reload, with no fragment any more, still sends it.
      const again = rpcAuthorization(p);
      await p.reload();
      await p.waitForSelector('#status[data-state="live"]', { timeout: 15_000 });
      expect(new Set(await again())).toEqual(new Set(["Bearer ui-token"]));
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  }, 60_000);
});
