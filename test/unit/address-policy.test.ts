/**
 * SUBSCRIPTION_ALLOW_PRIVATE_URLS=false (src/subscriptions/address-policy.ts): which addresses are
 * private, IPv6 forms that carry an IPv4 address included.
 */
import { describe, expect, it } from 'vitest';
import { isPrivateAddress, privateUrlRefusal } from '../../src/subscriptions/address-policy.js';

describe('isPrivateAddress', () => {
  it('refuses loopback, private, link-local, shared and unspecified IPv4 and IPv6 addresses', () => {
    for (const a of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '::1', '::', 'fd00::1', 'fe80::1', '[::1]']) {
      expect(isPrivateAddress(a), a).toBe(true);
    }
  });

  it('refuses IPv6 forms that carry a private IPv4 address: mapped, compatible, NAT64 and 6to4', () => {
    for (const a of ['::ffff:127.0.0.1', '::ffff:7f00:1', '::10.0.0.1', '::a00:1', '64:ff9b::a9fe:a9fe', '64:ff9b::169.254.169.254', '2002:a9fe:a9fe::1', '2002:c0a8:101::']) {
      expect(isPrivateAddress(a), a).toBe(true);
    }
  });

  it('lets public addresses through, in every one of those forms', () => {
    for (const a of ['93.184.216.34', '2606:2800:220:1:248:1893:25c8:1946', '::ffff:93.184.216.34', '64:ff9b::5db8:d822', '2002:5db8:d822::1', 'example.com']) {
      expect(isPrivateAddress(a), a).toBe(false);
    }
  });

  it('a URL naming such an address, or a name resolving to one, is refused with the reason', async () => {
    expect(await privateUrlRefusal('http://[64:ff9b::a9fe:a9fe]/hook')).toMatch(/64:ff9b::a9fe:a9fe is a private/);
    expect(await privateUrlRefusal('https://hooks.example/x', async () => [{ address: '2002:a00:1::', family: 6 }])).toMatch(/resolves to 2002:a00:1::/);
    expect(await privateUrlRefusal('https://hooks.example/x', async () => [{ address: '93.184.216.34', family: 4 }])).toBeNull();
  });
});
