import { defineConfig } from '@playwright/test';

// Debian's Chromium, never a downloaded browser. The flags keep it from
// reaching for the network, which this machine does not have.
const launchOptions = {
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--disable-quic',
    '--no-first-run',
  ],
};

// Each project gets its own server (and so its own fresh data directory):
// first-run setup can happen only once per installation.
const SSR_PORT = 3101;
const HYDRATED_PORT = 3102;
const EXECUTIONS_PORT = 3103;
const WORKFLOWS_PORT = 3104;
const WORKFLOWS_SSR_PORT = 3105;
const RUNNERS_PORT = 3106;
const GITHUB_PORT = 3107;
const DIALECTS_PORT = 3108;
const WALKTHROUGH_PORT = 3109;
const TEAM_PORT = 3110;

export default defineConfig({
  testDir: './tests',
  timeout: 30_000,
  expect: { timeout: 10_000 },
  retries: 0,
  workers: 2,
  reporter: [['list']],
  outputDir: 'test-results',
  use: { launchOptions, trace: 'retain-on-failure' },
  projects: [
    // JavaScript off: what the server renders must work on its own.
    {
      name: 'ssr',
      testMatch: 'shell.spec.ts',
      use: { baseURL: `http://127.0.0.1:${SSR_PORT}`, javaScriptEnabled: false },
    },
    // JavaScript on: the wasm bundle hydrates the page and opens the WebSocket.
    { name: 'hydrated', testMatch: 'shell.spec.ts', use: { baseURL: `http://127.0.0.1:${HYDRATED_PORT}` } },
    // Agents and live executions (hydrated), on an installation of their own.
    { name: 'executions', testMatch: 'executions.spec.ts', use: { baseURL: `http://127.0.0.1:${EXECUTIONS_PORT}` } },
    // Issues, workflows, approvals, notifications: hydrated, and without JavaScript.
    { name: 'workflows', testMatch: 'workflows.spec.ts', use: { baseURL: `http://127.0.0.1:${WORKFLOWS_PORT}` } },
    {
      name: 'workflows-ssr',
      testMatch: 'workflows.spec.ts',
      use: { baseURL: `http://127.0.0.1:${WORKFLOWS_SSR_PORT}`, javaScriptEnabled: false },
    },
    // A real `yagura runner` process dialling in, as the Runners page shows it.
    { name: 'runners', testMatch: 'runners.spec.ts', use: { baseURL: `http://127.0.0.1:${RUNNERS_PORT}` } },
    // GitHub: a signed webhook shows up live and starts a workflow; every
    // page hydrates without a console error.
    { name: 'github', testMatch: 'github.spec.ts', use: { baseURL: `http://127.0.0.1:${GITHUB_PORT}` } },
    // API keys, and a seed client (CC-Anywhere over Node's `ws`) using one.
    { name: 'dialects', testMatch: 'dialects.spec.ts', use: { baseURL: `http://127.0.0.1:${DIALECTS_PORT}` } },
    // A first-time user's walk through agents, workflows, notifications,
    // runners, the log and phones (hydrated, and a part without JavaScript).
    { name: 'walkthrough', testMatch: 'walkthrough.spec.ts', use: { baseURL: `http://127.0.0.1:${WALKTHROUGH_PORT}` } },
    // A team: an admin invites a member, who joins in another browser and
    // runs an agent; the audit log shows both; your own password.
    { name: 'team', testMatch: 'team.spec.ts', use: { baseURL: `http://127.0.0.1:${TEAM_PORT}` } },
  ],
  webServer: [SSR_PORT, HYDRATED_PORT, EXECUTIONS_PORT, WORKFLOWS_PORT, WORKFLOWS_SSR_PORT, RUNNERS_PORT, GITHUB_PORT, DIALECTS_PORT, WALKTHROUGH_PORT, TEAM_PORT].map((port) => ({
    command: `sh scripts/serve-copy.sh ${port}`,
    url: `http://127.0.0.1:${port}/healthz`,
    reuseExistingServer: false,
    timeout: 60_000,
    stdout: 'ignore',
    stderr: 'pipe',
  })),
});
