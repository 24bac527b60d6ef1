// `npm run bench`: every figure as a ratio to a reference measured in the same run, plus the
// absolute numbers for context. Sizes can be changed by environment for quick local runs.
import { eventsBench } from './events.js';
import { ingestBench } from './ingest.js';
import { pollerBench } from './poller.js';
import { reconcileCostBench, reconcileScoreBench } from './reconcile.js';
import { scaleBench, scaleReport } from './scale.js';
import { pgIngestBench, type PgIngestResult } from './pg-ingest.js';
import { pgScaleBench, pgScaleReport } from './pg-scale.js';
import { benchPostgres, serverSettings } from './pg-support.js';

const env = (name: string, def: number) => Number(process.env[name] ?? def);
/**
 * BENCH_ONLY=ingest,scale runs only those sections (ingest, events, poller, reconcile, scale, pg-ingest,
 * pg-scale; `postgres` names both Postgres sections); default: all.
 */
const only = (process.env.BENCH_ONLY ?? '').split(',').map((s) => s.trim()).filter(Boolean);
type Section = 'ingest' | 'events' | 'poller' | 'reconcile' | 'scale' | 'pg-ingest' | 'pg-scale';
const want = (section: Section) => only.length === 0 || only.includes(section) || (section.startsWith('pg-') && only.includes('postgres'));

function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

async function main() {
  const lines: string[] = [`# enode-sync benchmarks — ${new Date().toISOString()}`];
  if (want('ingest')) await ingestSection(lines);
  if (want('events')) await eventsSection(lines);
  if (want('poller')) await pollerSection(lines);
  if (want('reconcile')) await reconcileSections(lines);
  if (want('scale')) await scaleSection(lines);
  if (want('pg-ingest') || want('pg-scale')) await postgresSections(lines);
  process.stdout.write(`${lines.join('\n')}\n`);
}

async function ingestSection(lines: string[]) {
  const ingest = await ingestBench({
    deliveries: env('BENCH_INGEST_DELIVERIES', 12_000),
    rounds: env('BENCH_INGEST_ROUNDS', 3),
    warmup: env('BENCH_INGEST_WARMUP', 2_000),
    steadyRate: env('BENCH_STEADY_RATE', 200),
    steadyDeliveries: env('BENCH_STEADY_DELIVERIES', 3_000),
    connections: env('BENCH_CONNECTIONS', 32),
    eventsPerDelivery: 10,
  });
  const t = ingest.target;
  const each = (f: (r: (typeof ingest.rounds)[number]) => number, digits = 0) => ingest.rounds.map((r) => fmt(f(r), digits)).join(' / ');
  lines.push(
    `machine: ${ingest.machine}`,
    '',
    `## Ingest: POST /webhooks/enode, bursts of ${fmt(ingest.rounds[0] ? ingest.rounds[0].target.requests : 0)} deliveries of ${ingest.eventsPerDelivery} events (~${fmt(ingest.bodyBytes)} bytes), ${ingest.connections} connections, loopback; ${ingest.rounds.length} rounds, medians`,
    `reference (bare Hono: HMAC-SHA1 + JSON.parse, no storage): ${fmt(ingest.bare.rps)} req/s (rounds: ${each((r) => r.bare.rps)}), p50 ${ingest.bare.p50} ms, p99 ${ingest.bare.p99} ms`,
    `enode-sync (WAL, group commit, acknowledged after an fdatasync that began after the commit): ${fmt(t.rps)} deliveries/s (rounds: ${each((r) => r.target.rps)}), ${fmt(ingest.eventsPerSecond)} events/s, p50 ${t.p50} ms, p99 ${t.p99} ms (${fmt(t.p99 / ingest.bare.p99, 1)}× the reference's; aim ≤ 2)`,
    `ratio enode-sync / reference: ${fmt(ingest.ratio, 2)} (rounds: ${each((r) => r.target.rps / r.bare.rps, 2)})   (aim ≥ 0.7)`,
    `apply (after the acknowledgement): each burst applied ${each((r) => r.drainSeconds, 1)} s after its last request; ${fmt(ingest.apply.deliveriesPerSecond)} deliveries/s = ${fmt(ingest.apply.deliveriesPerSecond * ingest.eventsPerDelivery)} events/s applied end to end (${fmt(ingest.apply.deliveriesPerSecond / ingest.bare.rps, 2)} of the reference; aim ≥ 0.5)`,
    `CPU per delivery during the bursts (µs, all rounds): enode-sync HTTP thread ${fmt(ingest.cpu.target.main)}, writer thread ${fmt(ingest.cpu.target.busiest)}, its other threads (checkpointer, V8 GC helpers, I/O pool) ${fmt(ingest.cpu.target.others)}, load generator ${fmt(ingest.cpu.target.loadGenerator)}; ${fmt(ingest.cpu.targetCores, 2)} cores busy. Reference: server main thread ${fmt(ingest.cpu.bare.main)}, its other threads ${fmt(ingest.cpu.bare.busiest + ingest.cpu.bare.others)}, load generator ${fmt(ingest.cpu.bare.loadGenerator)}; ${fmt(ingest.cpu.bareCores, 2)} cores busy`,
    `latency at a steady ${ingest.steady.rate} deliveries/s (${fmt(ingest.steady.rate * ingest.eventsPerDelivery)} events/s): p50 ${ingest.steady.result.p50} ms, p99 ${ingest.steady.result.p99} ms (Enode's timeout: 5,000 ms)`,
    `non-2xx: ${t.non2xx}, errors/timeouts: ${t.errors}; stored deliveries ${ingest.stored.deliveries} of ${ingest.expectedDeliveries} sent, applied ${ingest.stored.applied}, observations ${ingest.stored.observations}, actions ${ingest.stored.actions}, journal ${ingest.stored.journal}`,
  );
  const lost = ingest.expectedDeliveries - ingest.stored.deliveries;
  const s = ingest.steady.result;
  if (t.non2xx > 0 || t.errors > 0 || s.non2xx > 0 || s.errors > 0 || lost !== 0) {
    process.stderr.write(`bench: ingest was not clean (non-2xx ${t.non2xx}, errors ${t.errors}, missing ${lost})\n`);
    process.exitCode = 1;
  }
}

