import type { FC } from 'hono/jsx';
import { Layout, Notice } from '../layout.js';

/** An error as a page (the dashboard's counterpart of the API's JSON error body). */
export const ErrorPage: FC<{ status: number; message: string; requestId: string; signedIn?: boolean }> = ({ status, message, requestId, signedIn = false }) => (
  <Layout title={`Error ${status}`} section="none" signedIn={signedIn}>
    <h1>Error {status}</h1>
    <Notice kind="error">{message}</Notice>
    <p class="muted">
      Request id <code>{requestId}</code> · <a href="/ui">Back to the dashboard</a>
    </p>
  </Layout>
);
