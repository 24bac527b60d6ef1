/**
 * The public-edge examples (deploy/Caddyfile.public, deploy/nginx.conf) expose only Enode's
 * webhook route: nothing else is proxied to the daemon (issue 18). Nobody runs them in the tests,
 * so their text is checked; and the LICENSE matches package.json.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const read = (p: string) => readFileSync(p, 'utf8');
const code = (text: string) => text.split('\n').filter((l) => !l.trim().startsWith('#')).join('\n');

describe('public edge examples', () => {
  it('Caddy proxies only POST /webhooks/enode to the daemon and answers 404 to the rest', () => {
    const caddy = code(read('deploy/Caddyfile.public'));
    expect(caddy.match(/reverse_proxy/g)).toHaveLength(1);
    const webhook = /@webhook \{([^}]*)\}/.exec(caddy)?.[1] ?? '';
    expect(webhook).toMatch(/method POST/);
    expect(webhook).toMatch(/path \/webhooks\/enode\s*$/m);
    expect(caddy).toMatch(/handle @webhook \{[\s\S]*reverse_proxy 127\.0\.0\.1:8080/);
    expect(caddy).toMatch(/handle \{\s*respond 404\s*\}/);
  });

  it('nginx proxies only the exact location /webhooks/enode, POST only, and answers 404 to the rest', () => {
    const nginx = code(read('deploy/nginx.conf'));
    // Each location block runs until the next one (the last one's tail is the redirecting server, which proxies nothing).
    const locations = nginx
      .split(/\blocation\s+/)
      .slice(1)
      .map((chunk) => ({ where: chunk.slice(0, chunk.indexOf('{')).trim(), body: chunk.slice(chunk.indexOf('{')) }));
    const proxied = locations.filter((l) => l.body.includes('proxy_pass'));
    expect(proxied.map((l) => l.where)).toEqual(['= /webhooks/enode']);
    expect(proxied[0]?.body).toMatch(/limit_except POST \{ deny all; \}/);
    expect(locations.find((l) => l.where === '/')?.body).toMatch(/return 404;/);
  });

  it('LICENSE is the MIT licence package.json names, for enode-sync contributors', () => {
    expect((JSON.parse(read('package.json')) as { license: string }).license).toBe('MIT');
    const licence = read('LICENSE');
    expect(licence.split('\n')[0]).toBe('MIT License');
    expect(licence).toMatch(/Copyright \(c\) \d{4} enode-sync contributors/);
  });
});
