import { describe, expect, it, vi } from 'vitest';
import { Gateway, PACE, type Frame } from '../../src/lib/app/gateway';

/** A fake WebSocket: records what the client sends; the test plays the server. */
class FakeSocket {
  sent: Frame[] = [];
  onopen: (() => void) | null = null;
  onmessage: ((ev: { data: string }) => void) | null = null;
  onclose: (() => void) | null = null;
  send(data: string) {
    this.sent.push(JSON.parse(data));
  }
  close() {
    this.onclose?.();
  }
  server(frame: Frame) {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }
}

const tick = () => new Promise((r) => setTimeout(r, 0));

async function connected(sockets: FakeSocket[], frames: Frame[]) {
  const gw = new Gateway({
    url: 'ws://x/ws',
    token: async () => 'tok',
    onFrame: (f) => frames.push(f),
    socket: () => {
      const s = new FakeSocket();
      sockets.push(s);
      return s as unknown as WebSocket;
    },
  });
  gw.start();
  await tick();
  return gw;
}

describe('gateway', () => {
  it('resumes after the last position seen and sends unanswered commands again after `resumed`', async () => {
    const sockets: FakeSocket[] = [];
    const frames: Frame[] = [];
    const gw = await connected(sockets, frames);
    const first = sockets[0];
    first.onopen!();
    expect(first.sent[0]).toEqual({ type: 'authenticate', token: 'tok' });
    first.server({ type: 'authenticated', position: 'p0' });
    expect(gw.state).toBe('live');
    first.server({ type: 'new_message', message_id: 'm1', position: 'p1' });
    const answer = gw.command({ type: 'send_message', client_id: 'c1' });
    expect(first.sent[1]).toMatchObject({ type: 'send_message', client_id: 'c1' });
    first.close(); // the server went away before answering

    await new Promise((r) => setTimeout(r, 600));
    const second = sockets[1];
    second.onopen!();
    expect(second.sent[0]).toEqual({ type: 'authenticate', token: 'tok', resume_after: 'p1' });
    second.server({ type: 'authenticated', position: 'p0' });
    expect(second.sent).toHaveLength(1); // nothing re-sent during the replay
    second.server({ type: 'new_message', message_id: 'm2', position: 'p2' });
    second.server({ type: 'resumed', position: 'p2' });
    expect(second.sent[1]).toMatchObject({ type: 'send_message', client_id: 'c1', ref: first.sent[1].ref });
    second.server({ type: 'message_sent', ref: first.sent[1].ref, id: 'm3', position: 'p3' });
    await expect(answer).resolves.toMatchObject({ id: 'm3' });
    expect(gw.position).toBe('p2'); // a command's answer is not an event of the feed
    gw.stop();
  });

  it('an error frame rejects the command with its code', async () => {
    const sockets: FakeSocket[] = [];
    const gw = await connected(sockets, []);
    sockets[0].onopen!();
    sockets[0].server({ type: 'authenticated', position: 'p0' });
    const answer = gw.command({ type: 'add_reaction', message_id: 'm', emoji: 'x' });
    sockets[0].server({ type: 'error', ref: sockets[0].sent[1].ref, code: 'forbidden', message: 'no' });
    await expect(answer).rejects.toMatchObject({ code: 'forbidden' });
    gw.stop();
  });

  it("keeps under the server's token bucket (burst 30, 10/s), in order: a burst of sends lost none", async () => {
    const sockets: FakeSocket[] = [];
    const gw = await connected(sockets, []);
    const s = sockets[0];
    s.onopen!();
    s.server({ type: 'authenticated', position: 'p0' });
    vi.useFakeTimers();
    try {
      // the server's bucket, replayed on the times the frames went out
      let tokens = 30;
      let at = Date.now();
      let refused = 0;
      const send = s.send.bind(s);
      s.send = (data: string) => {
        tokens = Math.min(30, tokens + ((Date.now() - at) / 1000) * 10);
        at = Date.now();
        if (tokens >= 1) tokens -= 1;
        else refused += 1;
        send(data);
      };
      // 40 sends, each followed by a mark_read, typed as fast as a test types them
      for (let i = 0; i < 40; i++) {
        void gw.command({ type: 'send_message', client_id: `c${i}` });
        void gw.command({ type: 'mark_read', channel_id: 'ch', message_id: `m${i}` });
        await vi.advanceTimersByTimeAsync(20);
      }
      const sends = () => s.sent.filter((f) => f.type === 'send_message').map((f) => f.client_id);
      expect(sends().length).toBeLessThan(40); // paced, not all at once
      await vi.advanceTimersByTimeAsync(((80 - PACE.burst) / PACE.perSec) * 1000 + 500);
      expect(sends()).toEqual(Array.from({ length: 40 }, (_, i) => `c${i}`));
      expect(s.sent.filter((f) => f.type === 'mark_read')).toHaveLength(40);
      expect(refused).toBe(0);
    } finally {
      vi.useRealTimers();
      gw.stop();
    }
  });
});
