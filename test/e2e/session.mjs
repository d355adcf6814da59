// The running code-server + browser page that scripts/test-e2e.mjs sets up before mocha loads the UI tests
// (one session for the whole run: starting VS Code is the slow part). Plain JS: playwright-core lives in the
// tools cache, outside the project's dependencies, so its types are not available to tsc here.
export const session = {
  /** @type {any} playwright Page */ page: undefined,
  /** Absolute path of the temporary copy of test/fixtures/workspace. */ workspace: '',
  /** code-server's --user-data-dir (logs/ holds the extension host and output channel logs). */ userData: '',
  /** What test/e2e/workspace.mjs prepared: { istConfig, offsiteConfig, offsiteRunDir }. */ prepared: undefined,
  /** Where screenshots go (printed by the harness). */ screenshots: '',
  /** Milliseconds to allow for slow UI steps on a loaded 2-core machine. */ timeout: 120_000,
};

let shotIndex = 0;

/** Saves a numbered screenshot and returns its path. */
export async function screenshot(name) {
  shotIndex += 1;
  const file = `${session.screenshots}/${String(shotIndex).padStart(2, '0')}-${name}.png`;
  await session.page.screenshot({ path: file });
  return file;
}