async function eventsSection(lines: string[]) {
  const ev = await eventsBench({
    steadyRate: env('BENCH_EVENTS_STEADY_RATE', 20),
    steadyDeliveries: env('BENCH_EVENTS_STEADY_DELIVERIES', 600),
    burstDeliveries: env('BENCH_EVENTS_BURST_DELIVERIES', 6_000),
    connections: env('BENCH_CONNECTIONS', 32),
    eventsPerDelivery: 10,
    dispatchIntervalSeconds: env('BENCH_EVENTS_DISPATCH_INTERVAL_SECONDS', 5),
  });
  const s = ev.steady;
  const b = ev.burst;
  lines.push(
    '',
    `## Event log: a subscription (device.*, action.*) to a receiver on loopback and a Server-Sent Events client, both from the start of the log; ALERT_DISPATCH_INTERVAL_SECONDS=${ev.dispatchIntervalSeconds}`,
    `steady ${s.rate} deliveries/s (${fmt(s.rate * 10)} events/s), ${fmt(s.deliveries)} deliveries, ${fmt(s.events)} events logged: from the webhook's POST to the consumer — ` +
      `stream p50 ${fmt(s.stream.p50)} ms, p99 ${fmt(s.stream.p99)} ms; subscriber p50 ${fmt(s.subscriber.p50)} ms, p99 ${fmt(s.subscriber.p99)} ms; reference: the POST's acknowledgement p50 ${fmt(s.ack.p50, 1)} ms, p99 ${fmt(s.ack.p99, 1)} ms`,
    `burst of ${fmt(b.deliveries)} deliveries (${fmt(b.ackedPerSecond)} acknowledged/s), ${fmt(b.events)} events logged: events/s through the log — stream ${fmt(b.streamEventsPerSecond)} (${fmt(b.streamEventsPerSecond / b.appliedEventsPerSecond, 2)} of the applied rate), ` +
      `subscriber ${fmt(b.subscriberEventsPerSecond)} (${fmt(b.subscriberEventsPerSecond / b.appliedEventsPerSecond, 2)}); reference: applied ${fmt(b.appliedEventsPerSecond)} events/s (the burst's events over the time until all of it was applied)`,
    `stream client: ${ev.stream.reconnects} reconnects with Last-Event-ID${ev.stream.ends.length > 0 ? ` (ended by: ${ev.stream.ends.join('; ')})` : ''}`,
  );
  if (b.errors > 0 || s.stream.n < s.events || s.subscriber.n < s.events) {
    process.stderr.write(`bench: events: ${b.errors} failed deliveries; latencies matched ${s.stream.n} (stream) and ${s.subscriber.n} (subscriber) of ${s.events} events\n`);
    process.exitCode = 1;
  }
}

