// The settings screens in a real browser against a real `chatalot serve` (issue 20 items
// 1, 4, 8): profile (name, status, avatar and banner, seen by the other person live),
// preferences kept in the account (theme, accent, density, time format; read receipts
// honoured by the server), notifications (permission asked from a click, desktop
// notifications and sounds, per-channel levels, do-not-disturb), TOTP (set up with the
// secret, sign in with a code and with a backup code, turn off), and the password reset
// with the recovery code. Screenshots of every settings tab at desktop and phone widths go
// to test-results/. Port: $CHATALOT_WEB_E2E_PORT (else 18811), one server at a time.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { test, after, before } from 'node:test';
import { chromium } from 'playwright-core';
import { Server } from './server.mjs';

const CHROMIUM = process.env.CHATALOT_CHROMIUM ?? '/usr/bin/chromium';
const PORT = Number(process.env.CHATALOT_WEB_E2E_PORT ?? 18811);
const SHOTS = new URL('../../test-results/', import.meta.url).pathname;
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAABAAAAAQCAIAAACQkWg2AAAAFklEQVR4nGPIjf1DEmIY1TCqYfhqAADMusYQ7xpkMQAAAABJRU5ErkJggg==',
  'base64',
);
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
const PASSWORD = 'correct horse battery staple 42';

// Records desktop notifications instead of showing them (headless Chromium has none), and
// grants the permission when asked, as a person clicking "Allow" would.
const FAKE_NOTIFICATIONS = () => {
  window.__notes = [];
  class FakeNotification {
    static permission = 'default';
    static async requestPermission() {
      FakeNotification.permission = 'granted';
      return 'granted';
    }
    constructor(title, options = {}) {
      window.__notes.push({ title, body: options.body, tag: options.tag });
    }
    close() {}
  }
  window.Notification = FakeNotification;
};

let server;
let browser;
const people = [];

before(async () => {
  assert.ok(existsSync(new URL('../../build/index.html', import.meta.url)), 'run `npm run build` first');
  mkdirSync(SHOTS, { recursive: true });
  server = new Server(PORT);
  await server.start();
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
});

after(async () => {
  await browser?.close();
  await server?.stop();
  server?.cleanup();
});

async function person(name) {
  const context = await browser.newContext({ viewport: DESKTOP, locale: 'en-GB' });
  await context.addInitScript(FAKE_NOTIFICATIONS);
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error(`[${name}] page error:`, e.message));
  page.on('dialog', (d) => d.dismiss());
  if (process.env.DEBUG_FRAMES) page.on('console', (m) => console.log(`[${name}] console:`, m.type(), m.text()));
  if (process.env.DEBUG_FRAMES) page.on('websocket', (ws) => ws.on('framereceived', (f) => { if (!/typing|presence/.test(String(f.payload))) console.log(`${name}<-`, String(f.payload).slice(0, 200)); }));
  await page.goto(server.url);
  const p = { context, page, name, display: name[0].toUpperCase() + name.slice(1) };
  people.push(p);
  return p;
}

async function register(p) {
  const { page } = p;
  await page.getByRole('button', { name: 'New here? Create an account' }).click();
  await page.getByLabel('Username').fill(p.name);
  await page.getByLabel('Display name').fill(p.display);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByText(`Welcome, ${p.display}`).waitFor();
  p.recoveryCode = (await page.locator('.recovery code').textContent()).trim();
  await page.getByRole('status').filter({ hasText: 'Connected' }).waitFor();
}

async function signIn(page, username, password, code) {
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  if (code !== undefined) {
    await page.getByLabel('Authenticator code').fill(code);
    await page.getByRole('button', { name: 'Sign in' }).click();
  }
  await page.getByRole('status').filter({ hasText: 'Connected' }).waitFor();
}

async function logOut(page) {
  await openSettings(page, 'Profile');
  await page.getByRole('button', { name: 'Log out', exact: true }).click();
  await page.getByRole('button', { name: 'Sign in' }).waitFor();
}

async function shot(page, name) {
  await page.screenshot({ path: `${SHOTS}${name}-desktop.png` });
  const size = page.viewportSize();
  await page.setViewportSize(PHONE);
  await page.waitForTimeout(150);
  await page.screenshot({ path: `${SHOTS}${name}-phone.png` });
  await page.setViewportSize(size);
}

async function ask(page, button, value) {
  await button.click();
  const dialog = page.getByRole('dialog');
  await dialog.getByRole('textbox').fill(value);
  await dialog.getByRole('button', { name: 'OK' }).click();
  await dialog.waitFor({ state: 'detached' });
}

async function openSettings(page, tab) {
  await page.getByRole('button', { name: 'Settings' }).click();
  await page.getByRole('tab', { name: tab }).click();
  return page.getByRole('tabpanel');
}

