import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CronWindow, cronMetricName, cronWindowActive } from './cron.js';
import { createScaler, validateTriggerMetadata } from './registry.js';
import { contextFor, testDeps } from './testing.js';
import { FakeClock } from '../src/controller/fake-clock.js';

const office = { start: '0 9 * * 1-5', end: '0 17 * * 1-5' };

describe('cronWindowActive', () => {
  it.each([
    // 2026-01-05 is a Monday.
    { tz: 'Etc/UTC', ...office, now: '2026-01-05T08:59:59Z', active: false },
    { tz: 'Etc/UTC', ...office, now: '2026-01-05T09:00:00Z', active: true },
    { tz: 'Etc/UTC', ...office, now: '2026-01-05T16:59:59Z', active: true },
    { tz: 'Etc/UTC', ...office, now: '2026-01-05T17:00:00Z', active: false },
    { tz: 'Etc/UTC', ...office, now: '2026-01-10T12:00:00Z', active: false },
    // Winter: London is on UTC; summer (BST, from 2026-03-29 01:00Z) it is UTC+1.
    { tz: 'Europe/London', start: '0 9 * * *', end: '0 17 * * *', now: '2026-03-28T08:30:00Z', active: false },
    { tz: 'Europe/London', start: '0 9 * * *', end: '0 17 * * *', now: '2026-03-29T08:30:00Z', active: true },
    { tz: 'Europe/London', start: '0 9 * * *', end: '0 17 * * *', now: '2026-03-29T16:30:00Z', active: false },
    // Autumn back (2026-10-25 01:00Z): 16:30Z is 16:30 GMT again, inside the window.
    { tz: 'Europe/London', start: '0 9 * * *', end: '0 17 * * *', now: '2026-10-25T16:30:00Z', active: true },
    // New York is UTC-5 in January.
    { tz: 'America/New_York', ...office, now: '2026-01-05T13:59:00Z', active: false },
    { tz: 'America/New_York', ...office, now: '2026-01-05T14:00:00Z', active: true },
    { tz: 'America/New_York', ...office, now: '2026-01-05T22:30:00Z', active: false },
    // Half-hour offset: Kolkata is UTC+5:30.
    { tz: 'Asia/Kolkata', start: '30 10 * * *', end: '0 11 * * *', now: '2026-01-05T05:00:00Z', active: true },
    { tz: 'Asia/Kolkata', start: '30 10 * * *', end: '0 11 * * *', now: '2026-01-05T05:30:00Z', active: false },
    // A window across midnight.
    { tz: 'Etc/UTC', start: '0 22 * * *', end: '0 6 * * *', now: '2026-01-05T23:00:00Z', active: true },
    { tz: 'Etc/UTC', start: '0 22 * * *', end: '0 6 * * *', now: '2026-01-06T05:59:00Z', active: true },
    { tz: 'Etc/UTC', start: '0 22 * * *', end: '0 6 * * *', now: '2026-01-06T06:00:00Z', active: false },
    { tz: 'Etc/UTC', start: '0 22 * * *', end: '0 6 * * *', now: '2026-01-06T12:00:00Z', active: false },
    // Every other hour on, every other hour off.
    { tz: 'Etc/UTC', start: '0 */2 * * *', end: '0 1-23/2 * * *', now: '2026-01-05T04:10:00Z', active: true },
    { tz: 'Etc/UTC', start: '0 */2 * * *', end: '0 1-23/2 * * *', now: '2026-01-05T05:10:00Z', active: false },
  ])('$tz $start..$end at $now → $active', ({ tz, start, end, now, active }) => {
    expect(cronWindowActive(new Date(now), { timezone: tz, start, end })).toBe(active);
  });
});

describe('CronWindow', () => {
  const schedules = [
    { timezone: 'Europe/London', start: '0 9 * * *', end: '0 17 * * *' },
    { timezone: 'America/New_York', start: '0 22 * * *', end: '0 6 * * *' },
    { timezone: 'Etc/UTC', start: '0 */2 * * *', end: '0 1-23/2 * * *' },
    { timezone: 'Asia/Kolkata', start: '30 10 * * 1-5', end: '0 11 * * 1-5' },
  ];
  const from = Date.parse('2026-03-27T00:00:00Z');

  it('answers a run of polls, forwards and backwards in time, as a fresh evaluation of each would', () => {
    fc.assert(
      fc.property(fc.constantFrom(...schedules), fc.array(fc.integer({ min: 0, max: 4 * 86_400_000 }), { minLength: 1, maxLength: 20 }), (spec, offsets) => {
        const window = new CronWindow(spec);
        for (const offset of offsets) {
          const now = new Date(from + offset);
          expect(window.activeAt(now)).toBe(cronWindowActive(now, spec));
        }
      }),
      { numRuns: 25 },
    );
  });

  it('turns at the exact start and end instants while polled every second', () => {
    const window = new CronWindow({ timezone: 'Etc/UTC', start: '0 9 * * *', end: '0 17 * * *' });
    const transitions: string[] = [];
    let last: boolean | undefined;
    for (let at = Date.parse('2026-01-05T08:59:00Z'); at <= Date.parse('2026-01-05T17:01:00Z'); at += 1000) {
      const active = window.activeAt(new Date(at));
      if (active !== last) transitions.push(`${new Date(at).toISOString()} ${active}`);
      last = active;
    }
    expect(transitions).toEqual(['2026-01-05T08:59:00.000Z false', '2026-01-05T09:00:00.000Z true', '2026-01-05T17:00:00.000Z false']);
  });
});

