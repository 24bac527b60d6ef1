/**
 * Enode API client: OAuth2 client credentials, shared request budget, retries with jittered
 * backoff, typed RFC 7807 errors and cursor pagination. See EnodeClient.
 */
export {
  createEnodeClient,
  EnodeClient,
  DEFAULT_API_VERSION,
  DEFAULT_BASE_DELAY_MS,
  DEFAULT_MAX_ATTEMPTS,
  DEFAULT_MAX_DELAY_MS,
  DEFAULT_TIMEOUT_MS,
  type EnodeApi,
  type EnodeClientOptions,
  type Query,
  type RequestOptions,
} from './client.js';
export { backoffDelayMs, retryAfterMs, retryDelayMs, isRetryableStatus, DEFAULT_MAX_RETRY_AFTER_MS, type BackoffOptions, type RetryDelayInput } from './backoff.js';
export { TokenBucket, type TokenBucketOptions, type Sleep } from './budget.js';
export {
  EnodeApiError,
  EnodeAuthError,
  EnodeConflictError,
  EnodeNotFoundError,
  EnodeRateLimitError,
  EnodeUnavailableError,
  EnodeValidationError,
  errorFromResponse,
  parseProblem,
  type EnodeProblem,
  type ProblemIssue,
} from './errors.js';
export { TokenCache, clientCredentialsFetcher, refreshMarginMs, type FetchToken, type IssuedToken, type ClientCredentials } from './token.js';
export { actionPath, collectionPath, devicePath, type ActionTargetType } from './paths.js';
export type { EnodeRequestStats } from './stats.js';
export {
  BATTERY_OPERATION_MODES,
  type BatteryOperationMode,
  type ChargeKind,
  type EnodeAction,
  type EnodeDevice,
  type EnodeWebhook,
  type EnodeWebhookTestResult,
  type PermanentHold,
  type WebhookPatch,
} from './types.js';
