/**
 * A tiny async executor for portable SQL: the read side (store/read.ts) is written once against
 * it and runs on either engine. Statements use `?` positional placeholders; the Postgres adapter
 * numbers them. Rows come back as the driver gives them: the read side normalises what differs
 * (booleans, JSON text), so nothing here knows a table.
 */
export type SqlParam = string | number | null | Buffer;

export interface SqlReader {
  readonly engine: 'sqlite' | 'postgres';
  /** Every row of the statement. */
  all<T>(sql: string, params?: readonly SqlParam[]): Promise<T[]>;
  /** The first row, or undefined. */
  get<T>(sql: string, params?: readonly SqlParam[]): Promise<T | undefined>;
}
