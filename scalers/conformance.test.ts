import { describe, expect, it } from 'vitest';
import { conformanceChecks } from './conformance.js';
import type { ScalerDefinition } from './definition.js';
import { field } from './metadata.js';
import { scalerDefinitions } from './registry.js';
import { testDeps, testEpochMs } from './testing.js';
import { FakeClock } from '../src/controller/fake-clock.js';
import { createSystemClock } from '../src/controller/clock.js';
import { ConnectionPool } from './connection-pool.js';

// Every scaler the registry lists runs these checks, each of its trigger types; nothing to add per scaler.
describe.each(scalerDefinitions.flatMap((definition) => definition.types.map((type) => ({ type, definition }))))('$type conforms', ({ type, definition }) => {
  // The pool times requests on real time here: a failed read against a closed port has to end by itself, and
  // cluster clients keep retrying the connection until the pool's timeout ends the read.
  const checks = conformanceChecks(definition, type, (overrides) =>
    testDeps(new FakeClock(testEpochMs), { connections: new ConnectionPool({ clock: createSystemClock() }), ...overrides }),
  );
  it.each(checks.map((check) => ({ name: check.name, check })))('$name', async ({ check }) => {
    expect(await check.run()).toEqual([]);
  });
});

describe('the conformance checks', () => {
  // A scaler that breaks every rule, so each check is seen to fail.
  const schema = {
    queue: field.string(),
    depth: field.int({ default: 5 }),
    mode: field.oneOf(['fast', 'slow'], { from: ['authParams'], optional: true }),
    password: field.string({ from: ['authParams'], optional: true, secret: true }),
  };
  let closes = 0;
  const careless: ScalerDefinition<{ password: string | undefined }> = {
    types: ['careless'],
    schema,
    example: { metadata: { queue: 'q' }, authParams: { password: 'p' } },
    allowsCachedMetrics: true,
    external: true,
    parse: ({ trigger, authParams }) => {
      const errors: string[] = [];
      if (trigger.metadata.queue === undefined) errors.push('queue is missing');
      if (authParams.mode !== undefined && !['fast', 'slow'].includes(authParams.mode))
        errors.push(`error parsing careless metadata: mode ${authParams.mode} is unknown`);
      return { config: { password: authParams.password, depth: 4 }, errors };
    },
    create: (config) => ({
      metricSpecs: [{ kind: 'External', metricName: 's0-careless', targetType: 'AverageValue', target: 5 }],
      read: (name) =>
        name === 's0-careless' ? Promise.reject(new Error(`login with ${config.password ?? ''} refused`)) : Promise.resolve({ value: 1, active: true }),
      close: () => (closes++ > 0 ? Promise.reject(new Error('already closed')) : Promise.resolve()),
    }),
  };
  const checks = conformanceChecks(careless, 'careless', (overrides) => testDeps(new FakeClock(testEpochMs), overrides));

  it.each(checks.map((check) => ({ name: check.name, check })))('catch a scaler that does not: $name', async ({ check }) => {
    closes = 0;
    expect(await check.run()).not.toEqual([]);
  });
});