async function pollerSection(lines: string[]) {
  const poller = await pollerBench({ devices: env('BENCH_POLLER_DEVICES', 60), hours: env('BENCH_POLLER_HOURS', 12), seed: 7 });
  lines.push(
    '',
    `## Poller: 20 % of webhooks dropped, ${poller.actions} actions over simulated hours (simulator in-process), poll interval 30 s`,
    `final state right: ${poller.correct} of ${poller.actions}`,
    `actions whose resolving webhook was dropped: ${poller.missed}; GET action requests per such action: ${fmt(poller.getsPerMissed, 2)} (aim ≤ 1.5)`,
    `actions resolved by webhook: GET requests per action ${fmt(poller.getsPerWebhookResolved, 2)}; ${fmt(poller.webhookResolvedWithoutRequest * 100, 1)} % cost no request (the rest stayed PENDING past the first poll step)`,
    `all Enode requests (token, resyncs, device refreshes included) per action: ${fmt(poller.requestsPerAction, 2)}`,
    `time from a missed resolution to the daemon knowing it, in poll intervals: p50 ${fmt(poller.lagInPollIntervals.p50, 1)}, p90 ${fmt(poller.lagInPollIntervals.p90, 1)}, max ${fmt(poller.lagInPollIntervals.max, 1)}`,
  );
  if (poller.correct !== poller.actions) {
    process.stderr.write('bench: poller left actions in a wrong final state\n');
    process.exitCode = 1;
  }
}

async function reconcileSections(lines: string[]) {
  const scores = await reconcileScoreBench({ seeds: [2, 3], devices: env('BENCH_RECONCILE_DEVICES', 100), hours: env('BENCH_RECONCILE_HOURS', 24) });
  lines.push('', `## Reconciler: findings against the simulator's ground truth (a simulated day, 20 % of webhooks dropped 10 % / duplicated 5 % / reordered 5 %, interference 0.4 per device-hour, a command every 5 min)`);
  for (const sc of scores) {
    lines.push(
      `seed ${sc.seed}: ${sc.transitions} transitions judged, findings ${JSON.stringify(sc.findings)}; precision ${fmt(sc.precision, 3)}, recall ${fmt(sc.recall, 3)} (aim ≥ 0.99 each; reference: the simulator's truth); ` +
        `TP ${sc.truePositives}, FP ${sc.falsePositives}, FN ${sc.falseNegatives}; not judgeable (change first seen with a later natural event after lost webhooks): ${sc.confounded}; ` +
        `webhook faults: ${sc.faults.dropped} dropped, ${sc.faults.duplicated} duplicated, ${sc.faults.reordered} reordered of ${sc.faults.eventsDelivered} delivered; ${fmt(sc.seconds, 1)} s`,
    );
  }
  const automated = await reconcileScoreBench({ seeds: [5], devices: env('BENCH_RECONCILE_DEVICES', 100), hours: env('BENCH_RECONCILE_HOURS', 24), schedulesShare: 0.2, smartChargingShare: 0.35 });
  lines.push('', `## Reconciler with Enode's other levels of control: the same day with Enode Schedules on a fifth of the devices and smart charging on a third of the vehicles`);
  for (const sc of automated) {
    lines.push(
      `seed ${sc.seed}: ${sc.transitions} transitions judged; precision ${fmt(sc.precision, 3)}, recall ${fmt(sc.recall, 3)} (aim ≥ 0.99 each; reference: the simulator's truth); TP ${sc.truePositives}, FP ${sc.falsePositives}, FN ${sc.falseNegatives}; ` +
        `own automation: ${sc.automationChanges} real changes, ${sc.automationExplained} transitions explained as ${JSON.stringify(sc.automationByCause)}; ${fmt(sc.seconds, 1)} s`,
    );
  }
  scores.push(...automated);
  const cost = await reconcileCostBench({
    smallFleet: env('BENCH_RECONCILE_SMALL_FLEET', 1_000),
    largeFleet: env('BENCH_RECONCILE_LARGE_FLEET', 20_000),
    changed: 200,
    history: 6,
    rounds: 5,
  });
  lines.push(
    '',
    `## Reconciler cost: ${cost.changed} changed devices per pass, ${cost.history + 7} snapshots per device, median of 5 passes after 2 warm-up passes`,
    `reference (fleet of ${fmt(cost.small.fleet)}): ${fmt(cost.small.perDeviceMs, 3)} ms per changed device`,
    `fleet of ${fmt(cost.large.fleet)}: ${fmt(cost.large.perDeviceMs, 3)} ms per changed device; ratio ${fmt(cost.ratio, 2)} (1.0 = independent of the fleet)`,
    `pass with nothing changed: ${fmt(cost.large.idleMs, 2)} ms over ${fmt(cost.large.fleet)} devices (${cost.large.idleDevices} reconciled)`,
  );
  if (scores.some((sc) => sc.precision < 0.99 || sc.recall < 0.99 || sc.transitions < 1000)) {
    process.stderr.write('bench: reconciler below precision/recall 0.99 or fewer than 1,000 transitions\n');
    process.exitCode = 1;
  }
}

