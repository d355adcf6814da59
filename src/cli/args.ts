// A small argv parser: positionals plus --flag / --flag value / --flag=value options declared per command.
import { UsageError } from './command';

export interface OptionSpec {
  /** true: takes a value (`--out DIR` or `--out=DIR`); false: a boolean switch. */
  value: boolean;
}

export interface ParsedArgs {
  positionals: string[];
  values: Map<string, string>;
  flags: Set<string>;
}

export function parseArgs(args: readonly string[], spec: Readonly<Record<string, OptionSpec>>): ParsedArgs {
  const parsed: ParsedArgs = { positionals: [], values: new Map(), flags: new Set() };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    if (arg === '--') {
      parsed.positionals.push(...args.slice(i + 1));
      break;
    }
    if (!arg.startsWith('--') || arg === '--') {
      if (arg.startsWith('-') && arg !== '-') throw new UsageError(`unknown option '${arg}'`);
      parsed.positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
    const option = spec[name];
    if (!option) throw new UsageError(`unknown option '--${name}'`);
    if (option.value) {
      const value = eq >= 0 ? arg.slice(eq + 1) : args[++i];
      if (value === undefined || value === '') throw new UsageError(`option '--${name}' needs a value`);
      parsed.values.set(name, value);
    } else {
      if (eq >= 0) throw new UsageError(`option '--${name}' takes no value`);
      parsed.flags.add(name);
    }
  }
  return parsed;
}
