import { Readable } from 'node:stream';
import { GetLogEventsCommand, type CloudWatchLogsClient, type OutputLogEvent } from '@aws-sdk/client-cloudwatch-logs';
import { sleep, type Clock } from '../../../controller/clock.js';
import type { LogOptions } from '../../provider.js';
import { rfc3339 } from '../../pod-status.js';
import type { Pacer } from './pacing.js';

// `kubectl logs` for a container of a Fargate task: its awslogs stream, read with GetLogEvents. Tail and since
// are asked of the service; limitBytes is cut here; follow polls the stream until the task has ended.

export interface LogStreamSource {
  readonly logs: CloudWatchLogsClient;
  readonly pacer: Pacer;
  readonly clock: Clock;
  readonly logGroup: string;
  readonly logStream: string;
  /** True once nothing more will be written (the task stopped); checked between polls. */
  readonly ended: () => boolean;
  readonly pollMs: number;
}

export function readLogStream(source: LogStreamSource, options: LogOptions): Readable {
  return Readable.from(lines(source, options), { objectMode: false });
}

async function* lines(source: LogStreamSource, options: LogOptions): AsyncGenerator<string> {
  let budget = options.limitBytes ?? Number.POSITIVE_INFINITY;
  const emit = (events: readonly OutputLogEvent[]): string => {
    let text = '';
    for (const event of events) {
      const line = `${options.timestamps && event.timestamp !== undefined ? `${rfc3339(new Date(event.timestamp))} ` : ''}${event.message ?? ''}`;
      text += line.endsWith('\n') ? line : `${line}\n`;
    }
    const out = text.length > budget ? Buffer.from(text).subarray(0, budget).toString() : text;
    budget -= Buffer.byteLength(out);
    return out;
  };
  const first = options.tailLines === undefined ? await readAll(source, options.since, undefined) : await readTail(source, options.tailLines, options.since);
  const chunk = emit(first.events);
  if (chunk) yield chunk;
  let token = first.nextToken;
  while (options.follow && budget > 0 && !options.signal.aborted) {
    const wasEnded = source.ended();
    if (!(await sleep(source.clock, source.pollMs, options.signal))) return;
    const next = await readAll(source, options.since, token);
    token = next.nextToken ?? token;
    const more = emit(next.events);
    if (more) yield more;
    // One more read after the task ended picks up what the log driver flushed last.
    if (wasEnded) return;
  }
}

interface Page {
  readonly events: OutputLogEvent[];
  /** Where the next forward read starts. */
  readonly nextToken?: string;
}

/** Every event from the start (or `since`, or `token`) up to now, following forward tokens until they repeat. */
async function readAll(source: LogStreamSource, since: Date | undefined, token: string | undefined): Promise<Page> {
  const events: OutputLogEvent[] = [];
  let next = token;
  for (let page = 0; page < 1000; page++) {
    // startTime stays on every page: a token counts events within the same window.
    const result = await get(source, { startFromHead: true, ...(since ? { startTime: since.getTime() } : {}), ...(next ? { nextToken: next } : {}) });
    if (!result) return { events, ...(next ? { nextToken: next } : {}) };
    events.push(...(result.events ?? []));
    if (!result.nextForwardToken || result.nextForwardToken === next) break;
    next = result.nextForwardToken;
    if ((result.events ?? []).length === 0) break;
  }
  return { events, ...(next ? { nextToken: next } : {}) };
}

/** The last `count` events (after `since`), in order. */
async function readTail(source: LogStreamSource, count: number, since: Date | undefined): Promise<Page> {
  if (count === 0) {
    const head = await get(source, { startFromHead: false, limit: 1 });
    return { events: [], ...(head?.nextForwardToken ? { nextToken: head.nextForwardToken } : {}) };
  }
  const result = await get(source, { startFromHead: false, limit: Math.min(count, 10_000), ...(since ? { startTime: since.getTime() } : {}) });
  return { events: result?.events ?? [], ...(result?.nextForwardToken ? { nextToken: result.nextForwardToken } : {}) };
}

/** One GetLogEvents; undefined while the stream does not exist yet (the container has not written). */
async function get(source: LogStreamSource, params: { startFromHead: boolean; limit?: number; startTime?: number; nextToken?: string }) {
  try {
    return await source.pacer.run(() =>
      source.logs.send(new GetLogEventsCommand({ logGroupName: source.logGroup, logStreamName: source.logStream, ...params })),
    );
  } catch (error) {
    if ((error as { name?: string }).name === 'ResourceNotFoundException') return undefined;
    throw error;
  }
}
