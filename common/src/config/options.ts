/**
 * Declarative command-line and environment options. Each component's config.ts declares its
 * options once (flag, QUIRE_* variable, description, default, bounds); parseOptions reads
 * flags first, then the environment, then defaults, and fails with a ConfigError that names
 * the flag, the variable and the accepted range. formatOptionsHelp renders the same table
 * for --help, so documentation and parsing cannot drift apart.
 */

/** An invalid or missing configuration value. Exits the process with a usage error. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

interface OptionBase {
  /** Long flag without dashes, e.g. "data-dir". */
  readonly flag: string;
  /** Environment variable, e.g. "QUIRE_DATA_DIR". */
  readonly env: string;
  readonly description: string;
}

/** A string option. */
export interface StringOption extends OptionBase {
  readonly kind: 'string';
  readonly default?: string;
  readonly choices?: readonly string[];
}

/** An integer option with inclusive bounds. */
export interface IntegerOption extends OptionBase {
  readonly kind: 'integer';
  readonly default?: number;
  readonly min: number;
  readonly max: number;
}

/** A boolean option: `--flag`, `--flag=false`, or env "true"/"false"/"1"/"0". */
export interface BooleanOption extends OptionBase {
  readonly kind: 'boolean';
  readonly default: boolean;
}

/** A comma-separated list option. */
export interface ListOption extends OptionBase {
  readonly kind: 'list';
  readonly default?: readonly string[];
}

/** Any option. */
export type OptionDef = StringOption | IntegerOption | BooleanOption | ListOption;

/** A set of named options. */
export type OptionsSpec = Readonly<Record<string, OptionDef>>;

type ValueOf<D extends OptionDef> = D extends StringOption
  ? string
  : D extends IntegerOption
    ? number
    : D extends BooleanOption
      ? boolean
      : readonly string[];

/** The parsed values: options with a default (or booleans) are always present. */
export type OptionValues<S extends OptionsSpec> = {
  readonly [K in keyof S as S[K] extends { default: unknown } ? K : never]: ValueOf<S[K]>;
} & {
  readonly [K in keyof S as S[K] extends { default: unknown } ? never : K]?: ValueOf<S[K]>;
};

/** The environment as a plain record (process.env in main.ts, a literal in tests). */
export type Env = Readonly<Record<string, string | undefined>>;

/** Splits argv into `--flag value` / `--flag=value` pairs; rejects unknown flags and positionals. */
function readFlags(spec: OptionsSpec, argv: readonly string[]): Map<string, string> {
  const byFlag = new Map<string, OptionDef>();
  for (const def of Object.values(spec)) byFlag.set(def.flag, def);
  const out = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (!arg.startsWith('--')) throw new ConfigError(`Unexpected argument "${arg}"; options are --flag value`);
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    const def = byFlag.get(name);
    if (def === undefined) {
      throw new ConfigError(`Unknown option --${name}; known options: ${[...byFlag.keys()].map((f) => `--${f}`).join(', ')}`);
    }
    if (eq !== -1) {
      out.set(name, arg.slice(eq + 1));
    } else if (def.kind === 'boolean') {
      out.set(name, 'true');
    } else {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('--')) throw new ConfigError(`Option --${name} needs a value`);
      out.set(name, next);
      i++;
    }
  }
  return out;
}

function parseValue(def: OptionDef, raw: string, source: string): string | number | boolean | readonly string[] {
  switch (def.kind) {
    case 'string':
      if (raw === '') throw new ConfigError(`${source} must not be empty`);
      if (def.choices !== undefined && !def.choices.includes(raw)) {
        throw new ConfigError(`${source} is "${raw}"; expected one of ${def.choices.join(', ')}`);
      }
      return raw;
    case 'integer': {
      if (!/^-?\d+$/.test(raw.trim())) throw new ConfigError(`${source} is "${raw}"; expected an integer in ${def.min}..${def.max}`);
      const n = Number(raw);
      if (!Number.isSafeInteger(n) || n < def.min || n > def.max) {
        throw new ConfigError(`${source} is ${raw}; expected an integer in ${def.min}..${def.max}`);
      }
      return n;
    }
    case 'boolean':
      if (['true', '1', 'yes'].includes(raw)) return true;
      if (['false', '0', 'no'].includes(raw)) return false;
      throw new ConfigError(`${source} is "${raw}"; expected true or false`);
    case 'list':
      return raw
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '');
  }
}

/** Parses argv and env against `spec`: flags win over environment, environment over defaults. */
export function parseOptions<S extends OptionsSpec>(spec: S, argv: readonly string[], env: Env): OptionValues<S> {
  const flags = readFlags(spec, argv);
  const values: Record<string, unknown> = {};
  for (const [key, def] of Object.entries(spec)) {
    const fromFlag = flags.get(def.flag);
    const fromEnv = env[def.env];
    if (fromFlag !== undefined) {
      values[key] = parseValue(def, fromFlag, `--${def.flag}`);
    } else if (fromEnv !== undefined && fromEnv !== '') {
      values[key] = parseValue(def, fromEnv, `$${def.env}`);
    } else if (def.default !== undefined) {
      values[key] = def.default;
    }
  }
  return values as OptionValues<S>;
}

/** Throws ConfigError naming the option when a required value is missing. */
export function required<T>(value: T | undefined, def: OptionDef): T {
  if (value === undefined) throw new ConfigError(`--${def.flag} (or $${def.env}) is required: ${def.description}`);
  return value;
}

/** Renders the option table for --help. */
export function formatOptionsHelp(spec: OptionsSpec): string {
  const rows = Object.values(spec).map((def) => {
    const placeholder = def.kind === 'boolean' ? '' : def.kind === 'integer' ? ' N' : def.kind === 'list' ? ' A,B' : ' VALUE';
    const left = `  --${def.flag}${placeholder}`;
    let right = def.description;
    if (def.kind === 'integer') right += ` (${def.min}..${def.max})`;
    if (def.kind === 'string' && def.choices !== undefined) right += ` (${def.choices.join('|')})`;
    if (def.default !== undefined) {
      const shown = Array.isArray(def.default) ? def.default.join(',') : String(def.default);
      if (shown !== '') right += ` [default: ${shown}]`;
    }
    right += ` [env: ${def.env}]`;
    return { left, right };
  });
  const width = Math.max(...rows.map((r) => r.left.length)) + 2;
  return rows.map((r) => `${r.left.padEnd(width)}${r.right}`).join('\n');
}
