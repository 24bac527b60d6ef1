/**
 * `enode-sync init`: the production quickstart's first step. Generates the secrets the daemon
 * needs, writes them to an env file (mode 0600, never over an existing one) and says where, and
 * what to give Enode: the webhook URL and its secret.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

export const INIT_HELP = `Usage: enode-sync init [--public-url https://sync.example.com] [--out .env]

Generates ENODE_WEBHOOK_SECRET, ADMIN_TOKEN and METRICS_TOKEN and writes them, with the other
settings to fill in, to --out (default ./.env, readable by its owner only). Never overwrites
an existing file. Prints where the file is and what to give Enode: the webhook URL
(<public url>/webhooks/enode) and its secret. Keep the file: losing it means new secrets at Enode.`;

export interface InitResult {
  path: string;
  webhookUrl: string;
  webhookSecret: string;
}

/** A refusal the CLI prints as one line, exit 1. */
export class InitError extends Error {
  override name = 'InitError';
}

const secret = (bytes: number) => randomBytes(bytes).toString('hex');

/** The env file's text: generated secrets first, then what the operator fills in. Pure but for the secrets given. */
export function envFileText(s: { webhookSecret: string; adminToken: string; metricsToken: string; publicUrl: string | undefined }): string {
  return [
    '# enode-sync configuration, written by `enode-sync init`. Keep this file private (mode 0600) and backed up:',
    '# the webhook secret is also set at Enode, and the admin token opens the admin API and the dashboard.',
    '',
    '# Generated secrets',
    `ENODE_WEBHOOK_SECRET=${s.webhookSecret}`,
    `ADMIN_TOKEN=${s.adminToken}`,
    `METRICS_TOKEN=${s.metricsToken}`,
    '',
    '# Where this daemon is reached (links in alerts; the webhook URL is this + /webhooks/enode)',
    `PUBLIC_URL=${s.publicUrl ?? ''}`,
    '',
    '# Enode API client (https://developers.enode.com): without them ingest works, the poller and command gateway are off',
    'ENODE_ENV=production',
    'ENODE_CLIENT_ID=',
    'ENODE_CLIENT_SECRET=',
    '# The id of the webhook you create at Enode, so the daemon watches it and reactivates it',
    'ENODE_WEBHOOK_ID=',
    '',
    '# Storage: a SQLite file (default) or DATABASE_URL=postgres://… for replicas',
    'DATABASE_PATH=./data/enode-sync.db',
    '',
    '# Alerts: signed webhooks and/or Slack (until one is set, alerts are held and `enode-sync status` says so)',
    '# ALERT_WEBHOOK_URLS=https://ops.example.com/enode-sync',
    `# ALERT_WEBHOOK_SECRET=whsec_${randomBytes(24).toString('base64')}`,
    '# ALERT_SLACK_WEBHOOK_URL=',
    '',
    '# Behind the reverse proxy of deploy/ (it sets X-Forwarded-For)',
    'HOST=127.0.0.1',
    'PORT=8080',
    'TRUST_PROXY=true',
    '',
  ].join('\n');
}

/** Writes a new env file at `path` (relative to `cwd`) with fresh secrets; throws InitError if one is there. */
export function runInit(o: { path: string; publicUrl: string | undefined; cwd?: string }): InitResult {
  const path = resolve(o.cwd ?? process.cwd(), o.path);
  if (o.publicUrl !== undefined && !/^https?:\/\/[^/\s]+/.test(o.publicUrl)) throw new InitError(`--public-url must be an http(s) URL such as https://sync.example.com, got "${o.publicUrl}"`);
  if (existsSync(path)) throw new InitError(`${path} already exists: init never overwrites it (its secrets may be set at Enode already). Move it away first, or edit it.`);
  const publicUrl = o.publicUrl?.replace(/\/+$/, '');
  const webhookSecret = secret(32);
  const text = envFileText({ webhookSecret, adminToken: secret(32), metricsToken: secret(32), publicUrl });
  mkdirSync(dirname(path), { recursive: true });
  // 'wx': fails if the file appeared meanwhile; 0600 from the start, never readable by others.
  const fd = openSync(path, 'wx', 0o600);
  try {
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
  return { path, webhookUrl: `${publicUrl ?? 'https://<your public host>'}/webhooks/enode`, webhookSecret };
}

/** What init prints: where the file is and what to give Enode. */
export function initReport(r: InitResult): string {
  return [
    `Wrote ${r.path} (readable by you only). Keep it and back it up.`,
    '',
    'Give Enode (POST /webhooks, or the Enode dashboard):',
    `  url      ${r.webhookUrl}`,
    `  secret   ${r.webhookSecret}`,
    '  events   * (every event: devices discovered, updated and deleted, vendor actions, schedule and smart charging statuses, credentials, heartbeats)',
    'Then put the id Enode returns in ENODE_WEBHOOK_ID, your API client in ENODE_CLIENT_ID/ENODE_CLIENT_SECRET,',
    'and start: node dist/main.js serve (the .env in the working directory is read). ADMIN_TOKEN and METRICS_TOKEN are in the file.',
  ].join('\n');
}
