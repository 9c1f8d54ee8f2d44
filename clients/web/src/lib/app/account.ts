/**
 * The account routes the settings screens use (docs/accounts.md "Account", docs/files.md
 * "Media"): the profile and its images, TOTP, recovery codes. Thin wrappers over `Api`, so
 * the screens stay about layout.
 */
import type { Api } from './api';

export interface Me {
  id: string;
  username: string;
  display_name: string;
  email?: string | null;
  avatar_url?: string | null;
  banner_url?: string | null;
  bio?: string | null;
  pronouns?: string | null;
  custom_status?: string | null;
  totp_enabled: boolean;
}

export type ProfileChange = Partial<Pick<Me, 'display_name' | 'bio' | 'pronouns' | 'custom_status' | 'avatar_url' | 'banner_url'>>;

export const me = (api: Api) => api.get<Me>('/account/me');

/** Omitted fields stay; `""` clears an optional one. */
export const updateProfile = (api: Api, change: ProfileChange) => api.patch<ProfileChange & { position: string }>('/account/profile', change);

/** Avatar (512 px) or banner (1920 px): the server re-encodes it and sets the profile's URL. */
export async function uploadImage(api: Api, kind: 'avatar' | 'banner', file: File): Promise<string> {
  const form = new FormData();
  form.append('file', file, file.name || kind);
  const reply = await api.request<{ url: string }>('POST', `/account/${kind}`, form);
  return reply.url;
}

export const totpSetup = (api: Api) => api.post<{ secret: string; otpauth_url: string }>('/totp/setup');
export const totpVerify = (api: Api, code: string) => api.post<{ backup_codes: string[] }>('/totp/verify', { code });
export const totpDisable = (api: Api, password: string, code: string) => api.post('/totp/disable', { password, code });
export const backupCodesLeft = (api: Api) => api.get<{ enabled: boolean; remaining: number }>('/totp/backup-codes');
export const regenerateBackupCodes = (api: Api, password: string) =>
  api.post<{ backup_codes: string[] }>('/totp/backup-codes/regenerate', { password });
export const newRecoveryCode = (api: Api, password: string) => api.post<{ recovery_code: string }>('/account/recovery-code', { password });
export const changePassword = (api: Api, current: string, next: string) =>
  api.post('/account/change-password', { current_password: current, new_password: next });

/** Signed out: a new password with the recovery code; the reply is the next recovery code. */
export const recover = (api: Api, username: string, recoveryCode: string, newPassword: string) =>
  api.post<{ recovery_code: string }>('/auth/recover', { username, recovery_code: recoveryCode.trim().toUpperCase(), new_password: newPassword });

/** The secret in groups of four, easier to type into an authenticator by hand. */
export function groupSecret(secret: string): string {
  return secret.replace(/\s+/g, '').replace(/(.{4})(?=.)/g, '$1 ');
}

/** A 6-digit TOTP code or a backup code (`XXXXX-XXXXX`), as typed: spaces dropped. */
export function normaliseCode(code: string): string {
  const c = code.replace(/\s+/g, '');
  return /^\d{6}$/.test(c) ? c : c.toUpperCase();
}
