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

/** An IPv6 address as its 8 groups (a trailing dotted IPv4 part becomes two), or undefined when it is not one. */
function ipv6Groups(address: string): number[] | undefined {
  if (isIP(address) !== 6) return undefined;
  let text = address.toLowerCase();
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const part = (t: string) => (t === '' ? [] : t.split(':').map((g) => parseInt(g, 16)));
  const left = part(head);
  const right = tail === undefined ? [] : part(tail);
  return [...left, ...Array<number>(8 - left.length - right.length).fill(0), ...right];
}

/** The IPv4 address an IPv6 one carries: IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d), NAT64 (64:ff9b::/96) or 6to4 (2002::/16). */
function embeddedIPv4(groups: number[]): string | undefined {
  const v4 = (hi: number, lo: number) => `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  const zeros = (from: number, to: number) => groups.slice(from, to).every((g) => g === 0);
  if (zeros(0, 5) && (groups[5] === 0xffff || (groups[5] === 0 && (groups[6] !== 0 || groups[7]! > 1)))) return v4(groups[6]!, groups[7]!);
  if (groups[0] === 0x64 && groups[1] === 0xff9b && zeros(2, 6)) return v4(groups[6]!, groups[7]!);
  if (groups[0] === 0x2002) return v4(groups[1]!, groups[2]!);
  return undefined;
}

/**
 * True for a loopback, private, link-local, shared or unspecified IPv4 or IPv6 address, and for an
 * IPv6 address that carries such an IPv4 one (mapped, compatible, NAT64, 6to4): each of them can
 * reach the IPv4 host behind it.
 */
export function isPrivateAddress(address: string): boolean {
  const bare = address.replace(/^\[|\]$/g, '');
  const family = isIP(bare);
  if (family === 4) return blocked.check(bare, 'ipv4');
  if (family !== 6) return false;
  if (blocked.check(bare, 'ipv6')) return true;
  const v4 = embeddedIPv4(ipv6Groups(bare)!);
  return v4 !== undefined && blocked.check(v4, 'ipv4');
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
