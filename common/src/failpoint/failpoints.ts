/**
 * Code-level failpoints (etcd gofail style): named places in the code where a test or a chaos
 * run can make the process crash, fail with a typed error, pause, or switch a behaviour on.
 * They open crash windows too narrow to hit by killing a process from outside (the write is
 * durable but not yet answered; the placement is planned but not yet published).
 *
 * A failpoint does nothing until it is armed, by `--failpoints` / `QUIRE_FAILPOINTS` at start
 * or at runtime through the internal Debug service (served only with `--failpoints-admin`).
 * Spec grammar, terms separated by ';':
 *
 *     name=[P%][N*]action      action: off | crash | sleep(MS) | error(CODE) | yield | true
 *
 * `P%` fires the action with probability P (0..100, from the injected Rng); `N*` fires it at
 * most N times (a hit that loses the probability roll does not use one up); `off` disarms.
 *
 * Invariants:
 *  - Every name the code hits is declared once in `failpointRegistry`, with the component
 *    that hits it and the kind of site; arming an unknown name, a name of another component,
 *    or an action the site cannot perform is refused at arm time and changes nothing.
 *  - A site's kind fixes its method and actions: `sync` sites call hit() and take crash or
 *    error (never sleep: a synchronous caller cannot wait); `async` sites call hitAsync() and
 *    also take sleep; `switch` sites call isOn() and take yield/true.
 *  - With nothing armed, hit(), hitAsync() and isOn() cost one Map size check.
 *  - An instance belongs to one process and is injected (main.ts creates it); there is no
 *    module-level failpoint state.
 */
import { assert, unreachable } from '../assert.js';
import type { Clock } from '../clock.js';
import { InvalidArgumentError, errorClasses, isQuireErrorCode, type QuireErrorCode } from '../errors/quire-error.js';
import type { Logger } from '../log/logger.js';
import type { Rng } from '../rng.js';

/** The processes that hit failpoints. */
export type FailpointComponent = 'datanode' | 'coordinator' | 'router';

/**
 * How a failpoint's code site evaluates it: `sync` sites call hit() (crash, error), `async`
 * sites call hitAsync() (crash, error, sleep), `switch` sites call isOn() (yield/true).
 */
export type FailpointSite = 'sync' | 'async' | 'switch';

/** One declared failpoint. */
export interface FailpointDefinition {
  readonly name: string;
  readonly component: FailpointComponent;
  readonly site: FailpointSite;
  /** What happens at the site, and what each action means there. */
  readonly description: string;
}

/**
 * Every failpoint the code hits. docs/testing.md lists the same table; a name missing here
 * cannot be armed, and a name used in code but missing here does not compile.
 */
