/**
 * The structured logger gta writes to. Its shape is pino's (`logger.info(fields, message)`), so a
 * pino instance can be passed as is; the default writes one line per entry to the console, with
 * the fields as JSON.
 * @module
 */

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(fields: LogFields, message?: string): void;
  info(fields: LogFields, message?: string): void;
  warn(fields: LogFields, message?: string): void;
  error(fields: LogFields, message?: string): void;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

const LEVEL_ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

/** A console logger that drops entries below `level`. */
export function consoleLogger(level: LogLevel = 'info'): Logger {
  const write =
    (entryLevel: Exclude<LogLevel, 'silent'>) =>
    (fields: LogFields, message = ''): void => {
      if (LEVEL_ORDER[entryLevel] < LEVEL_ORDER[level]) return;
      const line = `[gta] ${entryLevel} ${message}`;
      const sink =
        entryLevel === 'error' ? console.error : entryLevel === 'warn' ? console.warn : console.log;
      sink(Object.keys(fields).length === 0 ? line : `${line} ${safeJson(fields)}`);
    };
  return { debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error') };
}

function safeJson(fields: LogFields): string {
  try {
    return JSON.stringify(fields);
  } catch {
    return String(Object.keys(fields));
  }
}

/** A logger that writes nothing. */
export const silentLogger: Logger = consoleLogger('silent');
