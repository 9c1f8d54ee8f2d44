import { describe, expect, it } from 'vitest';
import { Gateway, type Frame } from '../../src/lib/app/gateway';
import { forgetPosition, loadPosition, savePosition } from '../../src/lib/app/positions';

class MapStore {
  m = new Map<string, string>();
  getItem(k: string) {
    return this.m.get(k) ?? null;
  }
  setItem(k: string, v: string) {
    this.m.set(k, v);
  }
  removeItem(k: string) {
    this.m.delete(k);
  }
}

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

describe('gateway position kept per account', () => {
  it('is kept per account and forgotten on request', () => {
    const store = new MapStore();
    expect(loadPosition('u1', store)).toBeNull();
    savePosition('u1', 'p7', store);
    savePosition('u2', 'p9', store);
    expect(loadPosition('u1', store)).toBe('p7');
    expect(loadPosition('u2', store)).toBe('p9');
    forgetPosition('u1', store);
    expect(loadPosition('u1', store)).toBeNull();
    expect(loadPosition('u2', store)).toBe('p9');
  });

  it('a broken store never breaks the app', () => {
    const broken = { getItem: () => { throw new Error('x'); }, setItem: () => { throw new Error('x'); }, removeItem: () => { throw new Error('x'); } };
    expect(loadPosition('u', broken)).toBeNull();
    expect(() => savePosition('u', 'p', broken)).not.toThrow();
    expect(() => forgetPosition('u', broken)).not.toThrow();
  });

  it('a new page resumes after the kept position; a refused one is dropped and the next socket starts fresh', async () => {
    const store = new MapStore();
    savePosition('u', 'p5', store);
    const sockets: FakeSocket[] = [];
    const frames: Frame[] = [];
    let refused = 0;
    const gw = new Gateway({
      url: 'ws://x/ws',
      token: async () => 'tok',
      position: loadPosition('u', store),
      onPositionRefused: () => {
        refused++;
        forgetPosition('u', store);
      },
      onFrame: (f) => frames.push(f),
      socket: () => {
        const s = new FakeSocket();
        sockets.push(s);
        return s as unknown as WebSocket;
      },
    });
    gw.start();
    await tick();
    sockets[0].onopen!();
    expect(sockets[0].sent[0]).toEqual({ type: 'authenticate', token: 'tok', resume_after: 'p5' });
    // the server replays: frames flagged as a resume until `resumed`
    sockets[0].server({ type: 'authenticated', position: 'p9' });
    expect(frames[0]).toMatchObject({ type: 'authenticated', resuming: true });
    expect(gw.state).toBe('connecting');
    sockets[0].server({ type: 'new_message', message_id: 'm6', position: 'p6' });
    sockets[0].server({ type: 'resumed', position: 'p9' });
    expect(gw.state).toBe('live');
    expect(gw.position).toBe('p9');
    expect(refused).toBe(0);

    // another server's position: refused, forgotten, and the next socket authenticates without it
    sockets[0].close();
    await new Promise((r) => setTimeout(r, 600));
    gw.position = 'bogus';
    sockets[1].onopen!();
    expect(sockets[1].sent[0]).toMatchObject({ resume_after: 'bogus' });
    sockets[1].server({ type: 'error', code: 'bad_request', message: 'malformed resume_after' });
    expect(refused).toBe(1);
    expect(loadPosition('u', store)).toBeNull();
    sockets[1].close();
    await new Promise((r) => setTimeout(r, 1100));
    sockets[2].onopen!();
    expect(sockets[2].sent[0]).toEqual({ type: 'authenticate', token: 'tok' });
    gw.stop();
  });
});