export const failpointRegistry = [
  {
    name: 'datanode.groupCommit.beforeCommit',
    component: 'datanode',
    site: 'async',
    description:
      'Before the storage transaction of a group-commit batch of client writes (transactions that only append for a leader, carry a heartbeat or apply never hit it): error(CODE) answers every write of the batch with CODE and stores none of it; crash dies with the batch unwritten; sleep(MS) holds the batch (later writes queue behind it)',
  },
  {
    name: 'datanode.groupCommit.afterCommit',
    component: 'datanode',
    site: 'async',
    description:
      "After the transaction of a batch of client writes is durable (fsynced; other transactions never hit it), before any of its writes is answered: crash leaves them durable but unacknowledged (clients see AMBIGUOUS_RESULT); sleep(MS) delays the answers; error(CODE) answers every write of the batch with CODE although it is stored (a deliberate lie unless CODE is AMBIGUOUS_RESULT)",
  },
  {
    name: 'datanode.groupCommit.ackBeforeDurable',
    component: 'datanode',
    site: 'switch',
    description:
      'BREAKS DURABILITY: the group committer answers each write as soon as it is applied inside the storage transaction, before the commit is fsynced (decided once per batch). Only for proving that the chaos checkers catch lost acknowledged writes',
  },
  {
    name: 'datanode.storage.skipFsync',
    component: 'datanode',
    site: 'switch',
    description:
      'BREAKS DURABILITY: read once when the data node opens its storage; when on, LMDB commits without fsync (noSync) and the WAL engine skips its fdatasync, so writes are acknowledged before they are on disk and a power loss drops the newest of them. Only for proving that the chaos checkers catch lost acknowledged writes; arm it through QUIRE_FAILPOINTS',
  },
  {
    name: 'datanode.wal.beforeSync',
    component: 'datanode',
    site: 'async',
    description:
      "With --storage-engine wal, after a batch is written to the write-ahead log and before its fdatasync: error(CODE) fails the sync as an EIO from fdatasync would (the log is broken, the data node stops with exit code 70, and no write of the batch or after it is acknowledged); crash dies with the batch written but not synced; sleep(MS) holds the sync (every later batch waits behind it)",
  },
  {
    name: 'datanode.replication.breakStreams',
    component: 'datanode',
    site: 'switch',
    description:
      "A follower ends every replication stream from its leaders with UNAVAILABLE at the first message that arrives, unhandled, as a network cut would: the leaders' entries stop reaching this node (they reconnect with backoff, and probe again once it is disarmed). For tests of what the semi-sync and async ack policies lose (a leader acknowledging entries no follower has)",
  },
  {
    name: 'router.forward.beforeSend',
    component: 'router',
    site: 'async',
    description:
      'In the router, before an operation is sent to its data node: error(CODE) fails the operation with CODE without sending it; sleep(MS) delays it (it still counts against its deadline); crash kills the router with operations in flight',
  },
  {
    name: 'router.resend.dropRequestId',
    component: 'router',
    site: 'switch',
    description:
      'BREAKS AT-MOST-ONCE WRITES: when on, the router resends a write whose earlier attempt was ambiguous without its request id, so a data node that applied the first attempt applies it again (or refuses its condition against the version the first attempt produced). Only for proving that the chaos checkers catch duplicated writes; arm it through QUIRE_FAILPOINTS',
  },
  {
    name: 'coordinator.placement.beforePublish',
    component: 'coordinator',
    site: 'async',
    description:
      'In the coordinator leader, after placement planned new assignments and before the fenced etcd write publishes them: crash kills the leader between plan and publish; error(CODE) fails this reconcile (it is retried); sleep(MS) widens the window in which the view can change under the plan',
  },
  {
    name: 'coordinator.move.afterAdd',
    component: 'coordinator',
    site: 'async',
    description:
      "In the coordinator leader, after a replica move's first write (the target added as a learner, with the move record) applied: crash kills the leader with the move recorded in phase adding (a standby adopts it); sleep(MS) holds the move's step",
  },
  {
    name: 'coordinator.move.beforeHandOver',
    component: 'coordinator',
    site: 'async',
    description:
      'In the coordinator leader, before a replica move asks its leading source to hand the leadership to the target: crash kills the leader with the target in sync and the source still leading; sleep(MS) delays the hand-over',
  },
  {
    name: 'coordinator.move.afterRemove',
    component: 'coordinator',
    site: 'async',
    description:
      "In the coordinator leader, after a replica move's write removing the source applied and before the move record is ended: crash kills the leader with the move recorded in phase removing (a standby ends it as done)",
  },
] as const satisfies readonly FailpointDefinition[];

/** The name of a declared failpoint. */
export type FailpointName = (typeof failpointRegistry)[number]['name'];

/** Highest P in `P%`. */
export const failpointProbabilityPercentMax = 100;
/** Highest N in `N*`. */
export const failpointCountMax = 1_000_000_000;
/** Longest `sleep(MS)`: ten minutes, longer than any request deadline. */
export const failpointSleepMsMax = 600_000;
/** Longest spec accepted (env, flag or RPC). */
export const failpointSpecBytesMax = 8192;

/** What an armed failpoint does when it fires. */
export type FailpointAction =
  | { readonly kind: 'crash' }
  | { readonly kind: 'sleep'; readonly durationMs: number }
  | { readonly kind: 'error'; readonly code: QuireErrorCode }
  | { readonly kind: 'on' };

/** One parsed `name=term`; `action` undefined means `off` (disarm). */
export interface FailpointSetting {
  readonly name: FailpointName;
  readonly term: string;
  /** Percent chance of firing per hit (100 when no `P%`). */
  readonly probabilityPercent: number;
  /** Most firings (undefined when no `N*`). */
  readonly countMax: number | undefined;
  readonly action: FailpointAction | undefined;
}

