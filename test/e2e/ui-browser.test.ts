import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { vehicleAt } from '../support/fixtures.js';
import { adminGet, deliver, E2E_ADMIN, removeDir, startDaemon, tempDir, type Daemon } from '../support/daemon.js';

/**
 * Debian's Chromium (`apt-get install chromium`, which .ci/run does). A local run without it skips
 * the test, saying so; under CI=true a missing browser fails the run, as missing Postgres does.
 */
const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
const missing = `${CHROMIUM} not found (install Debian's "chromium" package to run the dashboard browser test)`;
if (!hasChromium && process.env.CI === 'true') throw new Error(`ui-browser: CI=true but ${missing}`);
if (!hasChromium) console.warn(`ui-browser: skipped, ${missing}`);

const ARTIFACTS = join(process.cwd(), 'test-artifacts');
const SCREENSHOT = join(ARTIFACTS, 'dashboard-device.png');
const DEVICE = 'car-1';

const MIN = 60_000;
const iso = (ms: number) => new Date(ms).toISOString();

function vehicleEvent(id: string, atMs: number, state: { charging: boolean; pluggedIn?: boolean; batteryLevel?: number }) {
  const vehicle = vehicleAt(id, atMs, state);
  return { event: 'user:vehicle:updated', createdAt: iso(atMs + 500), version: '2024-10-01', user: { id: vehicle.userId }, vehicle, updatedFields: ['chargeState.isCharging'] };
}

