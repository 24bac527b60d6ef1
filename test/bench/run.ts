// `npm run bench`: every figure as a ratio to a reference measured in the same run, plus the
// absolute numbers for context. Sizes can be changed by environment for quick local runs.
import { ingestBench } from './ingest.js';
import { pollerBench } from './poller.js';

const env = (name: string, def: number) => Number(process.env[name] ?? def);

function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

async function main() {
  const ingest = await ingestBench({
    deliveries: env('BENCH_INGEST_DELIVERIES', 20_000),
    warmup: env('BENCH_INGEST_WARMUP', 2_000),
    steadyRate: env('BENCH_STEADY_RATE', 200),
    steadyDeliveries: env('BENCH_STEADY_DELIVERIES', 3_000),
    connections: env('BENCH_CONNECTIONS', 32),
    eventsPerDelivery: 10,
  });
  const t = ingest.target;
  const lines = [
    `# enode-sync benchmarks — ${new Date().toISOString()}`,
    `machine: ${ingest.machine}`,
    '',
    `## Ingest: POST /webhooks/enode, ${ingest.eventsPerDelivery} events per delivery (~${fmt(ingest.bodyBytes)} bytes), ${ingest.connections} connections, loopback`,
    `reference (bare Hono: HMAC-SHA1 + JSON.parse, no storage): ${fmt(ingest.bare.rps)} req/s (runs before/after: ${fmt(ingest.bare.before.rps)} / ${fmt(ingest.bare.after.rps)}), p50 ${ingest.bare.before.p50} ms, p99 ${ingest.bare.before.p99} ms`,
    `enode-sync (WAL, synchronous=FULL, group commit), acknowledged: ${fmt(t.rps)} deliveries/s, ${fmt(ingest.eventsPerSecond)} events/s, p50 ${t.p50} ms, p99 ${t.p99} ms`,
    `ratio enode-sync / reference: ${fmt(ingest.ratio, 2)}   (floor 0.35, aim 0.6)`,
    `apply (after the acknowledgement): burst applied ${fmt(ingest.apply.drainSeconds, 1)} s after its last request; ${fmt(ingest.apply.deliveriesPerSecond)} deliveries/s = ${fmt(ingest.apply.deliveriesPerSecond * ingest.eventsPerDelivery)} events/s applied end to end (${fmt(ingest.apply.deliveriesPerSecond / ingest.bare.rps, 2)} of the reference)`,
    `latency at a steady ${ingest.steady.rate} deliveries/s (${fmt(ingest.steady.rate * ingest.eventsPerDelivery)} events/s): p50 ${ingest.steady.result.p50} ms, p99 ${ingest.steady.result.p99} ms (Enode's timeout: 5,000 ms)`,
    `non-2xx: ${t.non2xx}, errors/timeouts: ${t.errors}; stored deliveries ${ingest.stored.deliveries} of ${ingest.expectedDeliveries} sent, applied ${ingest.stored.applied}, observations ${ingest.stored.observations}, actions ${ingest.stored.actions}, journal ${ingest.stored.journal}`,
  ];
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
  process.stdout.write(`${lines.join('\n')}\n`);
  if (poller.correct !== poller.actions) {
    process.stderr.write('bench: poller left actions in a wrong final state\n');
    process.exitCode = 1;
  }
  const lost = ingest.expectedDeliveries - ingest.stored.deliveries;
  const s = ingest.steady.result;
  if (t.non2xx > 0 || t.errors > 0 || s.non2xx > 0 || s.errors > 0 || lost !== 0) {
    process.stderr.write(`bench: ingest was not clean (non-2xx ${t.non2xx}, errors ${t.errors}, missing ${lost})\n`);
    process.exitCode = 1;
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