/** An armed failpoint and its counters, as list() reports it. */
export interface ArmedFailpoint {
  readonly name: FailpointName;
  /** The term it was armed with, e.g. `25%3*error(OVERLOADED)`. */
  readonly term: string;
  /** Times the code reached it while armed. */
  readonly hits: number;
  /** Times its action ran. */
  readonly fired: number;
}

/** The grammar, quoted in every parse error. */
export const failpointGrammar =
  'name=[P%][N*]action, terms separated by ";"; action is off | crash | sleep(MS) | error(CODE) | yield | true; P is a percentage 0..100, N a count ≥ 1';

const termPattern = /^(?:(\d+(?:\.\d+)?)%)?(?:(\d+)\*)?([a-z]+)(?:\(([^()]*)\))?$/;

const actionsBySite: Readonly<Record<FailpointSite, readonly FailpointAction['kind'][]>> = {
  sync: ['crash', 'error'],
  async: ['crash', 'error', 'sleep'],
  switch: ['on'],
};

/** Failpoints `component` may arm, by name. */
function knownNames(registry: readonly FailpointDefinition[], component: FailpointComponent): string[] {
  return registry.filter((d) => d.component === component).map((d) => d.name);
}

function article(site: FailpointSite): string {
  return site === 'async' ? 'an' : 'a';
}

function specError(message: string): InvalidArgumentError {
  return new InvalidArgumentError(`${message}; the grammar is ${failpointGrammar}`, { field: 'failpoints' });
}

function parseAction(name: string, term: string, word: string, argument: string | undefined): FailpointAction | undefined {
  const noArgument = (): void => {
    if (argument !== undefined) throw specError(`Failpoint ${name}: "${word}" takes no argument in "${term}"`);
  };
  switch (word) {
    case 'off':
      noArgument();
      return undefined;
    case 'crash':
      noArgument();
      return { kind: 'crash' };
    case 'yield':
    case 'true':
      noArgument();
      return { kind: 'on' };
    case 'sleep': {
      if (argument === undefined || !/^\d+$/.test(argument)) throw specError(`Failpoint ${name}: sleep needs a duration in milliseconds, e.g. sleep(100), in "${term}"`);
      const durationMs = Number(argument);
      if (durationMs > failpointSleepMsMax) throw specError(`Failpoint ${name}: sleep(${argument}) exceeds ${failpointSleepMsMax} ms`);
      return { kind: 'sleep', durationMs };
    }
    case 'error': {
      if (argument === undefined || !isQuireErrorCode(argument)) {
        throw specError(`Failpoint ${name}: error needs a Quire error code, one of ${Object.keys(errorClasses).join(', ')}, in "${term}"`);
      }
      return { kind: 'error', code: argument };
    }
    default:
      throw specError(`Failpoint ${name}: unknown action "${word}" in "${term}"`);
  }
}

/**
 * Parses a spec for `component` against `registry`; throws InvalidArgumentError (field
 * `failpoints`) naming the failpoint and quoting the grammar. An empty spec is no setting.
 */
