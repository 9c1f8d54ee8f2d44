/**
 * Alerts while the app is open (issue 20 item 4): desktop notifications through the
 * Notification API and a short chime through Web Audio. Whether a message alerts at all is
 * `alertFor` in prefs.ts (pure, tested); this module only performs it. Browsers allow the
 * permission prompt and the audio context only after a user gesture, so both are started
 * from the settings screen's buttons (`askPermission`, `unlockSound`).
 */

export type Permission = 'granted' | 'denied' | 'default' | 'unsupported';

export function permission(): Permission {
  return typeof Notification === 'undefined' ? 'unsupported' : Notification.permission;
}

/** Asks for the permission: call it from a click handler (a user gesture). */
export async function askPermission(): Promise<Permission> {
  if (typeof Notification === 'undefined') return 'unsupported';
  return Notification.requestPermission();
}

/** A desktop notification, when allowed; clicking it focuses the tab and calls `onclick`. */
export function showDesktop(title: string, body: string, tag: string, onclick?: () => void): boolean {
  if (permission() !== 'granted') return false;
  try {
    const n = new Notification(title, { body, tag });
    n.onclick = () => {
      window.focus();
      onclick?.();
      n.close();
    };
    return true;
  } catch {
    return false; // e.g. Android Chrome: only from a service worker
  }
}

let audio: AudioContext | null = null;

/** Makes (or resumes) the audio context: call it from a user gesture once. */
export function unlockSound(): void {
  if (typeof AudioContext === 'undefined') return;
  audio ??= new AudioContext();
  if (audio.state === 'suspended') void audio.resume();
}

/** Counted for the browser tests (`window.__chatalotChimes`): a sound cannot be heard there. */
declare global {
  interface Window {
    __chatalotChimes?: number;
  }
}

/** Two short soft tones. Silent until the audio context was unlocked by a gesture. */
export function playChime(): void {
  if (typeof window !== 'undefined') window.__chatalotChimes = (window.__chatalotChimes ?? 0) + 1;
  if (!audio || audio.state !== 'running') return;
  const now = audio.currentTime;
  for (const [i, freq] of [880, 1320].entries()) {
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.type = 'sine';
    osc.frequency.value = freq;
    const start = now + i * 0.12;
    gain.gain.setValueAtTime(0.0001, start);
    gain.gain.exponentialRampToValueAtTime(0.15, start + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, start + 0.18);
    osc.connect(gain).connect(audio.destination);
    osc.start(start);
    osc.stop(start + 0.2);
  }
}
