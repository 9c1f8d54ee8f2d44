// Routing, the quick switcher, discovery and invite links (issue 20 items 2 and 3), and a
// reload that resumes the socket from the position the last page kept (positions.ts):
// what arrived while the page was closed shows once, counted once.
import assert from 'node:assert/strict';

export async function navigation({ server, shot, person, register, send, messages, ask }) {
  const dora = await person('dora');
  const eve = await person('eve');
  // the texts of the plaintext messages Eve's socket has received (set before it opens)
  const eveGot = new Set();
  eve.page.on('websocket', (ws) => ws.on('framereceived', ({ payload }) => {
    const f = typeof payload === 'string' && payload.includes('"new_message"') ? JSON.parse(payload) : null;
    if (f?.type === 'new_message' && f.encryption === 'none' && f.ciphertext) eveGot.add(Buffer.from(f.ciphertext, 'base64').toString());
  }));
  await register(dora);
  await register(eve);
  const d = dora.page;
  const e = eve.page;
  const path = (page) => new URL(page.url()).pathname;
  // the sidebar's entries (a community page lists the same channels)
  const side = (page, name) => page.getByRole('navigation', { name: 'Conversations' }).getByRole('button', { name });

  // Dora makes a public community (listed in Discover) with a channel.
  await d.getByRole('button', { name: '+ Community' }).click();
  await d.getByRole('dialog').getByRole('textbox').fill('Open Town');
  await d.getByRole('dialog').getByLabel('Public: listed in Discover, anyone may join').check();
  await d.getByRole('dialog').getByRole('button', { name: 'OK' }).click();
  await d.getByRole('dialog').waitFor({ state: 'detached' });
  await ask(d, d.getByRole('button', { name: 'New group in Open Town' }), 'Main');
  await ask(d, d.getByRole('button', { name: 'New channel in Main' }), 'square');
  await ask(d, d.getByRole('button', { name: 'New channel in Main' }), 'garden');

  // A channel has its URL; a reload lands on it again.
  await side(d, /^square/).click();
  await d.getByRole('heading', { name: '# square' }).waitFor();
  assert.match(path(d), /^\/channel\/[0-9a-f-]{36}$/);
  const squareUrl = d.url();
  await send(d, 'deep link hello');
  await messages(d, 'deep link hello').waitFor();
  await d.reload();
  await d.getByRole('heading', { name: '# square' }).waitFor();
  await messages(d, 'deep link hello').waitFor();
  assert.equal(d.url(), squareUrl);

  // A thread has its URL too: opened by a reload, closed by Back.
  const hello = messages(d, 'deep link hello');
  await hello.hover();
  await hello.getByRole('button', { name: 'Reply in thread' }).click();
  await d.getByRole('complementary', { name: 'Thread' }).waitFor();
  await d.waitForURL(/\/thread\//);
  await d.reload();
  await d.getByRole('complementary', { name: 'Thread' }).waitFor();
  await d.goBack();
  await d.waitForURL(squareUrl);
  await d.getByRole('complementary', { name: 'Thread' }).waitFor({ state: 'detached' });

  // Back and forward move between channels.
  await side(d, /^garden/).click();
  await d.getByRole('heading', { name: '# garden' }).waitFor();
  await d.goBack();
  await d.getByRole('heading', { name: '# square' }).waitFor();
  await d.goForward();
  await d.getByRole('heading', { name: '# garden' }).waitFor();

  // The quick switcher: keyboard only.
  await d.keyboard.press('Control+k');
  const switcher = d.getByRole('dialog', { name: 'Quick switcher' });
  await switcher.waitFor();
  await d.keyboard.type('sqr');
  await switcher.getByRole('option', { name: /square/, selected: true }).waitFor();
  await shot(d, 'quick-switcher');
  await d.keyboard.press('Enter');
  await switcher.waitFor({ state: 'detached' });
  await d.getByRole('heading', { name: '# square' }).waitFor();
  assert.equal(d.url(), squareUrl);
  await d.keyboard.press('Control+k');
  await d.keyboard.type('open twn');
  await d.keyboard.press('Enter');
  await d.getByRole('heading', { name: 'Open Town', level: 1 }).waitFor();
  assert.match(path(d), /^\/community\//);
  await shot(d, 'community');

  // Eve finds the community in Discover and joins it: its channel opens for her.
  await e.getByRole('button', { name: 'Discover' }).click();
  assert.equal(path(e), '/discover');
  await e.getByRole('button', { name: 'Join Open Town' }).waitFor();
  await shot(e, 'discover');
  await e.getByRole('button', { name: 'Join Open Town' }).click();
  await e.getByRole('heading', { name: 'Open Town', level: 1 }).waitFor();
  await side(e, /^square/).click();
  await messages(e, 'deep link hello').waitFor();

  // A deep link opened in a fresh page of the same person lands there.
  const deep = await eve.context.newPage();
  await deep.goto(squareUrl);
  await messages(deep, 'deep link hello').waitFor();
  await deep.close();

  // An invite link to a private community, opened by someone not signed up yet.
  await ask(d, d.getByRole('button', { name: '+ Community' }), 'Hidden Club');
  await d.getByRole('button', { name: 'Invite people to Hidden Club' }).click();
  const link = await d.getByTestId('invite-link').inputValue();
  await d.getByRole('button', { name: 'Close' }).click();
  assert.match(new URL(link).pathname, /^\/invite\/[\w-]+$/);
  const finn = await person('finn');
  const f = finn.page;
  await f.goto(link);
  await f.getByRole('button', { name: 'New here? Create an account' }).click();
  await f.getByLabel('Username').fill('finn');
  await f.getByLabel('Password').fill('correct horse battery staple 42');
  await f.getByRole('button', { name: 'Create account' }).click();
  await f.getByRole('heading', { name: 'You are invited' }).waitFor();
  await f.getByText('Hidden Club').first().waitFor();
  await shot(f, 'invite');
  await f.getByRole('button', { name: 'Join Hidden Club' }).click();
  await f.getByRole('heading', { name: 'Hidden Club', level: 1 }).waitFor();
  assert.match(path(f), /^\/community\//);
  await finn.context.close();

  // A DM has its URL (/dm/…), and the lock.
  await d.getByRole('button', { name: 'New direct message' }).click();
  await d.getByRole('dialog').getByRole('textbox').fill('eve');
  await d.getByRole('dialog').getByRole('button', { name: /Eve/ }).click();
  await d.getByRole('heading', { name: 'Eve' }).waitFor();
  await send(d, 'dm before the reload');
  await messages(d, 'dm before the reload').getByLabel('encrypted').waitFor();
  await d.waitForURL(/\/dm\/[0-9a-f-]{36}$/);
  await messages(e, 'deep link hello').waitFor();
  await side(e, /^Dora/).getByLabel('1 unread').waitFor();

  // A search hit far back in a channel Eve has not opened: the channel opens at the hit
  // (a window), scrolling down loads the newer pages until the live end, where a new
  // message joins once.
  await side(d, /^garden/).click();
  await send(d, 'needle in the garden');
  await messages(d, 'needle in the garden').locator('text=sending…').waitFor({ state: 'detached' });
  for (let i = 0; i < 30; i++) await send(d, `filler ${i}`);
  await messages(d, 'filler 29').waitFor();
  await messages(d, 'filler 29').locator('text=sending…').waitFor({ state: 'detached' });
  assert.equal(await d.getByText(/not sent/).count(), 0, 'no send refused (rate_limited)');
  // Dora's sends are committed (31 sends and their mark_reads at once: over the server's
  // frame bucket unless paced, gateway.ts), but the window's pages answer as of Eve's
  // socket's position: until her socket has the last one, the end she may see can be the end
  for (let i = 0; i < 300 && !eveGot.has('filler 29'); i++) await e.waitForTimeout(100);
  const missing = ['needle in the garden', ...Array.from({ length: 30 }, (_, i) => `filler ${i}`)].filter((t) => !eveGot.has(t));
  assert.deepEqual(missing, [], "Eve's socket has every message");
  await e.getByRole('button', { name: 'Search messages' }).click();
  await e.getByRole('dialog').getByLabel('Words to find').fill('needle');
  await e.getByRole('dialog').getByRole('button', { name: 'Search' }).click();
  await e.getByRole('dialog').getByRole('button', { name: /needle in the garden/ }).click();
  await e.getByRole('heading', { name: '# garden' }).waitFor();
  await e.locator('.msg.focused', { hasText: 'needle in the garden' }).waitFor();
  await e.getByText('Newer messages below…').waitFor();
  assert.equal(await messages(e, 'filler 29').count(), 0, 'a window, not the end');
  for (let i = 0; i < 20 && (await messages(e, 'filler 29').count()) === 0; i++) {
    await e.locator('ol.messages').evaluate((el) => (el.scrollTop = el.scrollHeight));
    await e.waitForTimeout(300);
  }
  await messages(e, 'filler 29').waitFor();
  await e.getByText('Newer messages below…').waitFor({ state: 'detached' });
  for (const t of ['needle in the garden', 'filler 0', 'filler 24', 'filler 25', 'filler 29']) assert.equal(await messages(e, t).count(), 1, t);
  await send(d, 'live after the window');
  await messages(e, 'live after the window').waitFor();
  assert.equal(await messages(e, 'live after the window').count(), 1);

  // Eve's page closes. What comes meanwhile arrives once when she opens the app again:
  // the new page resumes the socket from the position the last one kept.
  const kept = await e.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('chatalot.position.')).length);
  assert.equal(kept, 1, 'the gateway position is kept');
  await e.close();
  await side(d, /^Eve/).click();
  await d.getByRole('heading', { name: 'Eve' }).waitFor();
  await send(d, 'dm while eve was away');
  await messages(d, 'dm while eve was away').getByLabel('encrypted').waitFor();
  await side(d, /^square/).click();
  await send(d, 'square while eve was away');
  await messages(d, 'square while eve was away').waitFor();
  const e2 = await eve.context.newPage();
  e2.on('dialog', (x) => x.dismiss());
  const auths = [];
  e2.on('websocket', (ws) => ws.on('framesent', (f) => {
    if (typeof f.payload === 'string' && f.payload.includes('"authenticate"')) auths.push(JSON.parse(f.payload));
  }));
  await e2.goto(server.url);
  await e2.getByRole('status').filter({ hasText: 'Connected' }).waitFor();
  assert.equal(typeof auths[0]?.resume_after, 'string', 'the new page resumes from the kept position');
  const square = side(e2, /^square/);
  await square.getByLabel('1 unread').waitFor();
  const dm = side(e2, /^Dora/);
  await dm.getByLabel('2 unread').waitFor();
  await e2.waitForTimeout(1000); // a replay counted twice would show by now
  assert.equal(await square.getByLabel('1 unread').count(), 1);
  assert.equal(await dm.getByLabel('2 unread').count(), 1);
  await dm.click();
  await messages(e2, 'dm while eve was away').getByLabel('encrypted').waitFor();
  assert.equal(await messages(e2, 'dm while eve was away').count(), 1);
  assert.equal(await messages(e2, 'dm before the reload').count(), 1);
  assert.equal(await e2.getByTestId('undecryptable').count(), 0);
  await square.click();
  await messages(e2, 'square while eve was away').waitFor();
  assert.equal(await messages(e2, 'square while eve was away').count(), 1);
  await send(e2, 'back again');
  await messages(d, 'back again').waitFor();
  assert.equal(await messages(d, 'back again').count(), 1);
  // Read receipts: Dora sees that Eve read her DM up to its last message.
  await side(d, /^Eve/).click();
  await messages(d, 'dm while eve was away').getByTestId('seen-by').filter({ hasText: 'Seen by Eve' }).waitFor();
  assert.equal(await d.getByTestId('seen-by').count(), 1);

  await dora.context.close();
  await eve.context.close();
}
