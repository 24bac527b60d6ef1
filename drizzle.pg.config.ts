import { defineConfig } from 'drizzle-kit';

/** The Postgres migrations (DATABASE_URL); the SQLite ones come from drizzle.config.ts. */
export default defineConfig({
  dialect: 'postgresql',
  schema: './src/store/postgres/schema.ts',
  out: './drizzle-pg',
});
