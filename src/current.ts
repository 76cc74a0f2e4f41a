/**
 * What the calling process knows about itself: its identity, name, daemon
 * flag and authkey (inherited from the parent in a child), the counter that
 * numbers the Processes it creates, and whether it is still bootstrapping
 * (importing the parent's modules in a child). Python keeps the same facts
 * in `process._current_process._config` and a module-level counter.
 */
export interface ProcessIdentity {
  /** `[]` in the main process; the parent's identity plus this child's number in a child. */
  identity: number[];
  name: string;
  daemon: boolean;
  authkey: Buffer;
}

export interface ParentInfo {
  pid: number;
  name: string;
}

/** The module a child imports first, as Python's spawn re-imports `__main__`. */
export interface MainModule {
  url: string;
  /** Loaded through `require` (CommonJS) rather than `import()`. */
  commonjs: boolean;
}

interface CurrentState extends ProcessIdentity {
  counter: number;
  parent: ParentInfo | null;
  bootstrapping: boolean;
  /** The start method a child inherits as its default, as Python's bootstrap forces it. */
  inheritedStartMethod: string | null;
  /** In a child: the main module of the root program, passed on to grandchildren. */
  inheritedMain: MainModule | null | undefined;
  /** This process ignores SIGINT, and so do the children it starts (see ignoreSigint). */
  ignoresSigint: boolean;
}

let authkey: Buffer | null = null;

export const current: CurrentState = {
  identity: [],
  name: 'MainProcess',
  daemon: false,
  // The key is made on first use: a child replaces it with its parent's anyway.
  get authkey(): Buffer {
    authkey ??= (require('node:crypto') as typeof import('node:crypto')).randomBytes(32);
    return authkey;
  },
  set authkey(key: Buffer) {
    authkey = key;
  },
  counter: 0,
  parent: null,
  bootstrapping: false,
  inheritedStartMethod: null,
  inheritedMain: undefined,
  ignoresSigint: false,
};

/**
 * Python's `signal.signal(SIGINT, SIG_IGN)` in a manager's server: a Ctrl-C
 * in a terminal reaches the whole process group, and the server must outlive
 * it. A SIG_IGN survives fork and exec, so the server's children (a managed
 * Pool's workers) ignore it too; Node's children start with the default
 * action, so the flag travels with each child's job instead (see JobMessage).
 */
export function ignoreSigint(): void {
  if (current.ignoresSigint) return;
  current.ignoresSigint = true;
  process.on('SIGINT', () => undefined);
}

/** Called in a child before anything else: it becomes the process its parent described. */
export function becomeChild(self: ProcessIdentity, parent: ParentInfo): void {
  current.identity = self.identity;
  current.name = self.name;
  current.daemon = self.daemon;
  current.authkey = self.authkey;
  current.counter = 0;
  current.parent = parent;
}

export function nextIdentity(): number[] {
  current.counter += 1;
  return [...current.identity, current.counter];
}
