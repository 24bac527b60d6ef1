import pino from 'pino';

export type Logger = pino.Logger;

/** Paths pino blanks out wherever they appear: signatures, credentials, tokens. */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-enode-signature"]',
  'headers.authorization',
  'headers.cookie',
  'headers["x-enode-signature"]',
  '*.authorization',
  '*.secret',
  '*.clientSecret',
  '*.client_secret',
  '*.access_token',
  '*.adminToken',
  '*.webhookSecrets',
  '*.webhookSecret',
  'config.enode.clientSecret',
  'config.alerts.webhookSecret',
  'config.alerts.slackWebhookUrl',
  'config.alerts.webhookUrls',
];

/** Creates the process logger: JSON lines on stdout (or the given destination), secrets redacted. */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'enode-sync' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}

/** A logger that discards everything, for tests and library defaults. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
