/**
 * SUBSCRIPTION_ALLOW_PRIVATE_URLS=false: subscription URLs may not point at loopback, private,
 * link-local (cloud metadata at 169.254.169.254 among them), shared (CGNAT) or unspecified
 * addresses. Checked when a subscription is created or its URL changed (the literal address, or
 * what the name resolves to then) and again before every send, on what the name resolves to at
 * that moment — so a name re-pointed at an internal address later is refused too. The send then
 * resolves the name once more (native fetch offers no way to pin the checked address): a DNS
 * server that answers differently within that instant is not covered; firewall egress for a
 * hard guarantee.
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';

/** Resolves a host name to every address it has (dns.lookup with `all`). */
export type LookupFn = (hostname: string) => Promise<Array<{ address: string; family: number }>>;

export const defaultLookup: LookupFn = (hostname) => dnsLookup(hostname, { all: true, verbatim: true });

const blocked = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.168.0.0', 16],
] as const) {
  blocked.addSubnet(net, prefix, 'ipv4');
}
blocked.addAddress('::', 'ipv6');
blocked.addAddress('::1', 'ipv6');
blocked.addSubnet('fc00::', 7, 'ipv6');
blocked.addSubnet('fe80::', 10, 'ipv6');

/** True for a loopback, private, link-local, shared or unspecified IPv4 or IPv6 address (IPv4-mapped IPv6 included). */
export function isPrivateAddress(address: string): boolean {
  const bare = address.replace(/^\[|\]$/g, '');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(bare);
  if (mapped) return blocked.check(mapped[1]!, 'ipv4');
  const family = isIP(bare);
  if (family === 4) return blocked.check(bare, 'ipv4');
  if (family === 6) return blocked.check(bare, 'ipv6');
  return false;
}

/**
 * Why `url` may not be used while private addresses are refused, or null when it may: its host is
 * a private address, `localhost`, or a name that resolves to a private address. A name that does
 * not resolve is let through here (the send fails and is retried, and is checked again then).
 */
export async function privateUrlRefusal(url: string, lookup: LookupFn = defaultLookup): Promise<string | null> {
  let host: string;
  try {
    host = new URL(url).hostname.replace(/^\[|\]$/g, '');
  } catch {
    return null;
  }
  const refuse = (what: string) => `${what} is a private, loopback or link-local address, refused by SUBSCRIPTION_ALLOW_PRIVATE_URLS=false`;
  if (isIP(host) !== 0) return isPrivateAddress(host) ? refuse(host) : null;
  if (host === 'localhost' || host.endsWith('.localhost')) return refuse(host);
  let addresses: Array<{ address: string }>;
  try {
    addresses = await lookup(host);
  } catch {
    return null;
  }
  const hit = addresses.find((a) => isPrivateAddress(a.address));
  return hit ? refuse(`${host} resolves to ${hit.address}, which`) : null;
}
