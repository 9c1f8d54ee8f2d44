/**
 * The WebSocket gateway client (protocol.md, "/ws"): authenticate, remember the position of
 * every event seen, and after any drop reconnect with `resume_after` so the server replays
 * exactly what was missed (no gap; the app drops what it already holds by id, no double).
 * Sends that were not answered yet are sent again after a reconnect: they carry a
 * client_id, so the server applies them once.
 */

export type Frame = { type: string; position?: string; ref?: string; [key: string]: unknown };

export interface GatewayOptions {
  url: string;
  token: () => Promise<string | null>;
  onFrame: (frame: Frame) => void;
  onState?: (state: GatewayState) => void;
  /** Where a previous page stopped (src/lib/app/positions.ts): the first socket resumes after it. */
  position?: string | null;
  /** The server refused that position (malformed, another server's): it is dropped, the next socket starts fresh. */
  onPositionRefused?: () => void;
  /** The socket factory (tests pass a fake). */
  socket?: (url: string) => WebSocket;
}

export type GatewayState = 'connecting' | 'live' | 'offline';

const BACKOFF_MS = [500, 1000, 2000, 4000, 8000];

/**
 * The server's per-socket token bucket (protocol.md: burst 30, refill 10/s) drops a frame
 * over it with `rate_limited`: a burst of sends (each also followed by its mark_read) lost
 * its last messages. Frames go out paced under a slightly smaller bucket (margin for frames
 * that arrive bunched), in order; the wait is a fraction of a second per frame over it.
 */
export const PACE = { burst: 25, perSec: 8 };

export class Gateway {
  position: string | null = null;
  state: GatewayState = 'offline';
  private ws: WebSocket | null = null;
  private attempts = 0;
  private stopped = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private refs = 0;
  /** Frames awaiting their answer, by ref: sent again after a reconnect. */
  private readonly pending = new Map<string, { frame: Frame; resolve: (f: Frame) => void; reject: (e: Error) => void }>();
  /** Frames waiting for the pace (see PACE), oldest first; a new socket starts with none. */
  private outbox: string[] = [];
  private tokens = PACE.burst;
  private refilledAt = Date.now();
  private paceTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly opts: GatewayOptions) {
    this.position = opts.position ?? null;
  }

  start(): void {
    this.stopped = false;
    void this.connect();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.paceTimer);
    this.outbox = [];
    this.ws?.close(1000);
    this.ws = null;
    this.setState('offline');
  }

  private setState(state: GatewayState): void {
    this.state = state;
    this.opts.onState?.(state);
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    this.setState('connecting');
    const token = await this.opts.token();
    if (!token || this.stopped) return;
    const ws = (this.opts.socket ?? ((u) => new WebSocket(u)))(this.opts.url);
    this.ws = ws;
    // a new socket has a full bucket on the server; what waited for the old one is either
    // pending (sent again once live) or a fire-and-forget frame (dropped when offline)
    this.outbox = [];
    this.tokens = PACE.burst;
    this.refilledAt = Date.now();
    clearTimeout(this.paceTimer);
    ws.onopen = () => {
      this.resumeRequested = this.position !== null;
      ws.send(JSON.stringify(this.position ? { type: 'authenticate', token, resume_after: this.position } : { type: 'authenticate', token }));
    };
    ws.onmessage = (ev) => {
      let frame: Frame;
      try {
        frame = JSON.parse(String(ev.data)) as Frame;
      } catch {
        return;
      }
      this.receive(frame);
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.setState('offline');
      if (this.stopped) return;
      const wait = BACKOFF_MS[Math.min(this.attempts, BACKOFF_MS.length - 1)];
      this.attempts += 1;
      this.timer = setTimeout(() => void this.connect(), wait);
    };
  }

  /** Handle one server frame (public for tests). */
  receive(frame: Frame): void {
    if (frame.type === 'error' && this.resumeRequested && !frame.ref && frame.code === 'bad_request') {
      // a refused resume_after (the socket is being closed): start fresh next time
      this.position = null;
      this.resumeRequested = false;
      this.opts.onPositionRefused?.();
    }
    if (frame.type === 'authenticated') {
      if (!this.position && typeof frame.position === 'string') this.position = frame.position;
      // Without a resume the socket is live at once; with one, after `resumed`.
      const resuming = this.resumeRequested;
      if (!resuming) this.live();
      this.opts.onFrame(resuming ? { ...frame, resuming: true } : frame);
      return;
    }
    if (frame.type === 'resumed') {
      if (typeof frame.position === 'string') this.position = frame.position;
      this.live();
      this.opts.onFrame(frame);
      return;
    }
    if (frame.ref && this.pending.has(frame.ref)) {
      const p = this.pending.get(frame.ref)!;
      this.pending.delete(frame.ref);
      if (frame.type === 'error') p.reject(Object.assign(new Error(String(frame.message)), { code: frame.code }));
      else p.resolve(frame);
    }
    this.opts.onFrame(frame);
    if (typeof frame.position === 'string' && frame.type !== 'message_sent' && frame.type !== 'ack') {
      this.position = frame.position;
    }
  }

  private resumeRequested = false;

  private live(): void {
    this.attempts = 0;
    this.resumeRequested = false;
    this.setState('live');
    for (const [, p] of this.pending) this.paced(JSON.stringify(p.frame));
  }

  /** Send now if the pace allows and nothing waits before it, else after what waits. */
  private paced(data: string): void {
    this.outbox.push(data);
    this.flush();
  }

  private flush(): void {
    clearTimeout(this.paceTimer);
    const now = Date.now();
    this.tokens = Math.min(PACE.burst, this.tokens + ((now - this.refilledAt) / 1000) * PACE.perSec);
    this.refilledAt = now;
    while (this.outbox.length && this.tokens >= 1) {
      if (this.state !== 'live' || !this.ws) {
        this.outbox = [];
        return;
      }
      this.tokens -= 1;
      this.ws.send(this.outbox.shift()!);
    }
    if (this.outbox.length) this.paceTimer = setTimeout(() => this.flush(), Math.ceil(((1 - this.tokens) / PACE.perSec) * 1000));
  }

  /** Send a frame; resolves with its answer (message_sent, ack) or rejects with an error frame. */
  command(frame: Frame): Promise<Frame> {
    const ref = frame.ref ?? `r${++this.refs}`;
    const withRef = { ...frame, ref };
    return new Promise((resolve, reject) => {
      this.pending.set(ref, { frame: withRef, resolve, reject });
      if (this.state === 'live') this.paced(JSON.stringify(withRef));
    });
  }

  /** A frame without an answer to wait for (typing, presence): dropped when offline. */
  fire(frame: Frame): void {
    if (this.state === 'live') this.paced(JSON.stringify(frame));
  }
}
