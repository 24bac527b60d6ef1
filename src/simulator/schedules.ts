import type { HvacTarget, ScheduleFilters } from './types.js';

/**
 * Time rules of Enode Schedules, in UTC (the simulator has no location time zones): which rule
 * applies at a moment (the first that matches, else the schedule's default), and the moments the
 * outcome changes (rule boundaries).
 */

const MINUTE = 60_000;
const DAY = 86_400_000;

export const HOUR_MINUTE = /^(((?:[01]\d|2[0-3]):[0-5]\d)|24:00)$/;

/** Minutes after midnight of "HH:MM" ("24:00" is 1440). */
export function minutesOf(hm: string): number {
  const [h, m] = hm.split(':').map(Number) as [number, number];
  return h * 60 + m;
}

function dayStart(ms: number): number {
  return ms - (((ms % DAY) + DAY) % DAY);
}

/** Enode's weekday numbering: 0 = Monday … 6 = Sunday. */
export function weekdayOf(ms: number): number {
  return (new Date(ms).getUTCDay() + 6) % 7;
}

/** Whether a rule's filters hold at `ms`. An `hourMinute` window belongs to the day it starts on. */
export function ruleMatches(rule: ScheduleFilters, ms: number): boolean {
  if (rule.fromTimestamp !== undefined && ms < Date.parse(rule.fromTimestamp)) return false;
  if (rule.toTimestamp !== undefined && ms >= Date.parse(rule.toTimestamp)) return false;
  const days = rule.weekdays;
  if (!rule.hourMinute) return !days || days.length === 0 || days.includes(weekdayOf(ms));
  const from = minutesOf(rule.hourMinute.from);
  let to = minutesOf(rule.hourMinute.to);
  if (to <= from) to += 24 * 60;
  for (const start of [dayStart(ms), dayStart(ms) - DAY]) {
    if (days && days.length > 0 && !days.includes(weekdayOf(start))) continue;
    if (ms >= start + from * MINUTE && ms < start + to * MINUTE) return true;
  }
  return false;
}

/** The first rule that holds at `ms`, if any. */
export function activeRule<R extends ScheduleFilters>(rules: readonly R[], ms: number): R | undefined {
  return rules.find((r) => ruleMatches(r, ms));
}

/** Every moment in (fromMs, toMs] at which some rule may start or stop holding, ascending. */
function candidates(rules: readonly ScheduleFilters[], fromMs: number, toMs: number): number[] {
  const out = new Set<number>();
  for (let d = dayStart(fromMs) - DAY; d <= toMs; d += DAY) {
    out.add(d);
    for (const r of rules) {
      if (!r.hourMinute) continue;
      const from = minutesOf(r.hourMinute.from);
      let to = minutesOf(r.hourMinute.to);
      if (to <= from) to += 24 * 60;
      out.add(d + from * MINUTE);
      out.add(d + to * MINUTE);
    }
  }
  for (const r of rules) {
    if (r.fromTimestamp !== undefined) out.add(Date.parse(r.fromTimestamp));
    if (r.toTimestamp !== undefined) out.add(Date.parse(r.toTimestamp));
  }
  return [...out].filter((t) => t > fromMs && t <= toMs).sort((a, b) => a - b);
}

/**
 * The next `limit` moments after `nowMs` (looking up to 8 days ahead) at which `valueAt` changes,
 * with the value from then on. A fixed count, not a time window, so the list changes only when a
 * transition passes.
 */
export function transitions<V>(rules: readonly ScheduleFilters[], nowMs: number, valueAt: (ms: number) => V, limit = 6): Array<{ at: number; value: V }> {
  const key = (v: V) => JSON.stringify(v);
  let previous = key(valueAt(nowMs));
  const out: Array<{ at: number; value: V }> = [];
  for (const t of candidates(rules, nowMs, nowMs + 8 * DAY)) {
    const v = valueAt(t);
    const k = key(v);
    if (k === previous) continue;
    previous = k;
    out.push({ at: t, value: v });
    if (out.length >= limit) break;
  }
  return out;
}

/** An HVAC target with its keys in the spec's order (so equal targets serialize equally). */
export function normalTarget(t: HvacTarget): HvacTarget {
  if (t.holdType === 'SCHEDULED') return { holdType: 'SCHEDULED' };
  switch (t.mode) {
    case 'COOL':
      return { coolSetpoint: t.coolSetpoint, mode: 'COOL', holdType: 'PERMANENT' } as HvacTarget;
    case 'HEAT':
      return { heatSetpoint: t.heatSetpoint, mode: 'HEAT', holdType: 'PERMANENT' } as HvacTarget;
    case 'AUTO':
      return { coolSetpoint: t.coolSetpoint, heatSetpoint: t.heatSetpoint, mode: 'AUTO', holdType: 'PERMANENT' } as HvacTarget;
    case 'OFF':
      return { mode: 'OFF', holdType: 'PERMANENT' };
  }
}

/** The next moment after `nowMs` that is "HH:MM" UTC. */
export function nextClockTime(nowMs: number, hm: string): number {
  const t = dayStart(nowMs) + minutesOf(hm) * MINUTE;
  return t > nowMs ? t : t + DAY;
}