export function parseFailpointSpec(
  spec: string,
  component: FailpointComponent,
  registry: readonly FailpointDefinition[] = failpointRegistry,
): FailpointSetting[] {
  if (spec.length > failpointSpecBytesMax) throw specError(`The failpoint spec is ${spec.length} characters, more than ${failpointSpecBytesMax}`);
  const settings: FailpointSetting[] = [];
  for (const raw of spec.split(';')) {
    const piece = raw.trim();
    if (piece === '') continue;
    const eq = piece.indexOf('=');
    if (eq <= 0) throw specError(`"${piece}" is not name=term`);
    const name = piece.slice(0, eq).trim();
    const term = piece.slice(eq + 1).trim();
    const definition = registry.find((d) => d.name === name && d.component === component);
    if (definition === undefined) {
      const elsewhere = registry.find((d) => d.name === name);
      throw specError(
        elsewhere === undefined
          ? `Unknown failpoint "${name}"; the ${component} knows ${knownNames(registry, component).join(', ')}`
          : `Failpoint ${name} belongs to the ${elsewhere.component}, not the ${component} (which knows ${knownNames(registry, component).join(', ')})`,
      );
    }
    if (settings.some((s) => s.name === name)) throw specError(`Failpoint ${name} appears twice`);
    const m = termPattern.exec(term);
    if (m === null) throw specError(`Failpoint ${name}: "${term}" is not a term`);
    const [, percentText, countText, word = '', argument] = m;
    const action = parseAction(name, term, word, argument);
    const probabilityPercent = percentText === undefined ? failpointProbabilityPercentMax : Number(percentText);
    if (probabilityPercent > failpointProbabilityPercentMax) throw specError(`Failpoint ${name}: probability ${percentText}% exceeds 100%`);
    const countMax = countText === undefined ? undefined : Number(countText);
    if (countMax !== undefined && (countMax < 1 || countMax > failpointCountMax)) {
      throw specError(`Failpoint ${name}: count ${countText}* is outside 1..${failpointCountMax}`);
    }
    if (action === undefined && (percentText !== undefined || countText !== undefined)) {
      throw specError(`Failpoint ${name}: off takes no probability or count`);
    }
    if (action !== undefined && !actionsBySite[definition.site].includes(action.kind)) {
      const allowed: Record<FailpointSite, string> = {
        sync: 'crash or error(CODE) (a synchronous site cannot sleep)',
        async: 'crash, error(CODE) or sleep(MS)',
        switch: 'yield or true (it is a behaviour switch)',
      };
      throw specError(`Failpoint ${name} is ${article(definition.site)} ${definition.site} site: arm it with ${allowed[definition.site]} or off, not "${word}"`);
    }
    settings.push({ name: name as FailpointName, term, probabilityPercent, countMax, action });
  }
  return settings;
}

/** What a Failpoints instance needs from its process. */
export interface FailpointsDeps {
  /** The process whose failpoints these are; names of other components cannot be armed. */
  readonly component: FailpointComponent;
  /** Probability rolls. */
  readonly rng: Rng;
  /** Timers for sleep(MS). */
  readonly clock: Clock;
  /** Ends the process at once, like kill -9 (main.ts: process.kill(process.pid, 'SIGKILL')). */
  readonly crash: () => void;
  readonly log: Logger;
  /** The declared failpoints; tests may pass their own. Defaults to failpointRegistry. */
  readonly registry?: readonly FailpointDefinition[];
}

interface Armed {
  readonly setting: FailpointSetting;
  readonly site: FailpointSite;
  hits: number;
  fired: number;
}

/** Options of set(). */
export interface FailpointSetOptions {
  /** Disarm every failpoint first, so only the spec's remain armed. */
  readonly replace?: boolean;
}

/** A process's failpoints: armed from config or the Debug service, hit by the code. */
export class Failpoints {
  private readonly armed = new Map<FailpointName, Armed>();
  private readonly registry: readonly FailpointDefinition[];
  private frozen = false;

  constructor(private readonly deps: FailpointsDeps) {
    this.registry = deps.registry ?? failpointRegistry;
  }

  /** Returns failpoints that can never be armed (tests and wiring that has none). */
  static disabled(): Failpoints {
    const refuse = (): never => {
      throw new Error('Failpoints.disabled() can never fire');
    };
    const fp = new Failpoints({
      component: 'datanode',
      rng: { next: refuse, below: refuse, id: refuse },
      clock: { nowMs: refuse, monotonicMs: refuse, after: refuse, every: refuse },
      crash: refuse,
      log: { debug: refuse, info: refuse, warn: refuse, error: refuse, child: refuse, mark: refuse },
      registry: [],
    });
    fp.frozen = true;
    return fp;
  }

