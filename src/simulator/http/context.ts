import type { ActionEngine } from '../actions.js';
import type { Automation } from '../automation.js';
import type { SimClock } from '../clock.js';
import type { TokenStore } from '../oauth.js';
import type { SimulatorOptions } from '../options.js';
import type { Rng } from '../random.js';
import type { TruthLog } from '../truth.js';
import type { WebhookHub } from '../webhooks.js';
import type { World } from '../world.js';

export interface SimStateSummary {
  now: string;
  seed: number;
  timeScale: number;
  running: boolean;
  users: number;
  devices: Record<string, number>;
  actions: { total: number; pending: number; byState: Record<string, number> };
  webhooks: Array<{ id: string; url: string; isActive: boolean; pendingEvents: number; lastSuccess: string | null }>;
  truth: { changes: number; byCause: Record<string, number> };
  webhookStats: TruthLog['stats'];
}

/** What the HTTP layer needs from a simulator. */
export interface SimServices {
  world: World;
  actions: ActionEngine;
  automation: Automation;
  webhooks: WebhookHub;
  tokens: TokenStore;
  truth: TruthLog;
  clock: SimClock;
  options: SimulatorOptions;
  /** Stream for API fault injection. */
  faults: Rng;
  /** Stream for changes forced through /_sim endpoints. */
  manualRng: Rng;
  runFor(ms: number): Promise<void>;
  flushWebhooks(): Promise<void>;
  state(): SimStateSummary;
}
