import { strict as assert } from 'node:assert';
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError, type CliCommand } from '../../../src/cli/command';
import { commands } from '../../../src/cli/commands';
import { main } from '../../../src/cli/main';
import { readSummary } from '../../../src/engine/runs';
import { parseJobEvent } from '../../../src/protocol/worker';
import { FIXTURES } from '../models/fixturePaths';
import { deviceCheckConfigText, repoRoot, tempDir, testBundles, writeConfig, type TestBundles } from '../jobs/testBundles';

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function lines(text: string): string[] {
  return text.split('\n').filter((l) => l !== '');
}

/** Runs the freshly bundled CLI (node <bundle>/cli.js ...) in `cwd`. */
function runCli(bundles: TestBundles, args: string[], cwd: string): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bundles.cliPath, ...args], { cwd, env: { ...process.env, ORT_DISABLE_TELEMETRY: '1' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function memoryIO(): { io: { out(l: string): void; err(l: string): void }; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (l) => out.push(l), err: (l) => err.push(l) }, out, err };
}

describe('cli: dispatch', () => {
  const fake: CliCommand = {
    name: 'echo',
    summary: 'Echo the arguments',
    usage: 'Usage: peft-lab echo <words>',
    async run(args, io) {
      if (args.length === 0) throw new UsageError('nothing to echo');
      io.out(args.join(' '));
      return 0;
    },
  };

  it('--help lists the registered subcommands with their summaries', async () => {
    const { io, out } = memoryIO();
    assert.equal(await main(['--help'], io), 0);
    const helpLines = out.join('\n').split('\n');
    for (const c of commands) {
      assert.ok(helpLines.some((l) => l.trimStart().startsWith(`${c.name} `) && l.endsWith(` ${c.summary}`)), `${c.name} missing from --help`);
    }
    assert.deepEqual(commands.map((c) => c.name).slice(0, 2), ['run', 'demo']);
    const custom = memoryIO();
    assert.equal(await main(['--help'], custom.io, [fake]), 0);
    assert.match(custom.out.join('\n'), /echo {2}Echo the arguments/);
  });

  it('runs a command, prints its usage for --help, and exits 2 on usage errors and unknown commands', async () => {
    const ok = memoryIO();
    assert.equal(await main(['echo', 'a', 'b'], ok.io, [fake]), 0);
    assert.deepEqual(ok.out, ['a b']);
    const help = memoryIO();
    assert.equal(await main(['echo', '--help'], help.io, [fake]), 0);
    assert.deepEqual(help.out, [fake.usage]);
    const usage = memoryIO();
    assert.equal(await main(['echo'], usage.io, [fake]), 2);
    assert.match(usage.err.join('\n'), /peft-lab echo: nothing to echo[\s\S]*Usage: peft-lab echo/);
    const unknown = memoryIO();
    assert.equal(await main(['nope'], unknown.io, [fake]), 2);
    assert.match(unknown.err.join('\n'), /unknown command 'nope'/);
    assert.equal(await main([], memoryIO().io, [fake]), 2);
  });

  it('run rejects bad options with exit 2', async () => {
    for (const args of [['run'], ['run', 'a.peft.json', '--bogus'], ['run', 'a.peft.json', '--device', 'tpu'], ['run', 'a.peft.json', '--threads', '-1']]) {
      const { io, err } = memoryIO();
      assert.equal(await main(args, io), 2, args.join(' '));
      assert.match(err.join('\n'), /Usage: peft-lab run/);
    }
  });
});

