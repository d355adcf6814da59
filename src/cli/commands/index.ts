// Every CLI subcommand, in the order `peft-lab --help` lists them. Add new ones here.
import type { CliCommand } from '../command';
import { command as demo } from './demo';
import { command as evaluate } from './eval';
import { command as inspect } from './inspect';
import { command as lab } from './lab';
import { command as logits } from './logits';
import { command as run } from './run';

export const commands: readonly CliCommand[] = [run, demo, evaluate, inspect, logits, lab];
