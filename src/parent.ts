import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { current } from './current.js';
import { validateTimeout } from './validate.js';

/**
 * The parent as its child sees it (`parentProcess()`), as Python's
 * `_ParentProcess`: its pid and name, whether it is alive, and a `join()`
 * that resolves when it ends. A parent that dies leaves its child to be
 * re-parented, which is how `isAlive()` knows.
 */
export class ParentProcess {
  readonly pid: number;
  readonly name: string;

  constructor(pid: number, name: string) {
    this.pid = pid;
    this.name = name;
  }

  get ident(): number {
    return this.pid;
  }

  get exitCode(): null {
    return null;
  }

  isAlive(): boolean {
    // A child forked by a zygote has the zygote for its ppid: there, its channel to the parent says it.
    return forked ? !channelClosed : process.ppid === this.pid;
  }

  /** Resolves when the parent has ended, or after `timeoutMs`. */
  async join(timeoutMs?: number | null): Promise<void> {
    const timeout = validateTimeout(timeoutMs);
    if (!this.isAlive() || timeout === 0) return;
    // The control channel closes as the parent dies, a moment before the kernel
    // re-parents this process; polling getppid() is what settles it.
    const deadline = timeout === null ? Infinity : Date.now() + timeout;
    let interval = 20;
    const onGone = (): void => {
      interval = 1;
    };
    gone.on('gone', onGone);
    try {
      while (this.isAlive() && Date.now() < deadline) await sleep(Math.min(interval, deadline - Date.now()));
    } finally {
      gone.off('gone', onGone);
    }
  }

  toString(): string {
    return `<ParentProcess name='${this.name}' pid=${this.pid}>`;
  }
}

const gone = new EventEmitter();
let forked = false;
let channelClosed = false;

/** Called by a child's bootstrap when its control channel to the parent closes. */
export function noteParentGone(): void {
  channelClosed = true;
  gone.emit('gone');
}

/**
 * Called by the bootstrap of a child forked from a zygote. Its kernel parent
 * is the zygote; `process.ppid` answers with the process that started it, as
 * for any other child, until that one is gone (then, with the kernel's answer:
 * whoever adopted it).
 */
export function noteForked(): void {
  forked = true;
  const owner = [process, Object.getPrototypeOf(process) as object].find((o) => Object.getOwnPropertyDescriptor(o, 'ppid') !== undefined);
  const kernels = owner === undefined ? undefined : Object.getOwnPropertyDescriptor(owner, 'ppid');
  const kernelPpid = (): number => (kernels?.get !== undefined ? (kernels.get.call(process) as number) : (kernels?.value as number));
  Object.defineProperty(process, 'ppid', {
    configurable: true,
    enumerable: true,
    get: () => (!channelClosed && current.parent !== null ? current.parent.pid : kernelPpid()),
  });
}

let parent: ParentProcess | null | undefined;

/** The parent of the current process, or null in the main process. */
export function parentProcess(): ParentProcess | null {
  if (parent === undefined) parent = current.parent === null ? null : new ParentProcess(current.parent.pid, current.parent.name);
  return parent;
}