describe('cli: peft-lab as a process', function () {
  let bundles: TestBundles;
  before(async function () {
    this.timeout(60_000);
    bundles = await testBundles();
  });

  it('bin/peft-lab.js --help works through dist/cli.js', function () {
    this.timeout(60_000);
    // bin/ loads ../dist/cli.js: build it when this test runs without `npm test` having built first.
    if (!fs.existsSync(path.join(repoRoot, 'dist', 'cli.js'))) execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: repoRoot });
    const out = execFileSync(process.execPath, [path.join(repoRoot, 'bin', 'peft-lab.js'), '--help'], { encoding: 'utf8' });
    assert.match(out, /Usage: peft-lab <command>/);
    assert.match(out, /\brun\b.*\n.*\bdemo\b/);
  });

  it('run on a sample config prints progress on stderr, the run folder as the last stdout line, exit 0', async () => {
    const dir = tempDir('cli');
    writeConfig(dir, 'experiments/sample.peft.json', deviceCheckConfigText(32, 2, 'sample'));
    const result = await runCli(bundles, ['run', 'experiments/sample.peft.json'], dir);
    assert.equal(result.code, 0, result.stderr);
    const out = lines(result.stdout);
    const runDir = out[out.length - 1] ?? '';
    assert.equal(path.dirname(runDir), path.join(fs.realpathSync(dir), 'experiments', '.peft-lab', 'runs'));
    assert.equal(readSummary(runDir)?.status, 'completed');
    assert.match(result.stderr, /\[100%\] MatMul 2\/2 on cpu/);
    assert.match(result.stderr, /completed: .*gflops=/);
  });

  it('--out writes exactly that folder; --json prints one JSON event per line', async () => {
    const dir = tempDir('cli');
    const config = writeConfig(dir, 'a.peft.json', deviceCheckConfigText(16, 2, 'json'));
    const out = path.join(dir, 'my-run');
    const result = await runCli(bundles, ['run', config, '--out', out, '--json'], dir);
    assert.equal(result.code, 0, result.stderr);
    const jsonLines = lines(result.stdout).map((l): unknown => JSON.parse(l));
    const last = jsonLines.pop();
    assert.deepEqual(last, { type: 'exit', status: 'completed', exitCode: 0, runDir: out });
    const events = jsonLines.map((l) => parseJobEvent(l));
    assert.equal(events[0]?.type, 'started');
    assert.equal(events[events.length - 1]?.type, 'finished');
    assert.equal(readSummary(out)?.status, 'completed');
  });

  it('a malformed config exits 2 naming the file, line:col and JSON path', async () => {
    const dir = tempDir('cli');
    writeConfig(dir, 'experiments/a.peft.json', '{\n  "name": "bad",\n  "task": "device-check",\n  "runtime": {\n    "device": "gpu"\n  }\n}\n');
    const result = await runCli(bundles, ['run', 'experiments/a.peft.json'], dir);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /experiments\/a\.peft\.json:5:15: \$\.runtime\.device: must be one of auto, cpu, cuda, webgpu/);
    assert.equal(result.stdout, '');
    assert.equal(fs.existsSync(path.join(dir, 'experiments', '.peft-lab')), false);
  });

  it('a failed job exits 1 with the error, and still prints the run folder', async () => {
    const dir = tempDir('cli');
    // Files that exist (a missing one is a config error, exit 2) but a data file that is not JSON: the job fails.
    writeConfig(dir, 't.peft.json', JSON.stringify({ name: 't', task: 'tune', model: FIXTURES.gpt2, data: { train: 'd.json' } }));
    fs.writeFileSync(path.join(dir, 'd.json'), '{ not json');
    const result = await runCli(bundles, ['run', 't.peft.json'], dir);
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /error: .*d\.json: cannot read JSON/);
    assert.equal(readSummary(lines(result.stdout).pop() ?? '')?.status, 'failed');
  });

  it('Ctrl-C (SIGINT) cancels: exit 130 and the run records cancelled', async () => {
    const dir = tempDir('cli');
    writeConfig(dir, 'long.peft.json', deviceCheckConfigText(256, 100_000, 'long'));
    const child = spawn(process.execPath, [bundles.cliPath, 'run', 'long.peft.json'], { cwd: dir, env: { ...process.env, ORT_DISABLE_TELEMETRY: '1' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    let sent = false;
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (!sent && /MatMul 1\//.test(stderr)) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    const t0 = Date.now();
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    assert.ok(sent, stderr);
    assert.equal(code, 130, stderr);
    assert.ok(Date.now() - t0 < 10_000);
    const runDir = lines(stdout).pop() ?? '';
    assert.equal(readSummary(runDir)?.status, 'cancelled');
  });

  it('demo runs the four lab experiments on builtin:demo into a workspace and prints one table, without downloads', async function () {
    this.timeout(300_000);
    const dir = tempDir('cli');
    const out = path.join(dir, 'demo');
    // A short run of the real demo path: same configs, same jobs, 2 steps and 8 test items each.
    const result = await runCli(bundles, ['demo', '--out', out, '--steps', '2', '--eval-limit', '8', '--threads', '1'], dir);
    assert.equal(result.code, 0, result.stderr);
    const names = ['lora-uniform', 'lora-ist', 'offsite-gradot', 'offsite-uniform-drop'];
    for (const name of names) {
      assert.ok(fs.existsSync(path.join(out, `${name}.peft.json`)), `${name}.peft.json`);
      assert.match(result.stdout, new RegExp(`\\| ${name} \\|`));
    }
    assert.ok(fs.existsSync(path.join(out, 'data', 'city-choice', 'train.json')));
    const runs = fs.readdirSync(path.join(out, '.peft-lab', 'runs'));
    assert.equal(runs.length, 4, runs.join(', '));
    for (const run of runs) assert.equal(readSummary(path.join(out, '.peft-lab', 'runs', run))?.status, 'completed', run);
    const table = fs.readFileSync(path.join(out, 'results.md'), 'utf8');
    assert.match(table, /zero-shot acc \| tuned acc/);
    assert.match(table, /emulator ZS \| emulator FT \| plug-in/);
    // Every accuracy cell is a number (n/a would mean a metric went missing).
    assert.ok(!/n\/a/.test(table), table);
  });
});