describe('cron metric names', () => {
  it.each([
    ['Etc/UTC', '0 0 * * Thu', '59 23 * * Thu', 'cron-Etc/UTC-00xxThu-5923xxThu'],
    ['Etc/UTC', '0 */2 * * *', '0 1-23/2 * * *', 'cron-Etc/UTC-0xSl2xxx-01-23Sl2xxx'],
    ['Etc/UTC', '0,30 * * * *', '15,45 * * * *', 'cron-Etc/UTC-0Cm30xxxx-15Cm45xxxx'],
  ])('%s %s %s', (timezone, start, end, name) => expect(cronMetricName({ timezone, start, end })).toBe(name));

  it('normalises into the s<index>- name KEDA publishes', () => {
    const trigger = { type: 'cron', metadata: { timezone: 'Etc/UTC', start: '0 */2 * * *', end: '0 1-23/2 * * *', desiredReplicas: '3' } };
    const scaler = createScaler(contextFor(trigger, { triggerIndex: 1 }), testDeps());
    expect(scaler.metricSpecs).toEqual([{ kind: 'External', metricName: 's1-cron-Etc-UTC-0xSl2xxx-01-23Sl2xxx', targetType: 'AverageValue', target: 1 }]);
  });
});

describe('cron scaler', () => {
  const metadata = { timezone: 'Europe/Berlin', start: '0 8 * * *', end: '0 18 * * *', desiredReplicas: '4' };

  it('reports desiredReplicas inside the window and 0 outside, by the injected clock', async () => {
    const clock = new FakeClock(Date.parse('2026-07-01T05:59:00Z'));
    const scaler = createScaler(contextFor({ type: 'cron', metadata }), testDeps(clock));
    const name = scaler.metricSpecs[0]?.kind === 'External' ? scaler.metricSpecs[0].metricName : '';
    await expect(scaler.read(name)).resolves.toEqual({ value: 0, active: false });
    await clock.advance(Date.parse('2026-07-01T06:00:00Z') - clock.now());
    await expect(scaler.read(name)).resolves.toEqual({ value: 4, active: true });
    await clock.advance(Date.parse('2026-07-01T16:00:00Z') - clock.now());
    await expect(scaler.read(name)).resolves.toEqual({ value: 0, active: false });
    await scaler.close();
  });

  it('fails each read, not the parse, on an unknown time zone (as KEDA)', async () => {
    const trigger = { type: 'cron', metadata: { ...metadata, timezone: 'Mars/Olympus' } };
    expect(validateTriggerMetadata(trigger)).toEqual([]);
    const scaler = createScaler(contextFor(trigger), testDeps());
    const name = scaler.metricSpecs[0]?.kind === 'External' ? scaler.metricSpecs[0].metricName : '';
    await expect(scaler.read(name)).rejects.toThrow('unable to load timezone: Mars/Olympus');
  });

  it.each([
    [
      {},
      [
        'missing required parameter "timezone" in [triggerMetadata]',
        'missing required parameter "start" in [triggerMetadata]',
        'missing required parameter "end" in [triggerMetadata]',
        'missing required parameter "desiredReplicas" in [triggerMetadata]',
      ],
    ],
    [{ ...metadata, start: '0 0 8 * * *' }, ['error parsing start schedule:']],
    [{ ...metadata, end: '@daily' }, ['error parsing end schedule: descriptors are not supported']],
    [{ ...metadata, end: '61 * * * *' }, ['error parsing end schedule:']],
    [{ ...metadata, end: metadata.start }, ['start and end can not have exactly same time input']],
    [{ ...metadata, desiredReplicas: '0' }, ['no desiredReplicas specified']],
    [{ ...metadata, desiredReplicas: 'two' }, ['unable to set param "desiredReplicas" value "two": not an integer']],
  ])('rejects %j', (bad, problems) => {
    const errors = validateTriggerMetadata({ type: 'cron', metadata: bad });
    expect(errors).toHaveLength(problems.length);
    problems.forEach((p, i) => expect(errors[i]).toContain(`error parsing cron metadata: ${p}`));
  });

  it('refuses useCachedMetrics', () => {
    expect(validateTriggerMetadata({ type: 'cron', metadata, useCachedMetrics: true })).toEqual([
      'property "useCachedMetrics" is not supported for "cron" scaler',
    ]);
  });
});
