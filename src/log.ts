import { pino, type Logger } from 'pino';

export type { Logger };

export interface LoggerOptions {
  level?: string;
  name?: string;
}

/** Structured JSON logs on stderr; callers pass the logger down instead of importing a global one. */
export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      level: options.level ?? process.env.SWELL_LOG_LEVEL ?? 'info',
      base: options.name ? { component: options.name } : {},
      redact: { paths: ['*.password', '*.token', '*.secret', '*.authParams'], censor: '[redacted]' },
    },
    pino.destination(2),
  );
}
