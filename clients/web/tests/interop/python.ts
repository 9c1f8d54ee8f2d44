/** Runs the Python library as a peer (tests/interop/py_peer.py) from vitest. */

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { REPO_ROOT } from '../helpers';

const SCRIPT = resolve(REPO_ROOT, 'clients', 'web', 'tests', 'interop', 'py_peer.py');

/** $CHATALOT_PYTHON, else the repository's .venv (scripts/install dev), else python3. */
export function pythonExecutable(): string {
  const fromEnv = process.env.CHATALOT_PYTHON;
  if (fromEnv) return fromEnv;
  const venv = resolve(REPO_ROOT, '.venv', 'bin', 'python');
  return existsSync(venv) ? venv : 'python3';
}

export interface PeerState {
  keys?: string | null;
  dm_store?: string | null;
  user_id?: string | null;
  sender_store?: string | null;
}

export interface PeerReply {
  results: unknown[];
  dm_store: string | null;
  sender_store: string | null;
}

export type Op = Record<string, unknown> & { op: string };

/** One Python process: run the ops against the given state, return results and new state. */
export function runPython(state: PeerState, ops: Op[]): PeerReply {
  const python = pythonExecutable();
  const proc = spawnSync(python, [SCRIPT], {
    cwd: REPO_ROOT,
    input: JSON.stringify({ ...state, ops }),
    encoding: 'utf8',
    env: { ...process.env, PYTHONPATH: REPO_ROOT, PYTHONDONTWRITEBYTECODE: '1' },
    timeout: 60_000,
  });
  if (proc.error) throw new Error(`cannot run ${python}: ${proc.error.message} (set CHATALOT_PYTHON)`);
  if (proc.status !== 0) {
    throw new Error(`${python} ${SCRIPT} failed (${proc.status}): ${proc.stderr}`);
  }
  return JSON.parse(proc.stdout) as PeerReply;
}
