import { describe, expect, it } from 'vitest';
import { BUSY_BEGIN_RETRY_MS, retryBusyBegin } from '../../src/db/ingest-repo.js';

const busy = () => Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' });

describe('retryBusyBegin', () => {
  it('begins again while BEGIN answers SQLITE_BUSY, then runs the body once', () => {
    let begins = 0;
    let bodies = 0;
    const result = retryBusyBegin(
      (body) => {
        begins++;
        if (begins <= 3) throw busy();
        return body();
      },
      () => ++bodies,
    );
    expect(result).toBe(1);
    expect(begins).toBe(4);
    expect(bodies).toBe(1);
  });

  it('never runs the body twice: SQLITE_BUSY after the body started is the caller’s', () => {
    let bodies = 0;
    expect(() =>
      retryBusyBegin(
        (body) => {
          body();
          throw busy();
        },
        () => bodies++,
      ),
    ).toThrow('database is locked');
    expect(bodies).toBe(1);
  });

  it('gives up after BUSY_BEGIN_RETRY_MS, and never retries other errors', () => {
    let now = 0;
    let begins = 0;
    const alwaysBusy = () => {
      begins++;
      now += 500;
      throw busy();
    };
    expect(() => retryBusyBegin(alwaysBusy, () => 0, () => now)).toThrow('database is locked');
    // Each try costs 500 ms here: tries at 500, 1,000, 1,500, then 2,000 ms, past the deadline.
    expect(begins).toBe(BUSY_BEGIN_RETRY_MS / 500);

    let tries = 0;
    expect(() =>
      retryBusyBegin(
        () => {
          tries++;
          throw Object.assign(new Error('disk I/O error'), { code: 'SQLITE_IOERR' });
        },
        () => 0,
      ),
    ).toThrow('disk I/O error');
    expect(tries).toBe(1);
  });
});