async function scaleSection(lines: string[]) {
  // Scale: 100,000 devices and 1,000,000 events on a file database (test/bench/scale.ts).
  const scale = scaleReport(
    await scaleBench({
      devices: env('BENCH_SCALE_DEVICES', 100_000),
      requests: env('BENCH_SCALE_REQUESTS', 200),
      startups: env('BENCH_SCALE_STARTUPS', 3),
      keepDir: process.env.BENCH_SCALE_DIR,
    }),
  );
  lines.push(...scale.lines);
  if (scale.problems.length > 0) {
    process.stderr.write(`bench: scale: ${scale.problems.join('; ')}\n`);
    process.exitCode = 1;
  }
}

async function postgresSections(lines: string[]) {
  const server = await benchPostgres();
  if ('skip' in server) {
    lines.push('', `## Postgres: skipped, because ${server.skip}`);
    return;
  }
  const settings = await serverSettings(server.url);
  lines.push(
    '',
    `## Postgres (${server.where}): ${settings.version}`,
    `settings: synchronous_commit ${settings.synchronous_commit}, shared_buffers ${settings.shared_buffers}, wal_level ${settings.wal_level}, fsync ${settings.fsync}, commit_delay ${settings.commit_delay}, max_wal_size ${settings.max_wal_size}, max_connections ${settings.max_connections}; each daemon (or pair) and the reference on a database of its own made for this run, or a schema of its own when the role may not CREATE DATABASE`,
  );
  if (want('pg-ingest')) {
    const r = await pgIngestBench({
      adminUrl: server.url,
      deliveries: env('BENCH_PG_INGEST_DELIVERIES', env('BENCH_INGEST_DELIVERIES', 12_000)),
      rounds: env('BENCH_PG_INGEST_ROUNDS', env('BENCH_INGEST_ROUNDS', 3)),
      warmup: env('BENCH_INGEST_WARMUP', 2_000),
      connections: env('BENCH_CONNECTIONS', 32),
      eventsPerDelivery: 10,
    });
    lines.push(...pgIngestLines(r));
  }
  if (want('pg-scale')) {
    const devices = env('BENCH_PG_SCALE_DEVICES', PG_SCALE_DEFAULT_DEVICES);
    const scale = pgScaleReport(await pgScaleBench({ adminUrl: server.url, devices }), PG_SCALE_DEFAULT_DEVICES);
    lines.push(...scale.lines);
    if (scale.problems.length > 0) {
      process.stderr.write(`bench: postgres scale: ${scale.problems.join('; ')}\n`);
      process.exitCode = 1;
    }
  }
}

/**
 * Devices of the Postgres scale figure by default. The full 100,000 (1 M events) takes far longer
 * on Postgres on this machine than on SQLite; BENCH_PG_SCALE_DEVICES=100000 runs it.
 */