  /**
   * Arms (or, with `off`, disarms) the failpoints of `spec` and returns every armed one. The
   * whole spec is checked first: an invalid one throws InvalidArgumentError and changes nothing.
   */
  set(spec: string, options: FailpointSetOptions = {}): ArmedFailpoint[] {
    if (this.frozen) throw new InvalidArgumentError('Failpoints are disabled in this process', { field: 'failpoints' });
    const settings = parseFailpointSpec(spec, this.deps.component, this.registry);
    if (options.replace === true) this.armed.clear();
    for (const setting of settings) {
      if (setting.action === undefined) {
        this.armed.delete(setting.name);
        continue;
      }
      const definition = this.registry.find((d) => d.name === setting.name);
      assert(definition !== undefined, `Failpoint ${setting.name} passed parsing but is not declared`);
      this.armed.set(setting.name, { setting, site: definition.site, hits: 0, fired: 0 });
    }
    const list = this.list();
    if (list.length > 0) {
      // Once per arming, never per hit: a process with failpoints armed is not production.
      this.deps.log.warn('Failpoints armed', { names: list.map((f) => f.name), spec: list.map((f) => `${f.name}=${f.term}`).join(';') });
    } else if (settings.length > 0 || options.replace === true) {
      this.deps.log.info('Failpoints disarmed', { names: 'all' });
    }
    return list;
  }

  /** Disarms `name`, or every failpoint. */
  clear(name?: FailpointName): void {
    if (this.armed.size === 0) return;
    if (name === undefined) this.armed.clear();
    else this.armed.delete(name);
    this.deps.log.info('Failpoints disarmed', { names: name === undefined ? 'all' : [name] });
  }

  /** Returns the armed failpoints with their counters, by name. */
  list(): ArmedFailpoint[] {
    return [...this.armed.values()]
      .map((a) => ({ name: a.setting.name, term: a.setting.term, hits: a.hits, fired: a.fired }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** Returns whether `name` is armed (its action may still lose the roll or be used up). */
  isArmed(name: FailpointName): boolean {
    return this.armed.size !== 0 && this.armed.has(name);
  }

  /**
   * A synchronous site: crashes or throws the armed error when the failpoint fires, and
   * returns otherwise (also when the injected crash callback returns, as in tests).
   */
  hit(name: FailpointName): void {
    if (this.armed.size === 0) return;
    const action = this.fire(name, 'sync');
    if (action !== undefined) this.perform(name, action);
  }

  /** An asynchronous site: like hit(), and sleep(MS) resolves after MS on the injected clock. */
  async hitAsync(name: FailpointName): Promise<void> {
    if (this.armed.size === 0) return;
    const action = this.fire(name, 'async');
    if (action === undefined) return;
    if (action.kind === 'sleep') {
      this.deps.log.debug('Failpoint fired', { failpoint: name, action: 'sleep', durationMs: action.durationMs });
      await new Promise<void>((resolve) => this.deps.clock.after(action.durationMs, resolve));
      return;
    }
    this.perform(name, action);
  }

  /** A behaviour switch: returns true when the failpoint is armed with yield/true and fires. */
  isOn(name: FailpointName): boolean {
    if (this.armed.size === 0) return false;
    return this.fire(name, 'switch') !== undefined;
  }

  /** Counts the hit and returns the action when it fires this time. */
  private fire(name: FailpointName, site: FailpointSite): FailpointAction | undefined {
    const armed = this.armed.get(name);
    if (armed === undefined) return undefined;
    // Only a code site calling the wrong method gets here: parsing checked the action.
    assert(armed.site === site, `Failpoint ${name} is declared as ${article(armed.site)} ${armed.site} site but the code evaluates it as ${site}`);
    armed.hits++;
    const { countMax, probabilityPercent, action } = armed.setting;
    if (countMax !== undefined && armed.fired >= countMax) return undefined;
    if (probabilityPercent < failpointProbabilityPercentMax && this.deps.rng.next() * 100 >= probabilityPercent) return undefined;
    armed.fired++;
    return action;
  }

  private perform(name: FailpointName, action: FailpointAction): void {
    switch (action.kind) {
      case 'crash':
        this.deps.log.warn('Failpoint fired: crashing the process', { failpoint: name });
        this.deps.crash();
        return;
      case 'error': {
        this.deps.log.debug('Failpoint fired', { failpoint: name, action: 'error', code: action.code });
        const ErrorClass = errorClasses[action.code];
        throw new ErrorClass(`Failpoint ${name} injected ${action.code}`);
      }
      case 'sleep':
      case 'on':
        // Parsing admits these only at async and switch sites, which handle them themselves.
        assert(false, `Failpoint ${name}: action ${action.kind} reached a site that cannot perform it`);
        return;
      default:
        unreachable(action);
    }
  }
}