function actionEvent(id: string, targetId: string, kind: 'START' | 'STOP', state: string, createdMs: number, updatedMs: number) {
  const userId = `user-of-${targetId}`;
  return {
    event: 'user:vendor-action:updated',
    createdAt: iso(updatedMs + 100),
    version: '2024-10-01',
    user: { id: userId },
    vendorAction: {
      id,
      userId,
      createdAt: iso(createdMs),
      updatedAt: iso(updatedMs),
      completedAt: state === 'PENDING' ? null : iso(updatedMs),
      state,
      targetId,
      targetType: 'vehicle',
      kind,
      failureReason: null,
    },
  };
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('dashboard in a real browser', () => {
  let dir: string | undefined;
  let daemon: Daemon | undefined;

  beforeAll(async () => {
    if (!hasChromium) return;
    dir = tempDir('enode-sync-ui-');
    // No grace and a fast reconcile, so the finding exists moments after the webhook.
    daemon = await startDaemon(dir, { INTERFERENCE_GRACE_SECONDS: '0', RECONCILE_INTERVAL_SECONDS: '1', LOG_LEVEL: 'warn' });
    const now = Date.now();
    const t = (minutesAgo: number) => now - minutesAgo * MIN;
    const deliveries: unknown[][] = [
      [vehicleEvent(DEVICE, t(55), { charging: false, batteryLevel: 40 }), vehicleEvent('car-2', t(50), { charging: true, batteryLevel: 70 })],
      [actionEvent('act-start-1', DEVICE, 'START', 'PENDING', t(48), t(48))],
      [actionEvent('act-start-1', DEVICE, 'START', 'CONFIRMED', t(48), t(46)), vehicleEvent(DEVICE, t(46), { charging: true, batteryLevel: 42 })],
      // Charging stops while our confirmed START is in force: someone else did it.
      [vehicleEvent(DEVICE, t(30), { charging: false, batteryLevel: 55 })],
      [vehicleEvent(DEVICE, t(20), { charging: false, pluggedIn: false, batteryLevel: 55 })],
      // Plugged in again and charging starts by itself: a natural cause.
      [vehicleEvent(DEVICE, t(10), { charging: true, pluggedIn: true, batteryLevel: 56 })],
      [{ event: 'system:heartbeat', createdAt: iso(now), version: '2024-10-01', pendingEvents: 0 }],
    ];
    for (const [i, events] of deliveries.entries()) {
      const res = await deliver(daemon.url, `ui-e2e-${i}`, events);
      expect(res.status).toBe(200);
    }
    await until(
      'the interference finding',
      async () => {
        const body = (await (await adminGet(daemon!.url, `/interference?deviceId=${DEVICE}`)).json()) as { data: unknown[] };
        return body.data.length > 0 ? body.data : undefined;
      },
      20_000,
    );
  }, 60_000);

  afterAll(async () => {
    await daemon?.proc.stop();
    if (dir) removeDir(dir);
  }, 30_000);

  it.skipIf(!hasChromium)(
    'logs in through the form, opens the device page and sees the timeline SVG with a finding',
    async () => {
      const url = daemon!.url;
      let browser: Browser | undefined;
      try {
        browser = await chromium.launch({
          executablePath: CHROMIUM,
          args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
          timeout: 30_000,
        });
        const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
        context.setDefaultTimeout(15_000);
        const page = await context.newPage();
        const consoleErrors: string[] = [];
        page.on('console', (m) => {
          if (m.type() === 'error') consoleErrors.push(m.text());
        });

        // Unauthenticated: sent to the login form.
        await page.goto(`${url}/ui/devices/${DEVICE}?hours=1`);
        expect(new URL(page.url()).pathname).toBe('/ui/login');

        await page.getByLabel('Admin token').fill(`${E2E_ADMIN}-wrong`);
        await page.getByRole('button', { name: 'Log in' }).click();
        await expect.poll(() => page.getByRole('alert').textContent()).toContain('not the admin token');

        await page.getByLabel('Admin token').fill(E2E_ADMIN);
        await page.getByRole('button', { name: 'Log in' }).click();
        await page.waitForURL(`${url}/ui/devices/${DEVICE}?hours=1`);
        const cookies = await context.cookies();
        const session = cookies.find((c) => c.name === 'enode_sync_session');
        expect(session).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/ui' });
        expect(session?.value).not.toContain(E2E_ADMIN);

        const svg = page.locator('svg.timeline');
        await svg.waitFor({ state: 'visible' });
        expect(await svg.getAttribute('role')).toBe('img');
        expect(await page.locator('svg.timeline .band[data-field="charging"] .segment').count()).toBeGreaterThanOrEqual(3);
        const marker = page.locator('svg.timeline .finding-marker').first();
        await marker.waitFor({ state: 'visible' });
        expect(await marker.locator('title').textContent()).toContain('ACTION_OVERRIDDEN');
        await expect.poll(() => page.locator('tr.finding').first().isVisible()).toBe(true);
        expect(await page.locator('svg.timeline .transition-explained title').first().textContent()).toContain('explained by own action act-start-1');

        // The stylesheet loaded under the CSP, and the CSP blocked nothing the page needs.
        const headerColor = await page.locator('header.top').evaluate(
          // Runs in the page (this project's tsconfig has no DOM lib).
          (el) => (globalThis as unknown as { getComputedStyle(e: unknown): { backgroundColor: string } }).getComputedStyle(el).backgroundColor,
        );
        expect(headerColor).toBe('rgb(22, 32, 46)');
        expect(consoleErrors.filter((m) => /Content Security Policy|Refused to/i.test(m))).toEqual([]);

        mkdirSync(ARTIFACTS, { recursive: true });
        await page.screenshot({ path: SCREENSHOT, fullPage: true });
        expect(existsSync(SCREENSHOT)).toBe(true);

        // The fleet overview lists the device and links to it (the budget chart links it too: its
        // actions count against the daily budget).
        await page.goto(`${url}/ui`);
        await page.getByRole('region', { name: 'vehicle devices' }).getByRole('link', { name: DEVICE, exact: true }).waitFor({ state: 'visible' });
        expect(await page.locator('.verdict').textContent()).toBe('ok');
        await page.screenshot({ path: join(ARTIFACTS, 'dashboard-fleet.png'), fullPage: true });
      } finally {
        await browser?.close();
      }
    },
    90_000,
  );

  it.skipIf(!hasChromium)(
    'the events page: rows expand to the envelope, the live tail prepends a new event, pauses and counts, and a phone shows it without overflow',
    async () => {
      const url = daemon!.url;
      let browser: Browser | undefined;
      try {
        browser = await chromium.launch({
          executablePath: CHROMIUM,
          args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
          timeout: 30_000,
        });
        const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
        context.setDefaultTimeout(15_000);
        const page = await context.newPage();
        const consoleErrors: string[] = [];
        page.on('console', (m) => {
          if (m.type() === 'error') consoleErrors.push(m.text());
        });
        await page.goto(`${url}/ui/login?next=%2Fui%2Fevents`);
        await page.getByLabel('Admin token').fill(E2E_ADMIN);
        await page.getByRole('button', { name: 'Log in' }).click();
        await page.waitForURL(`${url}/ui/events`);

        const rows = page.locator('#events-list > li.event');
        const status = page.locator('#events-live-status');
        await expect.poll(() => status.textContent()).toBe('Live: 0 new rows since the page loaded');
        const before = await rows.count();
        expect(before).toBeGreaterThan(3);
        await rows.first().locator('summary').click();
        const envelope = JSON.parse((await rows.first().locator('pre.ev-json').textContent()) ?? '{}') as { id: string };
        expect(envelope.id).toBe(await rows.first().getAttribute('data-id'));

        // A new device arrives while the page is open: its row appears on top, counted.
        expect((await deliver(url, 'ui-e2e-events-1', [vehicleEvent('car-new', Date.now() - MIN, { charging: false, batteryLevel: 80 })])).status).toBe(200);
        await expect.poll(() => rows.first().locator('.ev-device').textContent(), { timeout: 15_000 }).toBe('car-new');
        expect(await rows.first().locator('.ev-type').textContent()).toBe('device.discovered');
        expect(await rows.count()).toBe(before + 1);
        expect(await status.textContent()).toBe('Live: 1 new row since the page loaded');

        // Paused: the next event waits and is counted, then shows on resume. Only the battery level
        // moves (not a controlled field), so the reconciler (grace 0 here) adds no finding of its own.
        await page.getByRole('button', { name: 'Pause' }).click();
        expect((await deliver(url, 'ui-e2e-events-2', [vehicleEvent('car-new', Date.now(), { charging: false, batteryLevel: 81 })])).status).toBe(200);
        await expect.poll(() => status.textContent(), { timeout: 15_000 }).toBe('Paused: 1 new event waits');
        expect(await rows.count()).toBe(before + 1);
        await page.getByRole('button', { name: 'Resume' }).click();
        expect(await rows.first().locator('.ev-type').textContent()).toBe('device.updated');
        expect(await status.textContent()).toBe('Live: 2 new rows since the page loaded');
        expect(consoleErrors.filter((m) => /Content Security Policy|Refused to/i.test(m))).toEqual([]);
        mkdirSync(ARTIFACTS, { recursive: true });
        await page.screenshot({ path: join(ARTIFACTS, 'dashboard-events.png'), fullPage: true });

        // A phone: every column wraps inside the screen, the envelope included.
        const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
        const small = await phone.newPage();
        await phone.addCookies((await context.cookies()).filter((c) => c.name === 'enode_sync_session'));
        await small.goto(`${url}/ui/events`);
        await small.locator('#events-list > li.event summary').first().click();
        const widths = await small.evaluate(() => {
          const doc = (globalThis as unknown as { document: { documentElement: { scrollWidth: number; clientWidth: number } } }).document;
          return [doc.documentElement.scrollWidth, doc.documentElement.clientWidth];
        });
        expect(widths[0]).toBeLessThanOrEqual(widths[1]!);
        await small.screenshot({ path: join(ARTIFACTS, 'dashboard-events-phone.png'), fullPage: true });
      } finally {
        await browser?.close();
      }
    },
    90_000,
  );

  it.skipIf(!hasChromium)(
    'the console: finds ids from the header, shows a finding\'s evidence, acknowledges it, replays a delivery; held alerts and charts on the overview; a phone without overflow',
    async () => {
      const url = daemon!.url;
      const findingId = ((await (await adminGet(url, `/interference?deviceId=${DEVICE}`)).json()) as { data: Array<{ id: string }> }).data[0]!.id;
      let browser: Browser | undefined;
      try {
        browser = await chromium.launch({
          executablePath: CHROMIUM,
          args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
          timeout: 30_000,
        });
        const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
        context.setDefaultTimeout(15_000);
        const page = await context.newPage();
        const consoleErrors: string[] = [];
        page.on('console', (m) => {
          if (m.type() === 'error') consoleErrors.push(m.text());
        });
        await page.goto(`${url}/ui/login?next=%2Fui%3Frefresh%3Doff`);
        await page.getByLabel('Admin token').fill(E2E_ADMIN);
        await page.getByRole('button', { name: 'Log in' }).click();
        await page.waitForURL(`${url}/ui?refresh=off`);
        mkdirSync(ARTIFACTS, { recursive: true });

        // The overview: held alerts (the daemon has no sink) with the hint, and the charts.
        await page.getByRole('link', { name: 'Held (no sink)' }).waitFor({ state: 'visible' });
        expect(await page.locator('.hint').first().textContent()).toContain('ALERT_WEBHOOK_URLS');
        expect(await page.locator('svg.chart').count()).toBeGreaterThanOrEqual(3);
        expect(await page.locator('svg.chart rect.bar').count()).toBeGreaterThan(0);
        await page.screenshot({ path: join(ARTIFACTS, 'dashboard-overview.png'), fullPage: true });

        // Search from the header: a device id opens the device, a finding id its evidence.
        const search = page.getByRole('searchbox', { name: 'Find by id' });
        await search.fill(DEVICE);
        await search.press('Enter');
        await page.waitForURL(`${url}/ui/devices/${DEVICE}`);
        await page.getByRole('searchbox', { name: 'Find by id' }).fill(findingId);
        await page.getByRole('button', { name: 'Find' }).click();
        await page.waitForURL(`${url}/ui/findings/${findingId}`);
        await page.locator('table.evidence tr.changed').first().waitFor({ state: 'visible' });
        expect(await page.locator('table.evidence tr.changed').first().textContent()).toContain('charging');
        expect(await page.getByRole('heading', { name: 'Action involved' }).isVisible()).toBe(true);
        expect(await page.locator('dl.facts.card').textContent()).toContain('act-start-1');
        expect(await page.getByText('this finding').isVisible()).toBe(true);
        await page.screenshot({ path: join(ARTIFACTS, 'dashboard-finding.png'), fullPage: true });

        // Acknowledge with a note: the page says so, and the open list no longer holds it.
        await page.locator('#ack-note').fill('Customer app override; calling them.');
        await page.getByRole('button', { name: 'Acknowledge' }).click();
        await page.waitForURL(`${url}/ui/findings/${findingId}?result=acknowledged`);
        expect(await page.getByRole('status').textContent()).toBe('Acknowledged.');
        expect(await page.locator('dd.note').textContent()).toBe('Customer app override; calling them.');
        await page.screenshot({ path: join(ARTIFACTS, 'dashboard-finding-acknowledged.png'), fullPage: true });
        await page.goto(`${url}/ui/findings?deviceId=${DEVICE}&refresh=off`);
        expect(await page.locator(`a[href="/ui/findings/${findingId}"]`).count()).toBe(0);
        await page.goto(`${url}/ui/findings?deviceId=${DEVICE}&state=acknowledged&refresh=off`);
        expect(await page.locator(`a[href="/ui/findings/${findingId}"]`).count()).toBe(1);
        const events = (await (await adminGet(url, '/events?type=interference.acknowledged')).json()) as { data: Array<{ data: { finding: { id: string }; note: string } }> };
        expect(events.data.map((e) => [e.data.finding.id, e.data.note])).toEqual([[findingId, 'Customer app override; calling them.']]);

        // A delivery: headers, pretty payload, and Replay, which comes back with the outcome.
        await page.goto(`${url}/ui/deliveries?deviceId=${DEVICE}&refresh=off`);
        await page.getByRole('link', { name: 'ui-e2e-0' }).click();
        await page.waitForURL(`${url}/ui/deliveries/ui-e2e-0`);
        expect(await page.locator('pre.json').textContent()).toContain('"event": "user:vehicle:updated"');
        await page.getByRole('button', { name: 'Replay delivery ui-e2e-0' }).click();
        await page.waitForURL(`${url}/ui/deliveries/ui-e2e-0?result=applied`);
        expect(await page.getByRole('status').textContent()).toBe('Replayed: applied.');
        await page.screenshot({ path: join(ARTIFACTS, 'dashboard-delivery.png'), fullPage: true });
        expect(consoleErrors.filter((m) => /Content Security Policy|Refused to/i.test(m))).toEqual([]);

        // A phone: the overview, a list and the finding fit the screen; the header's search stays usable.
        const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
        await phone.addCookies((await context.cookies()).filter((c) => c.name === 'enode_sync_session'));
        const small = await phone.newPage();
        for (const path of ['/ui?refresh=off', '/ui/findings?state=all&refresh=off', `/ui/findings/${findingId}`, '/ui/alerts?refresh=off']) {
          await small.goto(`${url}${path}`);
          const widths = await small.evaluate(() => {
            const doc = (globalThis as unknown as { document: { documentElement: { scrollWidth: number; clientWidth: number } } }).document;
            return [doc.documentElement.scrollWidth, doc.documentElement.clientWidth];
          });
          expect(widths[0], path).toBeLessThanOrEqual(widths[1]!);
          expect(await small.getByRole('searchbox', { name: 'Find by id' }).isVisible()).toBe(true);
        }
        await small.goto(`${url}/ui?refresh=off`);
        await small.screenshot({ path: join(ARTIFACTS, 'dashboard-overview-phone.png'), fullPage: true });
        await small.getByRole('searchbox', { name: 'Find by id' }).fill(DEVICE);
        await small.getByRole('searchbox', { name: 'Find by id' }).press('Enter');
        await small.waitForURL(`${url}/ui/devices/${DEVICE}`);
      } finally {
        await browser?.close();
      }
    },
    120_000,
  );
  it.skipIf(!hasChromium)(
    'live refresh: a new delivery appears on the open list at the top without a reload by hand; scrolled down, "N new — show"; action, alert and search-result pages',
    async () => {
      const url = daemon!.url;
      let browser: Browser | undefined;
      try {
        browser = await chromium.launch({
          executablePath: CHROMIUM,
          args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
          timeout: 30_000,
        });
        const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
        context.setDefaultTimeout(15_000);
        const page = await context.newPage();
        const consoleErrors: string[] = [];
        page.on('console', (m) => {
          if (m.type() === 'error') consoleErrors.push(m.text());
        });
        await page.goto(`${url}/ui/login?next=%2Fui%2Fdeliveries`);
        await page.getByLabel('Admin token').fill(E2E_ADMIN);
        await page.getByRole('button', { name: 'Log in' }).click();
        await page.waitForURL(`${url}/ui/deliveries`);
        mkdirSync(ARTIFACTS, { recursive: true });

        // At the top of the deliveries list: a delivery that changes a device shows up by itself.
        const status = page.locator('#live-refresh .live-status');
        await expect.poll(() => status.textContent()).toBe('Live');
        expect(await page.getByRole('link', { name: 'ui-e2e-live-1' }).count()).toBe(0);
        expect((await deliver(url, 'ui-e2e-live-1', [vehicleEvent('car-live', Date.now() - MIN, { charging: false, batteryLevel: 30 })])).status).toBe(200);
        await page.getByRole('link', { name: 'ui-e2e-live-1' }).waitFor({ state: 'visible', timeout: 20_000 });
        expect(new URL(page.url()).pathname).toBe('/ui/deliveries');
        await expect.poll(() => status.textContent()).toBe('Live');
        await page.screenshot({ path: join(ARTIFACTS, 'dashboard-deliveries-live.png'), fullPage: true });

        // Scrolled down the overview: new events are offered, not forced; the button reloads.
        const small = await context.newPage();
        await small.setViewportSize({ width: 1280, height: 400 });
        await small.goto(`${url}/ui`);
        await expect.poll(() => small.locator('#live-refresh .live-status').textContent()).toBe('Live');
        await small.evaluate(() => (globalThis as unknown as { scrollTo(x: number, y: number): void }).scrollTo(0, 600));
        expect((await deliver(url, 'ui-e2e-live-2', [vehicleEvent('car-live', Date.now(), { charging: false, batteryLevel: 31 })])).status).toBe(200);
        const show = small.locator('#live-refresh .live-show');
        await show.waitFor({ state: 'visible', timeout: 20_000 });
        expect(await show.textContent()).toMatch(/^\d+ new — show$/);
        expect(await small.evaluate(() => (globalThis as unknown as { scrollY: number }).scrollY)).toBeGreaterThan(0);
        await small.evaluate(() => (globalThis as unknown as { scrollTo(x: number, y: number): void }).scrollTo(0, 0));
        await show.click();
        await expect.poll(() => small.locator('#live-refresh .live-show').isHidden(), { timeout: 20_000 }).toBe(true);
        await small.close();

        // An action's lifecycle, an alert's attempts, and a search that matches two kinds of record.
        await page.goto(`${url}/ui/actions/act-start-1`);
        await page.getByRole('heading', { name: /act-start-1/ }).waitFor({ state: 'visible' });
        expect(await page.locator('main').textContent()).toContain('CONFIRMED');
        await page.screenshot({ path: join(ARTIFACTS, 'dashboard-action.png'), fullPage: true });
        await page.goto(`${url}/ui/alerts?status=held&refresh=off`);
        const alertLink = page.locator('a[href^="/ui/alerts/"]').first();
        const alertHref = await alertLink.getAttribute('href');
        await alertLink.click();
        await page.waitForURL(`${url}${alertHref}`);
        expect(await page.locator('main').textContent()).toContain('interference.detected');
        await page.screenshot({ path: join(ARTIFACTS, 'dashboard-alert.png'), fullPage: true });
        expect((await deliver(url, 'car-shared', [vehicleEvent('car-shared', Date.now(), { charging: false, batteryLevel: 64 })])).status).toBe(200);
        await page.getByRole('searchbox', { name: 'Find by id' }).fill('car-shared');
        await page.getByRole('button', { name: 'Find' }).click();
        await page.waitForURL(`${url}/ui/search?q=car-shared`);
        expect(await page.locator('main a[href="/ui/devices/car-shared"]').count()).toBe(1);
        expect(await page.locator('main a[href="/ui/deliveries/car-shared"]').count()).toBe(1);
        await page.screenshot({ path: join(ARTIFACTS, 'dashboard-search.png'), fullPage: true });
        expect(consoleErrors.filter((m) => /Content Security Policy|Refused to/i.test(m))).toEqual([]);
      } finally {
        await browser?.close();
      }
    },
    120_000,
  );
});
