// The browser tests (issue 20 item 8): Debian's Chromium driven by playwright-core against
// a real `chatalot serve`. Two people register (keys made in their browsers), join a
// community through an invite, chat in a plaintext channel (markdown, unread badge,
// reaction, edit), chat end-to-end encrypted in a DM (lock shown, same safety number on
// both sides), and the server restarts while a message is being sent: it arrives once,
// nothing is lost or doubled. Screenshots of the main screens at desktop and phone widths
// go to test-results/ (not committed).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { test, after, before } from 'node:test';
import { chromium } from 'playwright-core';
import { Server } from './server.mjs';
import { audit, found, report } from './a11y.mjs';
import { navigation } from './nav.mjs';

const CHROMIUM = process.env.CHATALOT_CHROMIUM ?? '/usr/bin/chromium';
const PORT = Number(process.env.CHATALOT_WEB_E2E_PORT ?? 18810);
const SHOTS = new URL('../../test-results/', import.meta.url).pathname;
// a small PNG (the server re-encodes plaintext images; an encrypted one is an opaque blob)
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAABAAAAAQCAIAAACQkWg2AAAAFklEQVR4nGPIjf1DEmIY1TCqYfhqAADMusYQ7xpkMQAAAABJRU5ErkJggg==',
  'base64',
);
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };

let server;
let browser;

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
  const context = await browser.newContext({ viewport: DESKTOP });
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error(`[${name}] page error:`, e.message));
  page.on('console', (m) => {
    if ((m.type() === 'error' || m.type() === 'warning') && !/ERR_CONNECTION_REFUSED|404/.test(m.text())) console.error(`[${name}] console:`, m.text());
  });
  page.on('dialog', (d) => d.dismiss());
  await page.goto(server.url);
  const p = { context, page, name };
  people.push(p);
  return p;
}

async function register(p, shots = false) {
  const { page } = p;
  await page.getByRole('button', { name: 'New here? Create an account' }).click();
  if (shots) await shot(page, 'register');
  await page.getByLabel('Username').fill(p.name);
  await page.getByLabel('Display name').fill(p.name[0].toUpperCase() + p.name.slice(1));
  await page.getByLabel('Password').fill('correct horse battery staple 42');
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByText(`Welcome, ${p.name[0].toUpperCase()}`).waitFor();
  await page.getByRole('status').filter({ hasText: 'Connected' }).waitFor();
}

/** A screenshot of a main screen at desktop and phone widths, each audited (a11y.mjs). */
async function shot(page, name) {
  await page.screenshot({ path: `${SHOTS}${name}-desktop.png` });
  await audit(page, `${name} (desktop)`);
  const size = page.viewportSize();
  await page.setViewportSize(PHONE);
  await page.waitForTimeout(150);
  await page.screenshot({ path: `${SHOTS}${name}-phone.png` });
  await audit(page, `${name} (phone)`);
  await page.setViewportSize(size);
}

async function ask(page, button, value) {
  await button.click();
  const dialog = page.getByRole('dialog');
  await dialog.getByRole('textbox').fill(value);
  await dialog.getByRole('button', { name: 'OK' }).click();
  await dialog.waitFor({ state: 'detached' });
}

const messages = (page, text) => page.getByTestId('message').filter({ hasText: text });

async function send(page, text) {
  await page.locator('#composer').fill(text);
  await page.locator('#composer').press('Enter');
}

const people = [];
test('two people chat: plaintext channel, E2E DM, reactions, edits, unreads, a server restart', { timeout: 300_000 }, async () => {
  try {
    await scenario();
  } catch (e) {
    for (const p of people) await p.page.screenshot({ path: `${SHOTS}failure-${p.name}.png` }).catch(() => {});
    throw e;
  }
});

test('links, the quick switcher, discovery, invite links, a reload resuming the socket', { timeout: 240_000 }, async () => {
  await navigation({ browser, server, shot, person, register, send, messages, ask, SHOTS });
});

test('no serious or critical accessibility violation on the main screens (axe-core)', () => {
  assert.equal(found.length, 0, `axe found:\n${report()}`);
});

