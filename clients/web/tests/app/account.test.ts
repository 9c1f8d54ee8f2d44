import { describe, expect, it } from 'vitest';
import { groupSecret, normaliseCode } from '../../src/lib/app/account';

describe('account helpers', () => {
  it('groups a TOTP secret by four for typing it by hand', () => {
    expect(groupSecret('JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP')).toBe('JBSW Y3DP EHPK 3PXP JBSW Y3DP EHPK 3PXP');
    expect(groupSecret('ABCDE')).toBe('ABCD E');
    expect(groupSecret(' AB CD ')).toBe('ABCD');
  });

  it('normalises a typed code: TOTP digits kept, backup codes upper-cased, spaces dropped', () => {
    expect(normaliseCode(' 123 456 ')).toBe('123456');
    expect(normaliseCode('abcde-fghij')).toBe('ABCDE-FGHIJ');
  });
});
