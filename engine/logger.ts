import { pino } from 'pino';

/** The logging interface the engine uses (pino's, so a pino logger can be passed as is). */
export interface Logger {
  debug(attributes: object, message: string): void;
  info(attributes: object, message: string): void;
  warn(attributes: object, message: string): void;
  error(attributes: object, message: string): void;
}

/** Default logger: pino to stdout, level from `AION_LOG_LEVEL` (default `warn` for a library). */
export function defaultLogger(level = process.env.AION_LOG_LEVEL ?? 'warn'): Logger {
  return pino({ name: 'aion', level });
}
