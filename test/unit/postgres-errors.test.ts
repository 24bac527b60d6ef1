import { describe, expect, it } from 'vitest';
import type pg from 'pg';
import { StartupError } from '../../src/startup-error.js';
import { describePostgresError, redactUrl, urlPassword } from '../../src/store/postgres/connect.js';
import { runPostgresMigrations } from '../../src/store/postgres/migrate.js';

describe('redactUrl', () => {
  it('hides the password in the user info and in password-like parameters', () => {
    expect(redactUrl('postgres://enode:pa%3Ass@db.internal:5432/enode?sslmode=require')).toBe('postgres://enode:***@db.internal:5432/enode?sslmode=require');
    expect(redactUrl('postgresql://enode@db/enode?password=hunter22&application_name=x')).toBe('postgresql://enode@db/enode?password=***&application_name=x');
    expect(redactUrl('postgres://enode:hunter22@/enode?host=/run/postgresql')).toBe('postgres://enode:***@/enode?host=/run/postgresql');
  });

  it('shows nothing of a value that is not a URL', () => {
    expect(redactUrl('hunter22')).toBe('(a database URL that does not parse)');
  });

  it('finds the password to scrub', () => {
    expect(urlPassword('postgres://enode:pa%3Ass@db/enode')).toBe('pa:ss');
    expect(urlPassword('postgres://enode@db/enode?password=x1')).toBe('x1');
    expect(urlPassword('postgres://enode@db/enode')).toBeUndefined();
  });
});

describe('describePostgresError', () => {
  const coded = (code: string, message = 'driver text') => Object.assign(new Error(message), { code });

  it('puts the codes an operator meets at start in words, with the code', () => {
    expect(describePostgresError(coded('ECONNREFUSED'))).toBe('connection refused: is Postgres running and listening on that host and port? (ECONNREFUSED)');
    expect(describePostgresError(coded('ENOTFOUND'))).toBe('the host name does not resolve (ENOTFOUND)');
    expect(describePostgresError(coded('28P01'))).toBe('password authentication failed: wrong user name or password (28P01)');
    expect(describePostgresError(coded('3D000'))).toBe('the database does not exist (3D000)');
    expect(describePostgresError(coded('57P03'))).toMatch(/starting up.*\(57P03\)$/);
    expect(describePostgresError(coded('53300'))).toMatch(/^too many connections.*\(53300\)$/);
  });

  it("looks through drizzle's wrapper to the driver's error", () => {
    const wrapped = new Error('Failed query: select 1', { cause: coded('42501') });
    expect(describePostgresError(wrapped)).toMatch(/^permission denied.*\(42501\)$/);
  });

  it("matches pg's connection timeout, which has no code", () => {
    expect(describePostgresError(new Error('Connection terminated due to connection timeout'))).toMatch(/^no connection within the time limit/);
  });

  it('passes an unknown error through with its code, scrubbing the password', () => {
    expect(describePostgresError(coded('XX000', 'odd failure near hunter22'), 'hunter22')).toBe('odd failure near *** (XX000)');
  });
});

describe('runPostgresMigrations on an old server', () => {
  it('refuses Postgres older than 14 with a StartupError naming the version found, before any lock or DDL', async () => {
    const queries: string[] = [];
    let released: unknown;
    const client = {
      user: 'enode',
      host: 'db.internal',
      port: 5432,
      database: 'enode',
      query: async (text: string) => {
        queries.push(text);
        return { rows: [{ num: '130011', version: '13.11 (Debian 13.11-0+deb11u1)' }] };
      },
      release: (err?: unknown) => {
        released = err;
      },
      // A pool client is an EventEmitter: the migration listens for a broken connection.
      on: () => {},
      removeListener: () => {},
    };
    const pool = { connect: async () => client, options: {} } as unknown as pg.Pool;
    const err = await runPostgresMigrations(pool).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StartupError);
    expect((err as Error).message).toBe(
      'Cannot use database postgres://enode@db.internal:5432/enode: PostgreSQL 13.11 (Debian 13.11-0+deb11u1) is too old: enode-sync needs PostgreSQL 14 or newer',
    );
    expect(queries).toHaveLength(1);
    expect(released).toBe(true); // the connection is destroyed, not returned
  });
});