const PG_SCALE_DEFAULT_DEVICES = 10_000;

function pgIngestLines(r: PgIngestResult): string[] {
  type Round = PgIngestResult['rounds'][number];
  const ref = r.reference;
  const burst = r.rounds[0]?.reference.load.requests ?? 0;
  const each = (f: (x: Round) => number, digits = 0) => r.rounds.map((x) => fmt(f(x), digits)).join(' / ');
  const cpu = (c: PgIngestResult['one']['cpu'], server: string) =>
    `${server} main thread(s) ${fmt(c.main)}, other threads ${fmt(c.otherThreads)}, Postgres processes ${fmt(c.postgres)}, load generator ${fmt(c.loadGenerator)}; ${fmt(c.cores, 2)} cores busy`;
  const target = (name: string, t: PgIngestResult['one'], burstOf: (x: Round) => Round['one']) => [
    `${name}: ${fmt(t.rps)} deliveries/s acknowledged (rounds: ${each((x) => burstOf(x).load.rps)}), p50 ${t.p50} ms, p99 ${t.p99} ms (${fmt(t.p99 / ref.p99, 1)}× the reference's)`,
    `  ratio to the reference: ${fmt(t.rps / ref.rps, 2)} (rounds: ${each((x) => burstOf(x).load.rps / x.reference.load.rps, 2)})`,
    `  applied end to end (stored and applied, first request to nothing pending): ${fmt(t.appliedPerSecond)} deliveries/s = ${fmt(t.appliedPerSecond * 10)} events/s (${fmt(t.appliedPerSecond / ref.rps, 2)} of the reference; rounds: ${each((x) => burstOf(x).appliedPerSecond)}); burst applied ${fmt(t.drainSeconds, 1)} s after its last acknowledgement`,
    `  CPU per delivery during the bursts (µs): ${cpu(t.cpu, 'daemon')}`,
    `  non-2xx ${t.non2xx}, errors/timeouts ${t.errors}`,
  ];
  const lines = [
    '',
    `### Postgres ingest: POST /webhooks/enode, bursts of ${fmt(burst)} deliveries of 10 events, ${r.rounds.length} rounds (reference, then 1 and 2 replicas in alternating order), medians; each on a ${r.kind} of its own`,
    `reference (bare Hono: HMAC-SHA1 + JSON.parse + one autocommitted INSERT of the body, pool of 10): ${fmt(ref.rps)} req/s (rounds: ${each((x) => x.reference.load.rps)}), p50 ${ref.p50} ms, p99 ${ref.p99} ms; CPU per request (µs): ${cpu(ref.cpu, 'server')}`,
    ...target('1 replica', r.one, (x) => x.one),
    ...target('2 replicas (load split over both, half the connections each; latency: the worse replica)', r.two, (x) => x.two),
    `2 replicas / 1 replica: acknowledged ${fmt(r.two.rps / r.one.rps, 2)} (rounds: ${each((x) => x.two.load.rps / x.one.load.rps, 2)}), applied ${fmt(r.two.appliedPerSecond / r.one.appliedPerSecond, 2)} (rounds: ${each((x) => x.two.appliedPerSecond / x.one.appliedPerSecond, 2)})`,
    `stored: 1 replica ${r.stored.one.deliveries} of ${r.expected} deliveries (${r.stored.one.applied} applied, ${r.stored.one.observations} observations, ${r.stored.one.actions} actions); 2 replicas ${r.stored.two.deliveries} of ${r.expected} (${r.stored.two.applied} applied, ${r.stored.two.observations} observations, ${r.stored.two.actions} actions)`,
  ];
  if (r.logs) lines.push(`daemon logs kept in ${r.logs}`);
  const clean = (t: PgIngestResult['one']) => t.non2xx === 0 && t.errors === 0;
  const s = r.stored;
  if (!clean(r.one) || !clean(r.two) || s.one.deliveries !== r.expected || s.two.deliveries !== r.expected || s.one.applied !== r.expected || s.two.applied !== r.expected || s.one.observations !== s.two.observations) {
    process.stderr.write('bench: postgres ingest was not clean (non-2xx, errors, missing or unapplied deliveries, or the two databases differ)\n');
    process.exitCode = 1;
  }
  return lines;
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
