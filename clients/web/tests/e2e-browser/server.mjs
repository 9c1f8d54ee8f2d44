// A real `chatalot serve` for the browser tests: the repository's .venv, an embedded
// PostgreSQL in a temporary data directory (never the machine's), open registration.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = new URL('../../../../', import.meta.url).pathname;

export class Server {
  constructor(port) {
    this.port = port;
    this.url = `http://127.0.0.1:${port}`;
    this.dataDir = mkdtempSync(join(tmpdir(), 'chatalot-web-e2e-'));
    this.proc = null;
    this.log = '';
  }

  async start() {
    const env = {
      ...process.env,
      CHATALOT_DATA_DIR: this.dataDir,
      HOST: '127.0.0.1',
      PORT: String(this.port),
      REGISTRATION_MODE: 'open',
      // every browser and the SDK peer come from 127.0.0.1: one per-IP bucket for all of
      // them, which a busy machine's bursts emptied now and then (429 on a plain click)
      CHATALOT_RATE_LIMIT_GENERAL_PER_SEC: '200',
      CHATALOT_RATE_LIMIT_GENERAL_BURST: '400',
      CHATALOT_WEB_DIR: join(ROOT, 'clients/web/build'),
    };
    delete env.DATABASE_URL;
    delete env.REDIS_URL;
    this.proc = spawn(join(ROOT, '.venv/bin/chatalot'), ['serve', '--log-level', 'warning'], { env, cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (d) => (this.log = (this.log + d).slice(-20000));
    this.proc.stdout.on('data', keep);
    this.proc.stderr.on('data', keep);
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline) {
      if (this.proc.exitCode !== null) throw new Error(`chatalot serve exited:\n${this.log}`);
      try {
        const res = await fetch(`${this.url}/api/health`);
        if (res.ok) return;
      } catch {
        /* not up yet */
      }
      await new Promise((r) => setTimeout(r, 300));
    }
    throw new Error(`chatalot serve did not start:\n${this.log}`);
  }

  async stop() {
    if (!this.proc || this.proc.exitCode !== null) return;
    const done = new Promise((r) => this.proc.once('exit', r));
    this.proc.kill('SIGTERM');
    const timeout = setTimeout(() => this.proc.kill('SIGKILL'), 30_000);
    await done;
    clearTimeout(timeout);
  }

  cleanup() {
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}
