type CliProgress = typeof import('cli-progress');

/** How far a map or imap has come: items done, and the total when the input's length is known. */
export interface Progress {
  done: number;
  total: number | null;
}

/**
 * `true` draws a bar on standard error when it is a terminal (and draws
 * nothing otherwise, so logs stay clean); a function is called as items
 * finish, wherever the output goes.
 */
export type ProgressOption = boolean | ((progress: Progress) => void);

export interface ProgressReporter {
  advance(items: number): void;
  finish(): void;
}

const SILENT: ProgressReporter = { advance: () => {}, finish: () => {} };

export function progressReporter(option: ProgressOption | undefined, total: number | null): ProgressReporter {
  if (option === undefined || option === false) return SILENT;
  let done = 0;
  if (typeof option === 'function') {
    option({ done, total });
    return { advance: (items) => option({ done: (done += items), total }), finish: () => {} };
  }
  if (!process.stderr.isTTY) return SILENT;
  // Loaded only to draw: every process imports the library (a forked child
  // copies whatever its zygote holds), and few of them draw a bar.
  const { SingleBar, Presets } = require('cli-progress') as CliProgress;
  const bar = new SingleBar(
    {
      stream: process.stderr,
      format: total === null ? ' {value} done | {duration_formatted}' : ' {bar} {percentage}% | {value}/{total} | ETA {eta_formatted}',
      hideCursor: true,
      clearOnComplete: false,
    },
    Presets.shades_classic,
  );
  bar.start(total ?? 0, 0);
  let stopped = false;
  return {
    advance: (items) => bar.update((done += items)),
    finish: () => {
      if (stopped) return;
      stopped = true;
      bar.stop();
    },
  };
}
