// Plain line logger for long-running commands: ISO time, level, message, on stderr so
// stdout stays for data (`--json`). Callers never pass key material here.

export type LogLevel = 'info' | 'warn' | 'error';

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export function createLogger(stream: NodeJS.WritableStream = process.stderr): Logger {
  const write = (level: LogLevel, message: string) => stream.write(`${new Date().toISOString()} ${level} ${message}\n`);
  return {
    info: (m) => write('info', m),
    warn: (m) => write('warn', m),
    error: (m) => write('error', m),
  };
}