async function scenario() {
  const alice = await person('alice');
  await shot(alice.page, 'login');
  const bob = await person('bob');
  await register(alice, true);
  await register(bob);

  // Alice makes a community with a group and a channel, and invites Bob.
  const a = alice.page;
  await ask(a, a.getByRole('button', { name: '+ Community' }), 'Team');
  await ask(a, a.getByRole('button', { name: 'New group in Team' }), 'General');
  await ask(a, a.getByRole('button', { name: 'New channel in General' }), 'chat');
  await a.getByRole('button', { name: 'Invite people to Team' }).click();
  const code = await a.getByTestId('invite-code').inputValue();
  await a.getByRole('button', { name: 'Close' }).click();

  const b = bob.page;
  await ask(b, b.getByRole('button', { name: 'Join invite' }), code);
  const bobChat = b.getByRole('button', { name: /^chat/ });
  await bobChat.waitFor();

  // Plaintext: markdown rendered (and sanitised), an unread badge before Bob opens it.
  await a.getByRole('button', { name: /^chat/ }).click();
  await send(a, 'hello **bob** <img src=x onerror=alert(1)>');
  await messages(a, 'hello').waitFor();
  await b.getByRole('button', { name: /^chat/ }).getByLabel('1 unread').waitFor();
  await bobChat.click();
  const first = messages(b, 'hello');
  await first.locator('strong', { hasText: 'bob' }).waitFor();
  assert.equal(await first.locator('img').count(), 0, 'raw HTML must not become an element');
  await assert.doesNotReject(b.getByRole('button', { name: /^chat/ }).getByLabel('1 unread').waitFor({ state: 'detached' }));

  // Bob reacts; Alice sees it. Alice edits; Bob sees the new text.
  await first.hover();
  await first.getByRole('button', { name: 'React', exact: true }).click();
  await b.getByRole('button', { name: 'React 👍' }).click();
  await messages(a, 'hello').getByRole('button', { name: '👍 1' }).waitFor();
  const mine = messages(a, 'hello');
  await mine.hover();
  await mine.getByRole('button', { name: 'Edit' }).click();
  await a.locator('#composer').fill('hello **bob**, welcome');
  await a.locator('#composer').press('Enter');
  await messages(b, 'welcome').getByText('(edited)').waitFor();
  await send(b, 'thanks alice');
  await messages(a, 'thanks alice').waitFor();
  // A plaintext image: uploaded, shown inline on both sides.
  await a.locator('#attach').setInputFiles({ name: 'dot.png', mimeType: 'image/png', buffer: PNG });
  await b.getByTestId('attachment-image').first().waitFor();
  await a.getByTestId('attachment-image').first().waitFor();
  await shot(a, 'channel');

  // An E2E DM: Bob starts it, both see the lock and the same safety number.
  await b.getByRole('button', { name: 'New direct message' }).click();
  await b.getByRole('dialog').getByRole('textbox').fill('alice');
  await b.getByRole('dialog').getByRole('button', { name: /Alice/ }).click();
  await b.getByRole('heading', { name: 'Alice' }).waitFor();
  await send(b, 'this one is secret');
  await messages(b, 'this one is secret').getByLabel('encrypted').waitFor();
  const dmButton = a.getByRole('button', { name: /^Bob/ });
  await dmButton.getByLabel('1 unread').waitFor();
  await dmButton.click();
  await a.getByRole('heading', { name: 'Bob' }).waitFor();
  await messages(a, 'this one is secret').getByLabel('encrypted').waitFor();
  await send(a, 'and so is this');
  await messages(b, 'and so is this').waitFor();
  // An image in the E2E DM: encrypted in Bob's browser, decrypted in Alice's.
  await b.locator('#attach').setInputFiles({ name: 'secret.png', mimeType: 'image/png', buffer: PNG });
  await a.getByTestId('attachment-image').first().waitFor();
  assert.match(await a.getByTestId('attachment-image').first().getAttribute('src'), /^blob:/);
  await a.getByText('End-to-end encrypted').first().waitFor();
  await shot(a, 'dm');
  await a.getByRole('button', { name: 'Safety number' }).click();
  const numberA = await a.getByTestId('safety-number').textContent();
  await shot(a, 'safety-number');
  await a.getByRole('button', { name: 'Close' }).click();
  await b.getByRole('button', { name: 'Safety number' }).click();
  const numberB = await b.getByTestId('safety-number').textContent();
  await b.getByRole('button', { name: 'Close' }).click();
  assert.match(numberA ?? '', /^(\d{5} ){11}\d{5}$/);
  assert.equal(numberA, numberB);

  // A mention: Bob picks Alice after `@` in the channel; Alice (in the DM) sees @1 on it.
  await bobChat.click();
  await b.locator('#composer').pressSequentially('@al');
  await b.getByRole('listbox', { name: 'Mention suggestions' }).getByRole('option', { name: /Alice/ }).waitFor();
  await shot(b, 'mention-autocomplete');
  await b.locator('#composer').press('Enter');
  assert.equal(await b.locator('#composer').inputValue(), '@alice ');
  await b.locator('#composer').pressSequentially('look here');
  await b.locator('#composer').press('Enter');
  const aliceChat = a.getByRole('button', { name: /^chat/ });
  await aliceChat.getByLabel('1 mentions').waitFor();
  await aliceChat.click();
  await a.locator('.msg.mentioned', { hasText: 'look here' }).waitFor();
  await aliceChat.getByLabel('1 mentions').waitFor({ state: 'detached' });

  // A thread: Bob replies in the thread of his message; Alice sees "1 reply" and opens it.
  const look = messages(b, 'look here');
  await look.hover();
  await look.getByRole('button', { name: 'Reply in thread' }).click();
  await b.locator('#thread-composer').fill('in the thread');
  await b.locator('#thread-composer').press('Enter');
  await b.getByTestId('thread-message').filter({ hasText: 'in the thread' }).waitFor();
  await messages(a, 'look here').getByRole('button', { name: '💬 1 reply' }).click();
  await a.getByTestId('thread-message').filter({ hasText: 'in the thread' }).waitFor();
  assert.equal(await messages(a, 'in the thread').count(), 0, 'thread replies stay out of the main timeline');
  await shot(a, 'thread');
  await a.getByRole('button', { name: 'Close panel' }).click();
  // Pins (Alice owns the community), edit history, bookmarks.
  await messages(a, 'look here').hover();
  await messages(a, 'look here').getByRole('button', { name: 'Pin' }).click();
  await a.getByRole('status').filter({ hasText: 'Pinned.' }).waitFor();
  await b.getByRole('button', { name: 'Pinned messages' }).click();
  await b.getByTestId('pin').filter({ hasText: 'look here' }).waitFor();
  await b.getByRole('button', { name: 'Close panel' }).click();
  await messages(a, 'welcome').hover();
  await messages(a, 'welcome').getByRole('button', { name: 'Edit history' }).click();
  await a.getByTestId('version').nth(1).filter({ hasText: 'welcome' }).waitFor();
  assert.match(await a.getByTestId('version').first().textContent(), /^Original\s.*hello bob <img src=x/s);
  assert.equal(await a.getByTestId('version').first().locator('img').count(), 0, 'old versions are sanitised too');
  await a.getByRole('button', { name: 'Close panel' }).click();
  await messages(b, 'thanks alice').hover();
  await messages(b, 'thanks alice').getByRole('button', { name: 'Bookmark' }).click();
  await b.getByRole('status').filter({ hasText: 'Bookmarked.' }).waitFor();
  await b.getByRole('button', { name: 'Bookmarks' }).click();
  await b.getByTestId('bookmark').filter({ hasText: 'thanks alice' }).waitFor();
  await b.getByRole('button', { name: 'Close panel' }).click();

  // A poll: Alice creates it, Bob votes, Alice sees the result live and closes it.
  await a.getByRole('button', { name: 'Polls' }).click();
  await a.getByLabel('Question').fill('Lunch?');
  await a.getByLabel('Options, one per line').fill('pizza\nsushi');
  await a.getByRole('button', { name: 'Create poll' }).click();
  await a.getByTestId('poll').filter({ hasText: 'Lunch?' }).waitFor();
  await b.getByRole('button', { name: 'Polls' }).click();
  const bobPoll = b.getByTestId('poll').filter({ hasText: 'Lunch?' });
  await bobPoll.getByRole('radio', { name: 'sushi' }).check();
  await bobPoll.getByRole('button', { name: 'Vote' }).click();
  await a.getByTestId('poll').getByText('1 voter').waitFor();
  await a.getByTestId('poll').getByLabel('sushi: 1 votes').waitFor();
  await shot(a, 'poll');
  await a.getByRole('button', { name: 'Close poll' }).click();
  await bobPoll.getByText('closed').waitFor();
  await a.getByRole('button', { name: 'Close panel' }).click();
  await b.getByRole('button', { name: 'Close panel' }).click();
  // A scheduled message: Bob schedules it a few seconds ahead; it arrives on Alice's side.
  await b.getByRole('button', { name: 'Scheduled messages' }).click();
  await b.getByLabel('Message', { exact: true }).fill('scheduled hello');
  const soon = await b.evaluate(() => {
    const d = new Date(Date.now() + 4000);
    const p = (n) => String(n).padStart(2, '0');
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  });
  await b.getByLabel('Send at').fill(soon);
  await b.getByRole('button', { name: 'Schedule', exact: true }).click();
  await b.getByTestId('scheduled').filter({ hasText: 'scheduled hello' }).waitFor();
  await messages(a, 'scheduled hello').waitFor();
  await b.getByRole('button', { name: 'Close panel' }).click();

  // An E2E group channel (sender keys): Alice makes it, both chat in it.
  await a.getByRole('button', { name: 'New channel in General' }).click();
  await a.getByRole('dialog').getByRole('textbox').fill('secret');
  await a.getByRole('dialog').getByLabel('End-to-end encrypted').check();
  await a.getByRole('dialog').getByRole('button', { name: 'OK' }).click();
  await a.getByRole('button', { name: /^secret/ }).click();
  await a.getByText('End-to-end encrypted').first().waitFor();
  await send(a, 'group secret from alice');
  await messages(a, 'group secret from alice').getByLabel('encrypted').waitFor();
  const bobSecret = b.getByRole('button', { name: /^secret/ });
  await bobSecret.waitFor();
  await bobSecret.click();
  await messages(b, 'group secret from alice').getByLabel('encrypted').waitFor();
  await send(b, 'group secret from bob');
  await messages(a, 'group secret from bob').waitFor();
  assert.equal(await b.getByTestId('undecryptable').count(), 0);
  await shot(b, 'group-e2e');

  // The server restarts; a message sent while it is down arrives once on both sides.
  await a.getByRole('button', { name: /^chat/ }).click();
  await b.getByRole('button', { name: /^chat/ }).click();
  await server.stop();
  await a.getByRole('status').filter({ hasText: 'Offline' }).or(a.getByRole('status').filter({ hasText: 'Connecting' })).first().waitFor();
  await send(a, 'sent while the server was down');
  await server.start();
  await a.getByRole('status').filter({ hasText: 'Connected' }).waitFor({ timeout: 60_000 });
  await b.getByRole('status').filter({ hasText: 'Connected' }).waitFor({ timeout: 60_000 });
  await messages(b, 'sent while the server was down').waitFor({ timeout: 30_000 });
  await messages(a, 'sent while the server was down').locator('text=sending…').waitFor({ state: 'detached' });
  await send(b, 'after the restart');
  await messages(a, 'after the restart').waitFor();
  await b.waitForTimeout(1000);
  assert.equal(await messages(b, 'sent while the server was down').count(), 1);
  assert.equal(await messages(a, 'sent while the server was down').count(), 1);
  assert.equal(await messages(a, 'after the restart').count(), 1);
  // A reload shows the same history from the server: still once each.
  await b.reload();
  await b.getByRole('button', { name: /^chat/ }).click();
  await messages(b, 'after the restart').waitFor();
  assert.equal(await messages(b, 'sent while the server was down').count(), 1);

  // Search: the server finds plaintext messages, the browser its decrypted E2E ones.
  await a.getByRole('button', { name: 'Search messages' }).click();
  await a.getByRole('dialog').getByLabel('Words to find').fill('restart');
  await a.getByRole('dialog').getByRole('button', { name: 'Search' }).click();
  await a.getByRole('dialog').getByRole('button', { name: /after the restart/ }).waitFor();
  await a.getByRole('dialog').getByLabel('Words to find').fill('group secret');
  await a.getByRole('dialog').getByRole('button', { name: 'Search' }).click();
  await a.getByRole('dialog').getByRole('button', { name: /in this browser/ }).first().waitFor();
  await shot(a, 'search');
  await a.getByRole('button', { name: 'Close' }).click();

  // Settings (theme switch kept in the account's preferences).
  await a.getByRole('button', { name: 'Settings' }).click();
  await a.getByRole('tab', { name: 'Preferences' }).click();
  await a.getByLabel('Light').check();
  await shot(a, 'settings');
  await a.getByRole('button', { name: 'Close' }).click();
  assert.equal(await a.evaluate(() => document.documentElement.dataset.theme), 'light');
  await shot(a, 'channel-light');

  // A reload keeps the session; the E2E history shows from the texts the vault kept.
  await a.reload();
  await a.getByRole('button', { name: /^Bob/ }).click();
  await messages(a, 'this one is secret').waitFor();
  await messages(a, 'and so is this').waitFor();
  // Log out, log back in (same browser, same keys): still readable.
  await a.getByRole('button', { name: 'Settings' }).click();
  await a.getByRole('button', { name: 'Log out', exact: true }).click();
  await a.getByRole('button', { name: 'Sign in' }).waitFor();
  await a.getByLabel('Username').fill('alice');
  await a.getByLabel('Password').fill('correct horse battery staple 42');
  await a.getByRole('button', { name: 'Sign in' }).click();
  await a.getByRole('button', { name: /^Bob/ }).click();
  await messages(a, 'this one is secret').waitFor();
  assert.equal(await a.getByTestId('undecryptable').count(), 0);
  // A browser without Alice's keys (another device) shows the DM as not decryptable.
  const elsewhere = await person('alice-elsewhere');
  const e = elsewhere.page;
  await e.getByLabel('Username').fill('alice');
  await e.getByLabel('Password').fill('correct horse battery staple 42');
  await e.getByRole('button', { name: 'Sign in' }).click();
  await e.getByRole('button', { name: /^Bob/ }).click();
  await e.getByTestId('undecryptable').first().waitFor();
  await shot(e, 'cannot-decrypt');
  // That browser registers new keys (password-confirmed): Bob is warned before he uses them.
  await e.getByRole('button', { name: 'Set up keys' }).click();
  await e.getByRole('tabpanel').getByText('This browser has no keys for your account').waitFor();
  await shot(e, 'settings-keys');
  await e.getByRole('dialog').getByLabel('Password').fill('correct horse battery staple 42');
  await e.getByRole('button', { name: 'Register new keys for this browser' }).click();
  await e.getByText('New keys registered for this browser.').waitFor();
  await e.getByRole('button', { name: 'Close' }).click();
  await b.getByRole('button', { name: /^Alice/ }).click();
  await b.getByRole('alert').filter({ hasText: 'security key changed' }).waitFor();
  await shot(b, 'key-changed');
  await b.getByRole('button', { name: 'Accept new key' }).click();
  await b.getByRole('alert').filter({ hasText: 'security key changed' }).waitFor({ state: 'detached' });
  await send(b, 'to your new keys');
  await messages(e, 'to your new keys').waitFor();
  assert.equal(await messages(e, 'to your new keys').getByTestId('undecryptable').count(), 0);
  await elsewhere.context.close();

  await alice.context.close();
  await bob.context.close();
}

