// Runs the in-host integration suite with mocha inside the extension host. `@vscode/test-electron` and the
// code-server harness both load the bundled suite as `extensionTestsPath` and call its exported `run()`; a
// rejected promise makes the host exit with code 1, which the harness turns into a failing test command.
import Mocha from 'mocha';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

interface FailureRecord {
  title: string;
  message: string;
}

interface TestRecord {
  title: string;
  state: 'passed' | 'failed';
  durationMs: number;
}

/** `registerSuites` requires the test modules after mocha has installed describe/it as globals. */
export function runMocha(registerSuites: () => void): Promise<void> {
  const mocha = new Mocha({ ui: 'bdd', color: false, timeout: 120_000, reporter: 'spec' });
  mocha.suite.emit('pre-require', globalThis, 'peft-lab-integration', mocha);
  registerSuites();
  return new Promise((resolve, reject) => {
    const failures: FailureRecord[] = [];
    const tests: TestRecord[] = [];
    let passes = 0;
    const runner = mocha.run((failureCount) => {
      // The harness reads this file: the extension host's stdout is not always visible (code-server).
      const resultsDir = process.env.PEFT_LAB_TEST_RESULTS_DIR;
      if (resultsDir) {
        writeFileSync(join(resultsDir, 'integration-results.json'), JSON.stringify({ passes, failures, tests }, null, 2));
      }
      if (failureCount > 0) reject(new Error(`${failureCount} integration test(s) failed`));
      else resolve();
    });
    runner.on('pass', (test) => {
      passes += 1;
      tests.push({ title: test.fullTitle(), state: 'passed', durationMs: test.duration ?? 0 });
    });
    runner.on('fail', (test, error: unknown) => {
      tests.push({ title: test.fullTitle(), state: 'failed', durationMs: test.duration ?? 0 });
      failures.push({ title: test.fullTitle(), message: error instanceof Error ? (error.stack ?? error.message) : String(error) });
    });
  });
}
