import { open, stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';

// Container logs kept as plain files, served the way the kubelet serves them: whole, the last N lines, a byte
// limit, and "follow" that streams new output until the container ends or the reader goes away.

export interface FileLogOptions {
  readonly tailLines?: number;
  readonly limitBytes?: number;
  readonly follow: boolean;
  /** While following: true once nothing more will be written (the container ended). */
  readonly finished: () => boolean;
  readonly signal: AbortSignal;
  readonly pollMs?: number;
}

const chunkSize = 64 * 1024;

export function readLogFile(path: string, options: FileLogOptions): Readable {
  return Readable.from(logChunks(path, options));
}

async function* logChunks(path: string, options: FileLogOptions): AsyncGenerator<Buffer> {
  let offset = options.tailLines === undefined ? 0 : await tailOffset(path, options.tailLines);
  let budget = options.limitBytes ?? Infinity;
  for (;;) {
    // Read "finished" before reading, so output written just before the end is not lost.
    const finished = !options.follow || options.finished();
    for await (const chunk of readFrom(path, offset)) {
      const piece = chunk.length > budget ? chunk.subarray(0, budget) : chunk;
      offset += chunk.length;
      budget -= piece.length;
      yield piece;
      if (budget <= 0) return;
    }
    if (finished || options.signal.aborted) return;
    try {
      await sleep(options.pollMs ?? 200, undefined, { signal: options.signal });
    } catch {
      return;
    }
  }
}

async function* readFrom(path: string, offset: number): AsyncGenerator<Buffer> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch {
    return;
  }
  try {
    let position = offset;
    for (;;) {
      const buffer = Buffer.alloc(chunkSize);
      const { bytesRead } = await handle.read(buffer, 0, chunkSize, position);
      if (bytesRead === 0) return;
      position += bytesRead;
      yield buffer.subarray(0, bytesRead);
    }
  } finally {
    await handle.close();
  }
}

/** Byte offset where the last `lines` lines of the file begin (a trailing newline does not start a line). */
export async function tailOffset(path: string, lines: number): Promise<number> {
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch {
    return 0;
  }
  if (lines <= 0) return size;
  const handle = await open(path, 'r');
  try {
    let newlines = 0;
    let end = size;
    // Skip the newline that ends the last line.
    const last = Buffer.alloc(1);
    if (size > 0 && (await handle.read(last, 0, 1, size - 1)).bytesRead === 1 && last[0] === 0x0a) end = size - 1;
    while (end > 0) {
      const start = Math.max(0, end - chunkSize);
      const buffer = Buffer.alloc(end - start);
      await handle.read(buffer, 0, buffer.length, start);
      for (let i = buffer.length - 1; i >= 0; i--) {
        if (buffer[i] === 0x0a && ++newlines === lines) return start + i + 1;
      }
      end = start;
    }
    return 0;
  } finally {
    await handle.close();
  }
}