// The Python SDK (clients/python) as the other side of an E2E DM: tests/e2e-browser/sdk_peer.py.
const PYTHON = process.env.CHATALOT_PYTHON ?? new URL('../../../../.venv/bin/python', import.meta.url).pathname;
const SDK_PEER = new URL('./sdk_peer.py', import.meta.url).pathname;
async function sdk(keyFile, ...args) {
  const { stdout } = await promisify(execFile)(PYTHON, [SDK_PEER, args[0], server.url, keyFile, ...args.slice(1)], {
    cwd: new URL('../../../../', import.meta.url).pathname,
  });
  return JSON.parse(stdout);
}

test('a browser and a Python SDK client exchange E2E DMs both ways', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'chatalot-sdk-peer-'));
  const keyFile = join(dir, 'sam.keys');
  const carol = await person('carol');
  try {
    const sam = await sdk(keyFile, 'register', 'sam', 'correct horse battery staple 42', 'Sam');
    await register(carol);
    const c = carol.page;
    // Carol's user id, from her access token (a JWT: `sub`).
    const carolId = await c.evaluate(() => {
      const tokens = JSON.parse(localStorage.getItem('chatalot.tokens') ?? '{}');
      const jwt = Object.values(tokens).find((v) => typeof v === 'string' && v.split('.').length === 3);
      return JSON.parse(atob(jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/'))).sub;
    });
    // DMs need a shared community: Carol makes one and the SDK joins by invite.
    await ask(c, c.getByRole('button', { name: '+ Community' }), 'Lab');
    await c.getByRole('button', { name: 'Invite people to Lab' }).click();
    const code = await c.getByTestId('invite-code').inputValue();
    await c.getByRole('button', { name: 'Close' }).click();
    await sdk(keyFile, 'join-invite', code);
    // The SDK starts the DM (X3DH from Carol's bundle); the browser decrypts it.
    await sdk(keyFile, 'send-dm', carolId, 'hello carol, from python');
    const dmButton = c.getByRole('button', { name: /^Sam/ });
    await dmButton.getByLabel('1 unread').waitFor();
    await dmButton.click();
    await c.getByRole('heading', { name: 'Sam' }).waitFor();
    await messages(c, 'from python').getByLabel('encrypted').waitFor();
    // The browser answers in the same session; the SDK decrypts it.
    await send(c, 'hello sam, from a browser');
    await messages(c, 'from a browser').getByLabel('encrypted').waitFor();
    const dms = await sdk(keyFile, 'dms');
    assert.equal(dms.length, 1);
    assert.equal(dms[0].peer, carolId);
    const said = (list) => list.map((m) => [m.sender_id === sam.user_id ? 'sam' : 'carol', m.encryption, m.text, m.error]);
    assert.deepEqual(said(dms[0].messages), [
      ['sam', 'double_ratchet', 'hello carol, from python', null],
      ['carol', 'double_ratchet', 'hello sam, from a browser', null],
    ]);
    // A second round after the ratchet turned, each way.
    await sdk(keyFile, 'send-dm', carolId, 'second from python');
    await messages(c, 'second from python').getByLabel('encrypted').waitFor();
    await send(c, 'second from the browser');
    await messages(c, 'second from the browser').getByLabel('encrypted').waitFor();
    const again = await sdk(keyFile, 'dms');
    assert.deepEqual(said(again[0].messages).slice(2), [
      ['sam', 'double_ratchet', 'second from python', null],
      ['carol', 'double_ratchet', 'second from the browser', null],
    ]);
    assert.equal(await c.getByTestId('undecryptable').count(), 0);
    // Both sides compute the same safety number.
    await c.getByRole('button', { name: 'Safety number' }).click();
    const shown = (await c.getByTestId('safety-number').textContent()).replace(/\s/g, '');
    await c.getByRole('button', { name: 'Close' }).click();
    assert.equal(shown, (await sdk(keyFile, 'safety-number', carolId)).number);
    await shot(c, 'sdk-dm');
  } catch (e) {
    await carol.page.screenshot({ path: `${SHOTS}failure-sdk-${carol.name}.png` }).catch(() => {});
    throw e;
  } finally {
    await carol.context.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
