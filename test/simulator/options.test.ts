import { describe, expect, it } from 'vitest';
import { createSimulator, parseSimulatorOptions, SimulatorUsageError } from '../../src/simulator/index.js';

describe('parseSimulatorOptions', () => {
  it('reads flags in both forms and SIM_* environment variables, flags winning', () => {
    const o = parseSimulatorOptions(
      ['--port', '0', '--seed=9', '--drop-rate', '0.1', '--delay-ms', '100-500', '--action-delay-seconds=5', '--vehicles', '4', '--token-clock', 'sim'],
      { SIM_SEED: '3', SIM_TIME_SCALE: '60', SIM_WEBHOOK_URL: 'http://127.0.0.1:8080/webhooks/enode', SIM_WEBHOOK_SECRET: 'abcdefgh' },
    );
    expect(o).toMatchObject({
      port: 0,
      seed: 9,
      dropRate: 0.1,
      delayMs: [100, 500],
      actionDelaySeconds: [5, 5],
      fleet: { vehicles: 4 },
      tokenClock: 'sim',
      timeScale: 60,
      webhookUrl: 'http://127.0.0.1:8080/webhooks/enode',
      webhookSecret: 'abcdefgh',
    });
    expect(Math.abs(Date.parse(o.startTime) - Date.now())).toBeLessThan(5000);
  });

  it('throws one error naming every bad flag and variable', () => {
    let message = '';
    try {
      parseSimulatorOptions(['--drop-rate', '2', '--port', 'abc', '--bogus', '1', '--delay-ms', '5-1', 'stray'], { SIM_ERROR_RATE: 'lots' });
    } catch (err) {
      message = (err as Error).message;
    }
    for (const part of ['--drop-rate', '--port', '--bogus', '--delay-ms', 'stray', 'SIM_ERROR_RATE']) expect(message).toContain(part);
  });

  it('requires a webhook secret with a webhook URL', () => {
    expect(() => parseSimulatorOptions(['--webhook-url', 'http://localhost:1/x'], {})).toThrow(/webhookSecret/);
  });

  it('answers --help with the usage text', () => {
    expect(() => parseSimulatorOptions(['--help'], {})).toThrow(SimulatorUsageError);
    try {
      parseSimulatorOptions(['--help'], {});
    } catch (err) {
      expect((err as Error).message).toContain('SIM_INTERFERENCE_RATE');
    }
  });

  it('rejects bad options passed to createSimulator', () => {
    expect(() => createSimulator({ dropRate: -1, maxBatchSize: 500 })).toThrow(/dropRate[\s\S]*maxBatchSize/);
  });
});

describe('logger option', () => {
  it('accepts the project pino logger', async () => {
    const { silentLogger } = await import('../../src/logger.js');
    const logger: import('../../src/simulator/index.js').SimLogger = silentLogger();
    const sim = createSimulator({ devices: 2, logger });
    expect(sim.state().devices).toBeDefined();
  });
});
