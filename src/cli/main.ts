// Dispatches `peft-lab <command> ...` to the registered subcommands.
import { ConfigError } from '../engine/config';
import { EXIT, UsageError, type CliCommand, type CliIO } from './command';
import { commands as registered } from './commands';

export function helpText(commands: readonly CliCommand[]): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'PEFT Lab: parameter-efficient fine-tuning experiments on ONNX Runtime.',
    '',
    'Usage: peft-lab <command> [options]',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    "Run 'peft-lab <command> --help' for a command's options.",
  ].join('\n');
}

/** Runs the CLI with `argv` (without node and the script); returns the exit code. */
export async function main(argv: readonly string[], io: CliIO, commands: readonly CliCommand[] = registered): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    io.err(helpText(commands));
    return EXIT.usage;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    io.out(helpText(commands));
    return EXIT.ok;
  }
  const command = commands.find((c) => c.name === name);
  if (!command) {
    io.err(`peft-lab: unknown command '${name}'\n\n${helpText(commands)}`);
    return EXIT.usage;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    io.out(command.usage);
    return EXIT.ok;
  }
  try {
    return await command.run(rest, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`peft-lab ${command.name}: ${err.message}\n\n${command.usage}`);
      return EXIT.usage;
    }
    if (err instanceof ConfigError) {
      io.err(`peft-lab ${command.name}: invalid config:\n${err.message}`);
      return EXIT.usage;
    }
    io.err(`peft-lab ${command.name}: ${err instanceof Error ? err.message : String(err)}`);
    return EXIT.failed;
  }
}
