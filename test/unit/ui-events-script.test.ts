/**
 * The live tail's script builds rows in the browser with its own copy of the summary and time
 * formatting: run in a VM, it says what the server-rendered rows say for every kind of event.
 */
import fc from 'fast-check';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { EVENT_TYPES } from '../../src/events/types.js';
import { summarizeEvent } from '../../src/ui/event-summary.js';
import { EVENTS_SCRIPT, EVENTS_SUMMARY_SCRIPT } from '../../src/ui/events-script.js';
import { formatIso } from '../../src/ui/format.js';

type Summarize = (e: { type: string; data: Record<string, unknown> }) => string;

function browserSide(): { summarizeEvent: Summarize; formatIso: (iso: string) => string } {
  return runInNewContext(`${EVENTS_SUMMARY_SCRIPT}; ({ summarizeEvent, formatIso })`) as never;
}

const SAMPLES: Array<{ type: string; data: Record<string, unknown> }> = [
  { type: 'device.discovered', data: { device: { id: 'v1' }, changes: [] } },
  { type: 'device.deleted', data: {} },
  { type: 'device.updated', data: { changes: [{ path: 'snapshot.chargeState.batteryLevel', from: 1, to: 2 }] } },
  { type: 'device.updated', data: { changes: Array.from({ length: 9 }, (_, i) => ({ path: `snapshot.field${i}` })) } },
  { type: 'device.updated', data: { changes: [{ path: '', from: 1, to: 2 }, { path: 'x'.repeat(400) }] } },
  { type: 'device.updated', data: { changes: 'not a list' } },
  { type: 'action.updated', data: { action: { kind: 'START', state: 'CONFIRMED' }, previousState: 'PENDING' } },
  { type: 'action.updated', data: { action: { kind: 'STOP', state: 'PENDING' }, previousState: null } },
  { type: 'command.sent', data: { command: { command: 'charging', error: null } } },
  { type: 'command.refused', data: { command: { command: 'charging', error: 'device unreachable' } } },
  { type: 'interference.detected', data: { finding: { kind: 'UNEXPECTED_CHANGE' } } },
  { type: 'action.failed', data: { action: { state: 'FAILED', failureReason: 'timeout' } } },
  { type: 'action.failed', data: { action: { state: 'FAILED', failureReason: { type: 'NO_RESPONSE', detail: 'x' } } } },
  { type: 'device.fault', data: { fault: { powerDeliveryState: 'PLUGGED_IN:FAULT' } } },
  { type: 'delivery.failed', data: { delivery: { error: 'boom' } } },
  { type: 'webhook.inactive', data: { webhook: { id: 'wh1' } } },
  { type: 'credentials.invalidated', data: { vendor: 'TESLA' } },
  { type: 'apply.stalled', data: { apply: { error: null } } },
  { type: 'interference.acknowledged', data: { finding: { kind: 'UNEXPECTED_CHANGE' }, state: 'acknowledged', previousState: 'open', note: 'on it' } },
  { type: 'interference.resolved', data: { finding: {}, state: 'resolved', previousState: 'open', note: null } },
];

describe('the live tail script', () => {
  it('summarizes every sample as the server does', () => {
    const browser = browserSide();
    for (const e of SAMPLES) expect(browser.summarizeEvent(e)).toBe(summarizeEvent(e));
    expect(summarizeEvent(SAMPLES[2]!)).toBe('snapshot.chargeState.batteryLevel');
    expect(summarizeEvent(SAMPLES[3]!)).toBe('snapshot.field0, snapshot.field1, snapshot.field2, snapshot.field3 +5 more');
    expect(summarizeEvent(SAMPLES[6]!)).toBe('START: PENDING → CONFIRMED');
    expect(summarizeEvent(SAMPLES[7]!)).toBe('STOP: new → PENDING');
    expect(summarizeEvent(SAMPLES[10]!)).toBe('alert interference.detected: UNEXPECTED_CHANGE');
    expect(summarizeEvent(SAMPLES[12]!)).toBe('alert action.failed: NO_RESPONSE');
    expect(summarizeEvent(SAMPLES[13]!)).toBe('alert device.fault: PLUGGED_IN:FAULT');
  });

  it('summarizes arbitrary payloads of every type as the server does', () => {
    const browser = browserSide();
    fc.assert(
      fc.property(fc.constantFrom(...EVENT_TYPES), fc.dictionary(fc.constantFrom('changes', 'action', 'previousState', 'command', 'finding', 'fault', 'vendor', 'webhook'), fc.jsonValue()), (type, data) => {
        expect(browser.summarizeEvent({ type, data })).toBe(summarizeEvent({ type, data }));
      }),
      { numRuns: 500 },
    );
  });

  it('formats times as the server does', () => {
    const browser = browserSide();
    for (const iso of ['2026-03-01T10:05:00.123Z', '1970-01-01T00:00:00.000Z', 'not a time']) expect(browser.formatIso(iso)).toBe(formatIso(iso));
  });

  it('parses as a classic script and does nothing on a page without the live tail', () => {
    expect(() => runInNewContext(EVENTS_SCRIPT, { document: { getElementById: () => null } })).not.toThrow();
  });
});