const closeDialog = (page) => page.getByRole('dialog').getByRole('button', { name: 'Close' }).click();
const messages = (page, text) => page.getByTestId('message').filter({ hasText: text });

async function send(page, text) {
  await page.locator('#composer').fill(text);
  await page.locator('#composer').press('Enter');
}

/** RFC 6238 (SHA-1, 6 digits, 30 s), as an authenticator app computes it. */
function totp(secret, step) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of secret.replace(/[\s=]/g, '').toUpperCase()) bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const h = createHmac('sha1', key).update(counter).digest();
  const o = h[19] & 15;
  return String((h.readUInt32BE(o) & 0x7fffffff) % 1_000_000).padStart(6, '0');
}

/** An API call from the page, with its session's token. */
function api(page, method, path, body) {
  return page.evaluate(
    async ([method, path, body]) => {
      const tokens = JSON.parse(localStorage.getItem('chatalot.tokens') ?? '{}');
      const res = await fetch(`/api${path}`, {
        method,
        headers: { Authorization: `Bearer ${tokens.access_token}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
        body: body ? JSON.stringify(body) : undefined,
      });
      return { status: res.status, json: await res.json().catch(() => null) };
    },
    [method, path, body],
  );
}

test('settings: profile, preferences, notifications, TOTP, recovery', { timeout: 300_000 }, async () => {
  try {
    await scenario();
  } catch (e) {
    for (const p of people) await p.page.screenshot({ path: `${SHOTS}failure-settings-${p.name}.png` }).catch(() => {});
    throw e;
  }
});

async function scenario() {
  const dana = await person('dana');
  const eve = await person('eve');
  await register(dana);
  await register(eve);
  const d = dana.page;
  const e = eve.page;
  // A community with two channels; Eve joins by invite.
  await ask(d, d.getByRole('button', { name: '+ Community' }), 'Club');
  await ask(d, d.getByRole('button', { name: 'New group in Club' }), 'Rooms');
  await ask(d, d.getByRole('button', { name: 'New channel in Rooms' }), 'chat');
  await ask(d, d.getByRole('button', { name: 'New channel in Rooms' }), 'other');
  await d.getByRole('button', { name: 'Invite people to Club' }).click();
  const code = await d.getByTestId('invite-code').inputValue();
  await closeDialog(d);
  await ask(e, e.getByRole('button', { name: 'Join invite' }), code);
  const chatOf = (page) => page.getByRole('button', { name: /^chat/ });
  const otherOf = (page) => page.getByRole('button', { name: /^other/ });
  await chatOf(d).click();
  await send(d, 'hello from dana');
  await chatOf(e).click();
  await messages(e, 'hello from dana').getByText('Dana', { exact: true }).waitFor();

  // Tabs work from the keyboard.
  await d.getByRole('button', { name: 'Settings' }).click();
  await d.getByRole('tab', { name: 'Profile' }).focus();
  await d.keyboard.press('ArrowRight');
  assert.equal(await d.getByRole('tab', { name: 'Preferences' }).getAttribute('aria-selected'), 'true');
  assert.equal(await d.evaluate(() => document.activeElement?.textContent), 'Preferences');
  await d.keyboard.press('End');
  assert.equal(await d.getByRole('tab', { name: 'Encryption keys' }).getAttribute('aria-selected'), 'true');
  await d.keyboard.press('ArrowRight');
  assert.equal(await d.getByRole('tab', { name: 'Profile' }).getAttribute('aria-selected'), 'true');

  // Profile: name and status saved, avatar and banner uploaded; Eve sees the new name and
  // picture on Dana's message without reloading (user_profile_updated).
  let panel = d.getByRole('tabpanel');
  await panel.getByLabel('Display name').fill('Dana D.');
  await panel.getByLabel('Status message').fill('Testing settings');
  await panel.getByLabel('Pronouns').fill('she/her');
  await panel.getByRole('button', { name: 'Save profile' }).click();
  await panel.getByRole('status').filter({ hasText: 'Profile saved.' }).waitFor();
  await panel.getByLabel('Upload avatar').setInputFiles({ name: 'me.png', mimeType: 'image/png', buffer: PNG });
  await panel.getByRole('status').filter({ hasText: 'Avatar updated.' }).waitFor();
  assert.match(await d.getByTestId('avatar-preview').getAttribute('src'), /^\/api\/avatars\/.+\.webp$/);
  await panel.getByLabel('Upload banner').setInputFiles({ name: 'wide.png', mimeType: 'image/png', buffer: PNG });
  await panel.getByRole('status').filter({ hasText: 'Banner updated.' }).waitFor();
  await panel.getByLabel('Do not disturb').check();
  await panel.getByRole('status').filter({ hasText: 'Shown as do not disturb.' }).waitFor();
  await shot(d, 'settings-profile');
  await closeDialog(d);
  await messages(e, 'hello from dana').getByText('Dana D.', { exact: true }).waitFor();
  await messages(e, 'hello from dana').locator('img.avatar').waitFor();
  const me = await api(d, 'GET', '/account/me');
  assert.equal(me.json.custom_status, 'Testing settings');
  assert.equal(me.json.pronouns, 'she/her');
  assert.match(me.json.banner_url, /^\/api\/avatars\//);
  assert.equal((await d.request.get(`${server.url}${me.json.avatar_url}`)).status(), 200);

  // Preferences: kept in the account, applied at once and after a reload.
  panel = await openSettings(d, 'Preferences');
  await panel.getByLabel('Light').check();
  await panel.getByLabel('Green').check();
  await panel.getByLabel('Compact').check();
  await panel.getByLabel('12-hour').check();
  await shot(d, 'settings-preferences');
  await closeDialog(d);
  const look = () => d.evaluate(() => ({ ...document.documentElement.dataset }));
  assert.deepEqual(await look(), { theme: 'light', accent: 'green', density: 'compact' });
  await messages(d, 'hello from dana').locator('time').filter({ hasText: /[ap]m/i }).waitFor();
  await shot(d, 'channel-compact-green');
  await d.reload();
  await d.getByRole('status').filter({ hasText: 'Connected' }).waitFor();
  await d.waitForFunction(() => document.documentElement.dataset.accent === 'green');
  assert.deepEqual(await look(), { theme: 'light', accent: 'green', density: 'compact' });
  const prefs = (await api(d, 'GET', '/account/preferences')).json.preferences;
  assert.equal(prefs.time_format, '12h');
  assert.equal(prefs.presence, 'dnd');

  // Read receipts off: the server keeps Dana's cursor from Eve; on again: Eve sees it.
  const chatId = (await api(e, 'GET', '/channels')).json.find((c) => c.name === 'chat').id;
  const danaId = me.json.id;
  const cursorOfDana = async () => (await api(e, 'GET', `/channels/${chatId}/read-cursors`)).json.items.find((c) => c.user_id === danaId);
  panel = await openSettings(d, 'Preferences');
  await panel.getByLabel('Send read receipts').uncheck();
  await closeDialog(d);
  await otherOf(d).click();
  await send(e, 'receipt off');
  await chatOf(d).getByLabel('1 unread').waitFor();
  await chatOf(d).click();
  await messages(d, 'receipt off').waitFor();
  await chatOf(d).getByLabel('1 unread').waitFor({ state: 'detached' });
  await d.waitForTimeout(500);
  assert.equal(await cursorOfDana(), undefined, 'no receipt while read receipts are off');
  panel = await openSettings(d, 'Preferences');
  await panel.getByLabel('Send read receipts').check();
  await closeDialog(d);
  await otherOf(d).click();
  await send(e, 'receipt on');
  await chatOf(d).getByLabel('1 unread').waitFor();
  await chatOf(d).click();
  await messages(d, 'receipt on').waitFor();
  for (let i = 0; i < 50 && !(await cursorOfDana()); i++) await d.waitForTimeout(200);
  assert.ok(await cursorOfDana(), 'the receipt shows once they are on');

  // Notifications: the permission asked from a click, sounds on, every message; Dana looks
  // at "other" while Eve writes in "chat".
  panel = await openSettings(d, 'Notifications');
  await panel.getByRole('button', { name: 'Allow desktop notifications' }).click();
  await panel.getByTestId('permission').filter({ hasText: 'allows notifications' }).waitFor();
  await panel.getByLabel('Play a sound').check();
  await panel.getByLabel('By default').selectOption('all');
  await closeDialog(d);
  await otherOf(d).click();
  const notes = () => d.evaluate(() => window.__notes.map((n) => n.body));
  const chimes = () => d.evaluate(() => window.__chatalotChimes ?? 0);
  const chimesBefore = await chimes();
  await send(e, 'ping one');
  await d.waitForFunction(() => window.__notes.length === 1);
  assert.deepEqual(await notes(), ['ping one']);
  assert.equal(await d.evaluate(() => window.__notes[0].title), 'Eve');
  assert.equal(await chimes(), chimesBefore + 1);
  // nothing for the channel being watched
  await send(d, 'in other');
  await otherOf(e).click();
  await send(e, 'while dana watches');
  await messages(d, 'while dana watches').waitFor();
  await chatOf(e).click();
  // The chat's own level: nothing (from the bell in its header).
  await chatOf(d).click();
  await d.getByRole('button', { name: 'Notifications for this conversation' }).click();
  await d.getByRole('radio', { name: 'Nothing' }).check();
  await d.getByRole('button', { name: 'Notifications for this conversation' }).filter({ hasText: '🔕' }).waitFor();
  await d.keyboard.press('Escape');
  await d.getByRole('radio', { name: 'Nothing' }).waitFor({ state: 'detached' });
  await otherOf(d).click();
  await send(e, 'ping two');
  await chatOf(d).getByLabel('1 unread').waitFor();
  await d.waitForTimeout(300);
  assert.deepEqual(await notes(), ['ping one']);
  // Mentions only: a mention notifies.
  panel = await openSettings(d, 'Notifications');
  await panel.getByLabel('Notifications for # chat').selectOption('mentions');
  await closeDialog(d);
  await send(e, 'plain three');
  await chatOf(d).getByLabel('2 unread').waitFor();
  await send(e, '@dana ping four');
  await d.waitForFunction(() => window.__notes.length === 2);
  assert.deepEqual(await notes(), ['ping one', '@dana ping four']);
  // Do not disturb: nothing at all, not even a mention.
  panel = await openSettings(d, 'Notifications');
  await panel.getByLabel('Silence every notification and sound').selectOption('forever');
  await panel.getByTestId('dnd-on').waitFor();
  await shot(d, 'settings-notifications');
  await closeDialog(d);
  const chimesQuiet = await chimes();
  await send(e, '@dana ping five');
  await chatOf(d).getByLabel('4 unread').waitFor();
  await d.waitForTimeout(300);
  assert.equal((await notes()).length, 2);
  assert.equal(await chimes(), chimesQuiet);
  const stored = (await api(d, 'GET', '/account/preferences')).json.preferences;
  assert.equal(stored.dnd, true);
  assert.equal(stored.notifications, 'all');
  assert.equal(stored.channel_notifications[chatId], 'mentions');

  // TOTP: set up with the secret, confirmed with a code; backup codes shown once.
  panel = await openSettings(d, 'Security');
  await panel.getByRole('button', { name: 'Set up two-factor authentication' }).click();
  const secret = (await panel.getByTestId('totp-secret').textContent()).replace(/\s/g, '');
  const step = Math.floor(Date.now() / 30_000);
  await panel.getByLabel('Code from the app').fill(totp(secret, step));
  await panel.getByRole('button', { name: 'Turn on' }).click();
  await panel.getByTestId('totp-state').filter({ hasText: 'On. 8 backup codes left.' }).waitFor();
  const backup = (await panel.getByTestId('backup-codes').locator('li').allTextContents()).map((c) => c.trim());
  assert.equal(backup.length, 8);
  await shot(d, 'settings-security');
  await closeDialog(d);
  // Sign-in asks for the code now: the next time step's code (each code works once).
  await logOut(d);
  await signIn(d, 'dana', PASSWORD, totp(secret, step + 1));
  await logOut(d);
  // A backup code instead of the app.
  await signIn(d, 'dana', PASSWORD, backup[0]);
  panel = await openSettings(d, 'Security');
  await panel.getByTestId('totp-state').filter({ hasText: '7 backup codes left' }).waitFor();
  const off = panel.locator('form').filter({ hasText: 'To turn it off' });
  await off.getByLabel('Password').fill(PASSWORD);
  await off.getByLabel('Code').fill(backup[1]);
  await off.getByRole('button', { name: 'Turn off two-factor authentication' }).click();
  await panel.getByTestId('totp-state').filter({ hasText: 'Off.' }).waitFor();
  await closeDialog(d);

  // The password reset with the recovery code given at sign-up; then signing in with it.
  await logOut(d);
  await d.getByRole('button', { name: 'Forgot your password?' }).click();
  await d.getByLabel('Username').fill('dana');
  await d.getByLabel('Recovery code').fill(dana.recoveryCode.toLowerCase());
  await d.getByLabel('New password').fill('a brand new passphrase 77');
  await shot(d, 'recover');
  await d.getByRole('button', { name: 'Set new password' }).click();
  const next = (await d.getByTestId('new-recovery-code').textContent()).trim();
  assert.match(next, /^[A-Z0-9]{4}(-[A-Z0-9]{4}){3}$/);
  assert.notEqual(next, dana.recoveryCode);
  await d.getByRole('button', { name: 'Sign in' }).click();
  assert.equal(await d.getByLabel('Username').inputValue(), 'dana');
  await signIn(d, 'dana', 'a brand new passphrase 77');
  // The old code no longer works.
  const again = await d.request.post(`${server.url}/api/auth/recover`, {
    data: { username: 'dana', recovery_code: dana.recoveryCode, new_password: 'yet another passphrase 88' },
  });
  assert.equal(again.status(), 401);

  await dana.context.close();
  await eve.context.close();
}
