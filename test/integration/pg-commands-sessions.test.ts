/**
 * The gateway's command log and dashboard logouts on Postgres (store/postgres/commands.ts,
 * sessions.ts): the same rows as SQLite's for the same calls; NUL escaped in error texts.
 */
import { afterEach, beforeEach, expect, it } from 'vitest';
import type { CommandRecord } from '../../src/store/port.js';
import { recordCommandPostgres } from '../../src/store/postgres/commands.js';
import { revokeUiSessionPostgres } from '../../src/store/postgres/sessions.js';
import { makeTestApp, NOW } from '../support/fixtures.js';
import { describeIfPostgres, freshPostgresSchema, type FreshSchema } from '../support/postgres.js';
import { bothTables, pgContext } from './pg-feature-support.js';

const T0 = NOW.getTime();

function command(id: string, over: Partial<CommandRecord> = {}): CommandRecord {
  return {
    id,
    deviceId: 'vehicle-1',
    deviceType: 'vehicle',
    command: 'charging',
    body: '{"action":"START"}',
    requestedAtMs: T0,
    outcome: 'sending',
    actionId: null,
    override: false,
    notes: [],
    error: null,
    ...over,
  };
}

describeIfPostgres('command log and logouts on Postgres', () => {
  let schema: FreshSchema;
  beforeEach(async () => {
    schema = await freshPostgresSchema();
  });
  afterEach(async () => {
    await schema.drop();
  });

  it('writes commands as SQLite does: a later record of the same id updates outcome, action, notes and error only', async () => {
    const t = makeTestApp();
    const ctx = pgContext(schema.pool, t);
    const records = [
      command('c1'),
      command('c2', { command: 'cancel', body: '{}', override: true, outcome: 'refused', error: 'budget spent', notes: [{ code: 'DAILY_LIMIT_OVERRIDDEN', message: 'six a day' }] }),
      // The outcome is known: only outcome, action, notes and error change (not the device, body or time).
      command('c1', { outcome: 'sent', actionId: 'act-1', deviceId: 'other', body: '{"x":1}', requestedAtMs: T0 + 5, notes: [{ code: 'COLLAPSED', message: 'm', actionId: 'act-0' }] }),
    ];
    for (const r of records) {
      expect(await t.deps.store.recordCommand(r)).toEqual({ id: r.id });
      expect(await recordCommandPostgres(ctx, r)).toEqual({ id: r.id });
    }
    const rows = await bothTables(t.db.$client, schema.pool, 'commands');
    expect(rows.postgres.map((r) => ({ ...r, override: Boolean(r.override) }))).toEqual(rows.sqlite.map((r) => ({ ...r, override: Boolean(r.override) })));
    expect(rows.postgres).toContainEqual(expect.objectContaining({ id: 'c1', outcome: 'sent', action_id: 'act-1', device_id: 'vehicle-1', body: '{"action":"START"}' }));
  });

  it('escapes NUL in a command error (Postgres text cannot hold one)', async () => {
    const t = makeTestApp();
    await recordCommandPostgres(pgContext(schema.pool, t), command('c1', { outcome: 'failed', error: 'upstream said \u0000' }));
    const row = await schema.pool.query(`SELECT error FROM commands WHERE id = 'c1'`);
    expect(row.rows[0].error).toBe('upstream said \\u0000');
  });

  it('records logouts once and forgets those expired, as SQLite does', async () => {
    const t = makeTestApp();
    const ctx = pgContext(schema.pool, t);
    const calls = [
      { id: 's1', expiresAtMs: T0 + 1_000, nowMs: T0 },
      { id: 's1', expiresAtMs: T0 + 9_000, nowMs: T0 },
      { id: 's2', expiresAtMs: T0 + 5_000, nowMs: T0 + 500 },
      { id: 's3', expiresAtMs: T0 + 9_000, nowMs: T0 + 5_000 },
    ];
    const answers: Array<[unknown, unknown]> = [];
    for (const c of calls) answers.push([await t.deps.store.revokeUiSession(c), await revokeUiSessionPostgres(ctx, c)]);
    for (const [sqlite, postgres] of answers) expect(postgres).toEqual(sqlite);
    expect(answers.map(([, p]) => p)).toEqual([{ pruned: 0 }, { pruned: 0 }, { pruned: 0 }, { pruned: 2 }]);
    const rows = await bothTables(t.db.$client, schema.pool, 'ui_session_revocations');
    expect(rows.postgres).toEqual(rows.sqlite);
    expect(rows.postgres).toEqual([{ id: 's3', expires_at_ms: T0 + 9_000 }]);
  });
});
