import type { FC } from 'hono/jsx';
import { Layout, Notice } from '../layout.js';

/** The token form; `error` after a wrong token, `disabled` when ADMIN_TOKEN is not set. */
export const LoginPage: FC<{ next: string; error?: string | undefined; disabled?: boolean }> = ({ next, error, disabled = false }) => (
  <Layout title="Log in" section="none" signedIn={false}>
    <div class="card login">
      <h1>Log in</h1>
      {disabled ? (
        <Notice kind="error">The dashboard is disabled: set ADMIN_TOKEN and restart the daemon.</Notice>
      ) : (
        <form method="post" action="/ui/login">
          {error && <Notice kind="error">{error}</Notice>}
          <input type="hidden" name="next" value={next} />
          <label for="token">Admin token</label>
          <input id="token" name="token" type="password" autocomplete="current-password" required autofocus />
          <button class="action" type="submit">
            Log in
          </button>
          <p class="muted">The same ADMIN_TOKEN as the admin API. Scripts may send it as <code>Authorization: Bearer</code> instead.</p>
        </form>
      )}
    </div>
  </Layout>
);
